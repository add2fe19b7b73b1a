"""Placement proofs seen through the views (shared/supersede.py, shared/lineage.py): our own follow-up runs are
always proven, a placed run with nothing to supersede leaves no waiting marker, a person's proven copy of a failed
member is where the member was, and a copy cannot tag itself into another run's chain.

Written in review of dc51bf0 (each failed there). Given/When/Then against moto + the HealthOmics emulator, the real
recorder and the real re-runner (tests/integration/rerun_harness.py)."""

from __future__ import annotations

from typing import Any

from sandbox.omics import FaultPlan, RunFault, SubmissionFault
from shared.lineage import (
    TAG_ATTEMPT,
    TAG_PARENT_RUN,
    TAG_PARENT_RUN_UUID,
    TAG_ROOT_RUN,
    TAG_ROOT_RUN_UUID,
    TAG_STACK,
    Lineage,
    lineage_tags,
)
from shared.provenance import keys
from shared.provenance.cost_repository import CostRepository
from shared.provenance.views import attempt_chain, batch_view, sample_view, unresolved_failures
from tests.integration.rerun_harness import BUCKET, NEVER_RERUN, ROLE, STACK_ID, Harness

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _summary(h: Harness, run_id: str) -> dict[str, Any]:
    return h.repository.run_summaries(run_id)[-1]


def _members(h: Harness, batch_id: str) -> dict[str, str]:
    return {e.run_setting_id: e.run_id for e in h.emulator.batches[batch_id].entries}


# ------------------------------------------------------------------------------------------------------------------
# 1. (fixed) Our own follow-up run of a follow-up's failed submission is recorded as an unproven claim for ever.
# ------------------------------------------------------------------------------------------------------------------
def _follow_up_whose_submission_failed(make: Any) -> tuple[Harness, str, str, Any]:
    """Batch (s1, s2); s2 fails with SERVICE_ERROR; its follow-up B2 fails to submit s2 (a quota error, the first
    follow-up only); the follow-up of B2, B3, runs s2 and it completes. All of it started by this stack."""
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s2")])
    h = make(faults=faults)
    first: list[str] = []

    def first_follow_up_only(batch_id: str, _setting: str) -> bool:
        if h.emulator.batches[batch_id].name == "cohort":
            return False
        first.append(batch_id) if not first else None
        return batch_id == first[0]

    faults.submissions.append(SubmissionFault(run_setting_ids=frozenset({"s2"}), predicate=first_follow_up_only,
                                              reason="ServiceQuotaExceededException"))
    batch_id = h.start_batch(["s1", "s2"])
    h.run()
    (b2,) = h.follow_ups(batch_id)
    (b3,) = h.follow_ups(b2.id)
    (entry,) = b3.entries
    assert h.runs()[entry.run_id].status == "COMPLETED"
    return h, batch_id, _members(h, batch_id)["s2"], entry


def test_our_rerun_of_a_follow_up_s_failed_submission_is_in_the_sample_batch_and_cost_views(make) -> None:
    # Given our root batch's s2 failed, its follow-up could not submit it, and the next follow-up ran it: COMPLETED
    h, batch_id, _failed, entry = _follow_up_whose_submission_failed(make)
    # Then that run (started by our re-runner, in a batch LINKed to our root) is no unproven claim
    summary = _summary(h, entry.run_id)
    assert "unproven_claim" not in summary, \
        "our own follow-up run is recorded as an unproven claim (its entry kept the failed follow-up's parent tags)"
    # and it is in the sample view with its outcome, the batch cost roll-up and the sample cost roll-up
    assert (2, entry.run_id, "COMPLETED") in [(a.attempt, a.run_id, a.status) for a in sample_view(h.repository, "s2")]
    costs = CostRepository(h.repository)
    assert entry.run_id in [r["run_id"] for r in costs.batch_cost(batch_id)["per_run"]]
    assert entry.run_id in [r["run_id"] for r in costs.sample_cost("s2")["per_run"]]


def test_a_sample_completed_by_a_later_follow_up_leaves_no_unresolved_failure(make) -> None:
    # Given the same: s2's root run failed, its re-run could not be submitted, the next follow-up completed s2
    h, batch_id, _failed, _entry = _follow_up_whose_submission_failed(make)
    assert batch_view(h.repository, batch_id).samples["s2"].final.status == "COMPLETED"
    # Then the root run's failure is settled by our re-run (before the fix it stayed unresolved for ever)
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [], \
        "a failure our own later follow-up completed is still unresolved"


# ------------------------------------------------------------------------------------------------------------------
# 2. (fixed) A failed submission's follow-up run, placed at once, left a WAITING_RERUN marker nothing deleted
#    (the demo's 2,412th item, before the fix).
# ------------------------------------------------------------------------------------------------------------------
def test_a_placed_follow_up_run_of_a_failed_submission_leaves_no_waiting_marker(make) -> None:
    # Given a batch whose s2 submission fails (a quota error, the root batch only) and is re-run in a follow-up
    faults = FaultPlan()
    h = make(faults=faults)
    faults.submissions.append(SubmissionFault(run_setting_ids=frozenset({"s2"}), reason="ServiceQuotaExceededException",
                                              predicate=lambda b, _: h.emulator.batches[b].name == "cohort"))
    batch_id = h.start_batch(["s1", "s2"])
    # When everything ran and was recorded
    h.run()
    (follow_up,) = h.follow_ups(batch_id)
    (entry,) = follow_up.entries
    assert h.runs()[entry.run_id].status == "COMPLETED"
    # Then its run is placed (proven by its batch's LINK) ...
    summary = _summary(h, entry.run_id)
    assert "unproven_claim" not in summary and summary["batch_pk"] == keys.batch_pk(batch_id)
    # ... and nothing waits for a proof: there is no parent to supersede, nothing can ever settle the marker
    waiting = h.repository.items_with_prefix(keys.batch_pk(follow_up.id), keys.WAITING_RERUN)
    assert waiting == [], f"a settled run's marker is kept until its TTL: {[w['sk'] for w in waiting]}"


# ------------------------------------------------------------------------------------------------------------------
# 3. (fixed) A person's re-run by hand (StartRun runId) of a failed batch member, tagged as the re-runner tags re-runs,
#    supersedes the member yet is shown in no batch, sample or chain (it was before dc51bf0).
# ------------------------------------------------------------------------------------------------------------------
def test_a_person_s_copy_of_a_failed_member_that_settles_it_is_the_member_s_final_outcome(make) -> None:
    # Given our batch, whose s2 failed for a reason never re-run
    h = make(faults=FaultPlan(runs=[RunFault(reason=NEVER_RERUN, at_task="call", run_setting_id="s2")]))
    batch_id = h.start_batch(["s1", "s2"])
    h.run()
    failed = _members(h, batch_id)["s2"]
    uuid = h.runs()[failed].uuid
    # When a person re-runs it by hand, a copy (StartRun runId), with the lineage tags every re-run carries
    # (docs/RERUN_POLICY.md: root, parent, attempt, and the failed run's sample and root batch), and it completes
    tags = lineage_tags(Lineage(root_run_id=failed, root_run_uuid=uuid, parent_run_id=failed, parent_run_uuid=uuid,
                                attempt=1, sample="s2", root_batch_id=batch_id))
    copy = str(h.omics.start_run(runId=failed, roleArn=ROLE, outputUri=f"s3://{BUCKET}/by-hand", requestId="by-hand",
                                 tags={**tags, TAG_STACK: STACK_ID})["id"])
    h.run()
    assert h.runs()[copy].status == "COMPLETED"
    # Then the copy settles the failure (the service says it copied it) ...
    assert _summary(h, failed).get("superseded_by") == copy and unresolved_failures(h.repository) == []
    # ... and the run that settled it is where the failure was: s2's final outcome, in the chain
    assert batch_view(h.repository, batch_id).samples["s2"].final.run_id == copy, \
        "the failure is settled by a run that no batch view shows: s2's final outcome is still the failure"
    assert copy in [a["run_id"] for a in attempt_chain(h.repository, failed)]


# ------------------------------------------------------------------------------------------------------------------
# 4. (fixed) The copy link proves a run re-ran its parent, not the chain its tags put it in: a copy of any of our runs
#    could be tagged into another chain.
# ------------------------------------------------------------------------------------------------------------------
def test_a_copy_of_one_of_our_runs_cannot_tag_itself_into_another_run_s_chain(make) -> None:
    # Given two of our standalone runs: s1 failed (never re-run), s2 failed too (never re-run), each its own chain
    h = make(faults=FaultPlan(runs=[RunFault(reason=NEVER_RERUN, at_task="call", predicate=lambda r: True)]))
    s1, s2 = h.start_run("s1"), h.start_run("s2")
    h.run()
    # When someone copies s1 (StartRun runId: the service's copy link names s1) but tags the copy as attempt 1 of s2
    uuid1, uuid2 = h.runs()[s1].uuid, h.runs()[s2].uuid
    forged = str(h.omics.start_run(
        runId=s1, roleArn=ROLE, outputUri=f"s3://{BUCKET}/forged", requestId="forged-copy",
        tags={TAG_PARENT_RUN: s1, TAG_PARENT_RUN_UUID: uuid1, TAG_ROOT_RUN: s2, TAG_ROOT_RUN_UUID: uuid2,
              TAG_ATTEMPT: "1", TAG_STACK: STACK_ID})["id"])
    h.run()
    # Then it is no attempt of s2's chain (nothing proves it re-ran s2, or anything in s2's chain) ...
    assert [a["run_id"] for a in attempt_chain(h.repository, s2)] == [s2], \
        "a copy of s1 placed itself in s2's attempt chain by its tags"
    # ... nor in what s2's chain costs
    assert forged not in [r["run_id"] for r in CostRepository(h.repository).chain_cost(s2, uuid2)["per_run"]]
