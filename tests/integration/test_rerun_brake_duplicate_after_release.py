"""Found by review: a duplicate FAILED event paused the workflow again right after an operator released the brake.

What the user saw: the brake allowed 1 failure an hour (released by an operator, coolDownMinutes 0). s1 and s2
failed together: s1 was re-run, the brake paused the workflow (window W0) and held s2. An hour later (window W1),
still paused, s3 and s4 failed: counted in W1 (2 failures) and held, but no pause was recorded for W1 (the workflow
was already paused). The operator released the brake and s2, s3, s4 were re-run. Then EventBridge delivered s3's
FAILED event a second time (events are duplicated, HEALTHOMICS.md): it counted nothing, yet W1's total (2) was over
the limit and later than the last paused window (W0), so the duplicate paused the workflow again (alarm
RerunBrakeEngaged) and the next genuine failure, s5, was BRAKED and held instead of re-run. It rests on
docs/RERUN_POLICY.md, 'The brake': a duplicate counts nothing more, and at most one pause per window (W1's storm
was held by the pause that was on, which the operator released)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rerunner.brake import brake_pk
from rerunner.logic import Decided
from rerunner.work import Work
from sandbox.omics import FaultPlan, RunFault
from tests.integration.rerun_harness import ONE_TASK

pytest_plugins = ["tests.integration.rerun_harness"]


def test_a_duplicate_event_after_a_release_does_not_pause_the_workflow_again(make: Callable[..., Any]) -> None:
    policy = {"brake": {"maxFailures": 1, "windowMinutes": 60, "coolDownMinutes": 0}}
    h = make(tasks=ONE_TASK, policy=policy, faults=FaultPlan(runs=[
        RunFault(reason="SERVICE_ERROR", at_task="call", run_name=name) for name in ("s1", "s2", "s3", "s4", "s5")]))
    for name in ("s1", "s2"):
        h.start_run(name)
    h.run()
    assert h.rerunner.brake_status(h.workflow_id)["paused"]
    # an hour later (the next window), still paused: s3 and s4 fail and are held
    h.emulator.advance(3600)
    s3, _s4 = h.start_run("s3"), h.start_run("s4")
    h.run()
    status = h.rerunner.brake_status(h.workflow_id)
    assert status["paused"] and len(status["held"]) == 3
    # the operator releases the brake; the held work is re-run
    h.rerunner.release_brake(h.workflow_id, "alice")
    h.run()
    assert len(h.reruns_of(s3)) == 1
    # s3's FAILED event is delivered a second time
    duplicate = h.handle(Work(kind="run", id=s3, uuid=h.runs()[s3].uuid))
    # and then a new failure, s5
    s5 = h.start_run("s5")
    h.run()
    state = h.repository.get_item(brake_pk(h.workflow_id), "STATE") or {}
    decisions = [d["decision"] for d in h.decisions(s5)]
    assert (duplicate.brake_engaged, state.get("status"), decisions) == (False, "RELEASED", [Decided.STARTED]), (
        f"a duplicate of s3's FAILED event after the release: brake_engaged={duplicate.brake_engaged}, brake "
        f"{state.get('status')} ({state.get('reason')}); s5 (the next failure) {decisions}")
