"""Found by review (older than this session): a summary recorded as gone (`_record_gone`: GetRun answered another run's
uuid, so no `api_status` and no `batch_id`) is accepted as a batch member's run, and, being "enriched", is used
without GetRun: the member's own failure is decided on a deleted unrelated run's record.

Scenario: a standalone run failed and was deleted before the recorder enriched it; HealthOmics reused its id for
a member of a new batch (HEALTHOMICS.md section 2/3: ids of deleted runs are reused; ListRunsInBatch rows carry
runId only). The recorder then enriched the standalone run's FAILED event: GetRun answered the member's uuid, so
the standalone run was recorded as gone. The member failed with SERVICE_ERROR; its own events are not recorded
yet when the batch's PROCESSED work is handled (the recorder behind, as in test_rerun_getbatch_counts.py).
"""

from __future__ import annotations

from typing import Any

from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _member_taking_a_deleted_runs_id(h: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """A standalone run ("stranger") that ended and was deleted before the recorder saw its events; a batch whose
    member s0 took its id (a new uuid) and failed with SERVICE_ERROR; then the stranger's events recorded: GetRun
    answers s0's run, so the stranger is recorded as gone. Returns the run id, the batch id and the batch's
    events (not delivered yet: the recorder is behind)."""
    stranger = h.start_run("stranger")
    h.emulator.run_until_idle()
    stranger_events = list(h.events)
    del h.events[:]
    h.omics.delete_run(id=stranger)
    h.emulator.reuse_deleted_run_ids = True
    batch_id = h.start_batch(["s0"])
    h.emulator.run_until_idle()
    assert h.runs()[stranger].run_setting_id == "s0" and h.runs()[stranger].status == "FAILED"
    assert h.emulator.batches[batch_id].status == "PROCESSED"
    batch_events = list(h.events)
    del h.events[:]
    h.deliver(stranger_events, rerun=False)
    return stranger, batch_id, batch_events


def _batch_handled_before_its_events(h: Any, batch_id: str, batch_events: list[dict[str, Any]]) -> Any:
    """The batch's PROCESSED work handled before the recorder records s0's own events; then those events, with
    s0's FAILED event to the re-runner, and everything that follows. The batch work's outcome."""
    outcome = h.handle(Work(kind="batch", id=batch_id))
    h.deliver(batch_events, rerun=False)
    for raw in batch_events:
        if raw.get("detail-type") == "Run Status Change" and raw["detail"].get("status") == "FAILED":
            h.handle(parse_work(raw))
    h.run()
    return outcome


def test_a_gone_summary_of_a_deleted_standalone_run_is_not_taken_for_the_failed_member_that_reused_its_id(
    make,
) -> None:
    # Given a standalone run that failed and was deleted, recorded as gone after member s0 of a batch took its id
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="stranger"),
                             RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")])
    h = make(faults=faults)
    stranger, batch_id, batch_events = _member_taking_a_deleted_runs_id(h)
    (gone,) = h.repository.run_summaries(stranger)
    assert gone.get("outcome") == "FAILED" and not gone.get("api_status") and not gone.get("batch_id")
    # When the batch's PROCESSED work is handled before the recorder recorded s0's own events (and then they are)
    outcome = _batch_handled_before_its_events(h, batch_id, batch_events)
    # Then s0's failure is not decided on the gone standalone run's record: s0 is followed up (SERVICE_ERROR is
    # re-run), and no decision is written on the standalone run
    misplaced = [d for d in h.decisions(stranger) if d.get("run_uuid") == gone["run_uuid"]]
    follow_ups = h.follow_ups(batch_id)
    s0_runs = [r.id for r in h.runs().values() if r.run_setting_id == "s0"]
    assert follow_ups and not misplaced, (
        f"batch {batch_id}: failed member s0 (run {stranger}, SERVICE_ERROR) taken for the deleted standalone "
        f"run {gone['run_uuid']} recorded as gone: decisions on it "
        f"{[(d.get('failure_reason'), d.get('why')) for d in misplaced]}, follow-ups {[b.id for b in follow_ups]} "
        f"(runs of s0: {s0_runs}), "
        f"outcome skipped={outcome.skipped!r} started={outcome.started} decisions={dict(outcome.decisions)}"
    )


def test_a_gone_summary_of_a_deleted_completed_run_does_not_hide_the_failure_of_the_member_that_reused_its_id(
    make,
) -> None:
    # The same, the standalone run having COMPLETED: its gone summary read as the member's COMPLETED outcome, so
    # the member was not even "unknown" and GetBatch's failedRunCount (1, exact at PROCESSED) never consulted.
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")]))
    stranger, batch_id, batch_events = _member_taking_a_deleted_runs_id(h)
    (gone,) = h.repository.run_summaries(stranger)
    assert gone.get("outcome") == "COMPLETED" and not gone.get("api_status") and not gone.get("batch_id")
    outcome = _batch_handled_before_its_events(h, batch_id, batch_events)
    # Then s0 (FAILED, SERVICE_ERROR) is followed up, not closed as "no failed members"
    assert h.follow_ups(batch_id), (
        f"batch {batch_id}: failed member s0 (run {stranger}, SERVICE_ERROR) read as COMPLETED from the gone "
        f"summary of the deleted standalone run {gone['run_uuid']}: outcome skipped={outcome.skipped!r}, "
        f"started={outcome.started}; never re-run"
    )
