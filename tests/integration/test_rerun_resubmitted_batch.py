"""A batch resubmitted after a transient batch-level failure keeps its place in provenance: `batch show`
of the original reaches the runs of the batch that carried its request, and their re-runs.

Guide: 실패한 실행 처리 > 배치 수준 실패, 일시적인 서비스 오류 — resubmit the same batch with the same
requestId. The emulator's default answer is a new batch (FaultPlan.batch_resubmission)."""

from __future__ import annotations

from typing import Any

from sandbox.omics import BatchFault, FaultPlan, RunFault
from shared.batch_submit import NEW_BATCH, resubmit_batch
from shared.provenance.views import batch_view

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _resubmitted(h: Any, failed: str) -> Any:
    """`failed` resubmitted as the guide says (same request, same requestId), and the account run until quiet."""
    recorded = h.repository.get_batch_request(failed)
    assert recorded is not None
    result = resubmit_batch(h.omics, h.repository, failed, recorded, root_batch_id=failed, attempt=0,
                            reason="INTERNAL_SERVER_EXCEPTION", sleep=lambda _: None, now=h.clock.now)
    assert result.answer == NEW_BATCH
    h.run()
    return result


def test_the_original_batch_reaches_the_runs_of_its_resubmission_and_their_reruns(make) -> None:
    # Given a launched batch that fails as a whole once (transient), one member of which then fails a task
    faults = FaultPlan(
        batches=[BatchFault(batch_name="cohort", times=1)],
        runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1")],
    )
    h = make(faults=faults)
    failed = h.start_batch(["s0", "s1", "s2"])
    h.run()
    assert h.emulator.batches[failed].status == "FAILED"
    # When it is resubmitted as the guide says (same request, same requestId) and the account runs on
    result = _resubmitted(h, failed)
    # Then the re-runner followed the new batch up (it is the stack's own: linked, request recorded)
    (follow_up,) = h.follow_ups(result.batch_id)
    assert [e.run_setting_id for e in follow_up.entries] == ["s1"]
    # and the original's view shows every sample's final outcome, through the resubmission and the re-run
    view = batch_view(h.repository, failed)
    assert {s: o.final.status for s, o in view.samples.items()} == {f"s{i}": "COMPLETED" for i in range(3)}
    assert [a.attempt for a in view.samples["s1"].attempts] == [0, 1]
    assert {b["batch_id"] for b in view.batches} >= {result.batch_id, follow_up.id}


def test_the_original_batch_keeps_its_members_runs_after_one_run_id_is_reused_by_another_sample(make) -> None:
    """Seen: `autopilot batch show <original>` of a batch resubmitted after a transient failure looked its
    members' runs (indexed under the resubmitted batch) up by id alone, as "the live run that carries each id".
    Once s0's COMPLETED run was deleted and HealthOmics gave its id to a standalone run of another sample, the
    view lost s0's outcome and listed that stranger's run as a sample of the batch."""
    # Given a batch resubmitted after a transient failure, whose runs all completed
    h = make(faults=FaultPlan(batches=[BatchFault(batch_name="cohort", times=1)]))
    h.emulator.reuse_deleted_run_ids = True
    failed = h.start_batch(["s0", "s1"])
    h.run()
    result = _resubmitted(h, failed)
    # When s0's run is deleted and its id taken by a standalone run of another sample, which completes
    member = next(e for e in h.emulator.batches[result.batch_id].entries if e.run_setting_id == "s0")
    h.omics.delete_run(id=member.run_id)
    stranger = h.start_run("stranger")
    assert stranger == member.run_id
    h.run()
    # Then the original's view still shows s0's own run, and no run from outside the batch
    view = batch_view(h.repository, failed)
    seen = {s: (o.final.run_id, o.final.status) for s, o in view.samples.items()}
    assert set(seen) == {"s0", "s1"} and seen["s0"][1] in ("COMPLETED", "DELETED"), (
        f"batch {failed} (resubmitted as {result.batch_id}) after s0's run {member.run_id} was deleted and its id "
        f"reused by standalone sample 'stranger': samples {seen}")
