"""Found by review: releasing the brake paused the workflow again with the very work it released.

What the user saw: s1, s2, s3 failed together (more than the one failure an hour allowed): s1 was re-run, the brake
engaged and held s2 and s3. An hour later an operator released the brake; each released item was counted as a new
failure of the new window, so the brake engaged again at once (alarm RerunBrakeEngaged) and s4, the first failure
after the release, was BRAKED instead of re-run. It rests on docs/RERUN_POLICY.md, 'The brake': a failure is counted
once, when first handled, and released work is 'handled normally ... except that the brake does not hold it
again'; nothing there says a release pauses the workflow again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rerunner.brake import brake_pk
from rerunner.logic import Decided
from sandbox.omics import FaultPlan, RunFault
from tests.integration.rerun_harness import ONE_TASK

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_releasing_the_brake_in_a_later_window_does_not_pause_the_workflow_again(make: Callable[..., Any]) -> None:
    """Brake: more than 1 failure of the workflow in a 60-minute window pauses re-runs until an operator
    releases them (coolDownMinutes 0). s1, s2, s3 fail (SERVICE_ERROR) together: s1 is re-run, the brake
    engages, s2 and s3 are held. An hour later the operator releases the brake: s2 and s3 are re-queued...
    and each released item is counted as a new failure of the new window, so the brake engages again right
    away (alarm RerunBrakeEngaged), and s4, the first failure after the release, is BRAKED instead of re-run.
    docs/RERUN_POLICY.md 'Resuming': released items are 'handled normally ... except that the brake does not
    hold it again'; nothing says a release pauses the workflow again."""
    policy = {"brake": {"maxFailures": 1, "windowMinutes": 60, "coolDownMinutes": 0}}
    h = make(tasks=ONE_TASK, policy=policy, faults=FaultPlan(runs=[
        RunFault(reason="SERVICE_ERROR", at_task="call", run_name=name) for name in ("s1", "s2", "s3", "s4")]))
    held = [h.start_run(name) for name in ("s1", "s2", "s3")]
    h.run()
    status = h.rerunner.brake_status(h.workflow_id)
    assert status["paused"] and len(status["held"]) == 2
    # an hour later (the next window), the operator releases the brake
    h.emulator.advance(3600)
    result = h.rerunner.release_brake(h.workflow_id, "alice")
    assert result["requeued"] == 2
    h.run()
    assert all(len(h.reruns_of(run_id)) == 1 for run_id in held)  # the held work was re-run
    engaged_after_release = [o for o in h.outcomes[-2:] if o.brake_engaged]
    s4 = h.start_run("s4")
    h.run()
    state = h.repository.get_item(brake_pk(h.workflow_id), "STATE") or {}
    decisions = [d["decision"] for d in h.decisions(s4)]
    assert (state.get("status"), decisions, len(engaged_after_release)) == ("RELEASED", [Decided.STARTED], 0), (
        f"after the release: brake {state.get('status')} ({state.get('reason')}), re-engaged by "
        f"{len(engaged_after_release)} released item(s); s4 {decisions}")
