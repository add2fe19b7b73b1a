"""Found by review (older than this session): a failed member whose follow-up was DELAYED (or BRAKED) is dropped
when its delayed (or released) work comes after the batch's runs were deleted and a standalone run took the member's id.

`_failed_runs` read only the latest summary under each member's run id; rejected (GetRun said: no batch), the
member fell to the cold path, which cannot find it either: the batch is RUNS_DELETED and ListRuns(batchId,
status=FAILED) lists no deleted run. The member's own summary (this batch's, FAILED, enriched: everything a
follow-up needs) is still recorded under the same id, an older uuid: `_member_summary` now picks it.

Facts (HEALTHOMICS.md sections 2-3): ids of deleted runs are reused; ListRunsInBatch names members by runId only;
DeleteRunBatch runs on a PROCESSED batch (RUNS_DELETING -> RUNS_DELETED).
"""

from __future__ import annotations

from rerunner.logic import Decided
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_delayed_member_is_still_followed_up_when_its_id_was_taken_after_the_batchs_runs_were_deleted(
    make,
) -> None:
    # Given a batch whose member s0 failed with INSTANCE_RESERVATION_FAILED: its follow-up is DELAYED 30 min
    h = make(faults=FaultPlan(runs=[RunFault(reason="INSTANCE_RESERVATION_FAILED", at_task="call",
                                             run_setting_id="s0")]))
    batch_id = h.start_batch(["s0"])
    h.emulator.run_until_idle()
    (member,) = h.emulator.batches[batch_id].entries
    outcomes = h.deliver()
    assert [o.decisions for o in outcomes if o.work.kind == "batch"] == [{Decided.DELAYED: 1}]
    assert h.follow_ups(batch_id) == []
    # and, within the delay, the batch's runs were deleted and a standalone run took s0's id (and completed)
    h.omics.delete_run_batch(batchId=batch_id)
    h.emulator.run_until_idle()
    h.emulator.reuse_deleted_run_ids = True
    stranger = h.start_run("stranger")
    assert stranger == member.run_id
    h.emulator.run_until_idle()
    h.deliver()
    assert h.emulator.batches[batch_id].status == "RUNS_DELETED"
    # When the delayed work comes
    h.emulator.advance(3 * 3600)
    fired = h.fire_due()
    # Then s0, decided DELAYED (to be re-run), is re-run in a follow-up batch, not dropped
    assert h.follow_ups(batch_id), (
        f"batch {batch_id}: member s0 (run {member.run_id}, INSTANCE_RESERVATION_FAILED, DELAYED) never re-run: "
        f"its id is standalone run {stranger}'s now; delayed work outcomes "
        f"{[(o.skipped, o.started, dict(o.decisions)) for o in fired]}"
    )
