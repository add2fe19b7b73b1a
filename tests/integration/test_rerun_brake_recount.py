"""Found by review: the brake counted a failure again in every window its work came back in.

What the user saw: a failure whose re-run waited (INSTANCE_RESERVATION_FAILED) was counted once when its event was
handled and again when its delayed work woke up in the next window, so the only new failure of that window was
BRAKED (automatic re-runs of the workflow paused, alarmed) though no window had more failures than allowed. It rests
on docs/RERUN_POLICY.md, 'The brake': every failure handled is counted once (idempotent per run / per batch), in
the window it was first handled in; a delayed re-run waking up, work released from the brake, a duplicate event
or an SQS retry in a later window count nothing more (events are duplicated and redelivered, HEALTHOMICS.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rerunner.brake import brake_pk
from rerunner.logic import Decided
from sandbox.omics import FaultPlan, RunFault
from tests.integration.rerun_harness import ONE_TASK

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture

ONE_FAILURE_AN_HOUR = {"maxFailures": 1, "windowMinutes": 60, "coolDownMinutes": 60}


def test_a_delayed_failure_is_not_counted_again_in_the_window_it_wakes_in(make: Callable[..., Any]) -> None:
    """Brake: more than 1 failure of the workflow within one 60-minute window pauses its re-runs.
    s1 fails (INSTANCE_RESERVATION_FAILED, re-run after 60 min) in window W; its wake-up lands in W+1
    and the re-run completes. s2 then fails (SERVICE_ERROR) in W+1: the only failure of W+1. The user saw
    s2 BRAKED (not re-run, automatic re-runs of the workflow paused and alarmed) although no window had
    more than one failure: s1's failure was counted a second time in W+1 when its delayed work woke up."""
    policy = {
        "rules": {"INSTANCE_RESERVATION_FAILED": {"action": "RERUN", "maxAttempts": 2, "delaySeconds": 3600}},
        "brake": ONE_FAILURE_AN_HOUR,
    }
    h = make(tasks=ONE_TASK, policy=policy, faults=FaultPlan(runs=[
        RunFault(reason="INSTANCE_RESERVATION_FAILED", at_task="call", run_name="s1"),
        RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s2"),
    ]))
    s1 = h.start_run("s1")
    h.run()  # s1 fails, waits 60 minutes (next window), is re-run, the re-run completes
    assert [r.status for r in h.reruns_of(s1)] == ["COMPLETED"]
    s2 = h.start_run("s2")
    h.run()
    failed_at = {run_id: h.runs()[run_id].stop_time for run_id in (s1, s2)}
    windows = {run_id: at.replace(minute=0, second=0, microsecond=0) for run_id, at in failed_at.items()}
    assert windows[s1] != windows[s2], f"both failures in one window: {failed_at}"  # one failure per window
    decisions = [d["decision"] for d in h.decisions(s2)]
    state = h.repository.get_item(brake_pk(h.workflow_id), "STATE") or {}
    assert decisions == [Decided.STARTED], (
        f"s2 (the only failure of its window) was {decisions}; brake: {state.get('reason')}")


def test_a_duplicate_failure_event_in_a_later_window_is_not_counted_again(make: Callable[..., Any]) -> None:
    """s1 fails (SERVICE_ERROR) in W and is re-run; a duplicate of its FAILED event (or an SQS retry of it)
    comes an hour later, in W+1, then s2 fails in W+1: s2 is the only failure of W+1 and is re-run."""
    h = make(tasks=ONE_TASK, policy={"brake": ONE_FAILURE_AN_HOUR}, faults=FaultPlan(runs=[
        RunFault(reason="SERVICE_ERROR", at_task="call", run_name=name) for name in ("s1", "s2")]))
    s1 = h.start_run("s1")
    h.emulator.run_until_idle()
    s1_failed = [e for e in h.events if e["detail-type"] == "Run Status Change"
                 and e["detail"].get("status") == "FAILED" and e["detail"].get("runId") == s1]
    assert len(s1_failed) == 1
    h.run()
    assert len(h.reruns_of(s1)) == 1
    h.emulator.advance(3600)  # the next window
    h.deliver(s1_failed)  # the duplicate: nothing more to start, nothing more to count
    assert len(h.reruns_of(s1)) == 1
    s2 = h.start_run("s2")
    h.run()
    decisions = [d["decision"] for d in h.decisions(s2)]
    state = h.repository.get_item(brake_pk(h.workflow_id), "STATE") or {}
    assert decisions == [Decided.STARTED], (
        f"s2 (the only new failure of its window) was {decisions}; brake: {state.get('reason')}")
