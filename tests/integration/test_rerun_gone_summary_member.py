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

from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_gone_summary_of_a_deleted_standalone_run_is_not_taken_for_the_failed_member_that_reused_its_id(
    make,
) -> None:
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="stranger"),
                             RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")])
    h = make(faults=faults)
    # Given a standalone run that failed, whose events wait for the recorder, and which was then deleted
    stranger = h.start_run("stranger")
    h.emulator.run_until_idle()
    stranger_events = list(h.events)
    del h.events[:]
    h.omics.delete_run(id=stranger)
    # and a batch whose member s0 took its id (a new uuid) and failed with SERVICE_ERROR (re-run-worthy)
    h.emulator.reuse_deleted_run_ids = True
    batch_id = h.start_batch(["s0"])
    h.emulator.run_until_idle()
    member = next(e for e in h.emulator.batches[batch_id].entries if e.run_setting_id == "s0")
    assert member.run_id == stranger and h.runs()[stranger].status == "FAILED"
    assert h.emulator.batches[batch_id].status == "PROCESSED"
    batch_events = list(h.events)
    del h.events[:]
    # and the recorder enriched the standalone run's FAILED event: GetRun answered s0's run (another uuid),
    # so the standalone run is recorded as gone (details without api_status or batch_id)
    h.deliver(stranger_events, rerun=False)
    (gone,) = h.repository.run_summaries(stranger)
    assert gone.get("outcome") == "FAILED" and not gone.get("api_status") and not gone.get("batch_id")
    # When the batch's PROCESSED work is handled before the recorder recorded s0's own events
    outcome = h.handle(Work(kind="batch", id=batch_id))
    misplaced = [d for d in h.decisions(stranger) if d.get("run_uuid") == gone["run_uuid"]]
    # Then s0's failure is not decided on the gone standalone run's record: s0 is followed up (SERVICE_ERROR is
    # re-run), or the work fails to come back; and no decision is written on the standalone run
    # (and s0's own events, recorded later, with its FAILED event to the re-runner, do not make up for it)
    h.deliver(batch_events, rerun=False)
    for raw in batch_events:
        if raw.get("detail-type") == "Run Status Change" and raw["detail"].get("status") == "FAILED":
            h.handle(parse_work(raw))
    h.run()
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
    # The same, the standalone run having COMPLETED: its gone summary reads as the member's COMPLETED outcome, so
    # the member is not even "unknown" and GetBatch's failedRunCount (1, exact at PROCESSED) is never consulted.
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")]))
    stranger = h.start_run("stranger")
    h.emulator.run_until_idle()
    stranger_events = list(h.events)
    del h.events[:]
    h.omics.delete_run(id=stranger)
    h.emulator.reuse_deleted_run_ids = True
    batch_id = h.start_batch(["s0"])
    h.emulator.run_until_idle()
    assert h.runs()[stranger].run_setting_id == "s0" and h.runs()[stranger].status == "FAILED"
    batch_events = list(h.events)
    del h.events[:]
    h.deliver(stranger_events, rerun=False)
    (gone,) = h.repository.run_summaries(stranger)
    assert gone.get("outcome") == "COMPLETED" and not gone.get("api_status") and not gone.get("batch_id")
    # When the batch's PROCESSED work is handled before the recorder recorded s0's own events
    outcome = h.handle(Work(kind="batch", id=batch_id))
    h.deliver(batch_events, rerun=False)
    for raw in batch_events:
        if raw.get("detail-type") == "Run Status Change" and raw["detail"].get("status") == "FAILED":
            h.handle(parse_work(raw))
    h.run()
    # Then s0 (FAILED, SERVICE_ERROR) is followed up, not closed as "no failed members"
    assert h.follow_ups(batch_id), (
        f"batch {batch_id}: failed member s0 (run {stranger}, SERVICE_ERROR) read as COMPLETED from the gone "
        f"summary of the deleted standalone run {gone['run_uuid']}: outcome skipped={outcome.skipped!r}, "
        f"started={outcome.started}; never re-run"
    )
