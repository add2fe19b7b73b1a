"""A batch member whose run was deleted and whose id a later standalone run took is not that member (found by
review; older than the GetBatch-first change): the batch never re-runs the standalone run's failure.

Guide (HEALTHOMICS.md section 3 and "Working with HealthOmics runs"): HealthOmics reuses the ids of deleted
runs, only the uuid tells the two runs apart; ListRunsInBatch names a member by runId only; GetBatch's
runSummary counts the batch's own runs per status (DELETED included), exact at PROCESSED.
"""

from __future__ import annotations

from rerunner.work import Work
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_completed_member_whose_id_a_failed_standalone_run_took_is_not_re_run_with_the_batch(make) -> None:
    # Given a batch of 2 that completed, recorded and handled (nothing to follow up)
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="stranger")])
    h = make(faults=faults)
    h.emulator.reuse_deleted_run_ids = True
    batch_id = h.start_batch(["s0", "s1"])
    h.run()
    assert h.emulator.batches[batch_id].status == "PROCESSED"
    assert h.follow_ups(batch_id) == []
    member = next(e for e in h.emulator.batches[batch_id].entries if e.run_setting_id == "s0")
    # and then s0's completed run was deleted, and a standalone run (of this product) took its id and failed
    h.omics.delete_run(id=member.run_id)
    stranger = h.start_run("stranger")
    assert stranger == member.run_id and h.runs()[stranger].batch_id is None
    h.emulator.run_until_idle()
    # and its FAILED event went to the recorder and to the re-runner's standalone path, which re-ran it
    standalone = h.deliver()
    assert h.runs()[stranger].status == "FAILED" and [o.started for o in standalone if o.started] != []
    assert len(h.reruns_of(stranger)) == 1
    # When the batch's PROCESSED work comes again (a duplicated / late event, a delayed or released work)
    outcome = h.handle(Work(kind="batch", id=batch_id))
    # Then the batch's completed member s0 is not re-run as a follow-up of the batch: the failed run that now
    # carries its id is another run (another uuid, no batch), handled by the standalone path if at all
    # (it was re-run once already, by the standalone path: a follow-up here re-runs that failure a second time)
    assert not outcome.started and h.follow_ups(batch_id) == [], (
        f"batch {batch_id} re-ran member s0 (completed, then deleted) because standalone run {stranger} that took "
        f"its id failed (already re-run as {[r.id for r in h.reruns_of(stranger)]}): follow-ups "
        f"{[b.id for b in h.follow_ups(batch_id)]}, decisions {dict(outcome.decisions)}"
    )
