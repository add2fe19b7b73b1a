"""A re-run settles its parent's failure only when this stack's own records prove it started that re-run.

Whoever starts a run sets its tags: a run started outside the stack can carry autopilot:* lineage tags (even
autopilot:stack) naming one of our failed runs as its parent. The recorder must not take that for a re-run:
the failure stays unresolved (and the re-runner still re-runs it). The proof is the re-runner's own record in
the parent's partition: its claim naming the new run (standalone), its STARTED decision naming the follow-up
batch (batch members), or the service's own link: a copy of the failed run (StartRun runId, GetRun.runId), which
is a person's re-run by hand. Whichever comes first, the child's record or that proof, the supersede completes.

Given/When/Then against moto + the HealthOmics emulator, the real recorder and the real re-runner."""

from __future__ import annotations

from typing import Any

import pytest

from rerunner.logic import Decided
from sandbox.omics import FaultPlan, RunFault
from shared.errors import RetryableError
from shared.lineage import (
    TAG_ATTEMPT,
    TAG_PARENT_RUN,
    TAG_PARENT_RUN_UUID,
    TAG_ROOT_RUN,
    TAG_ROOT_RUN_UUID,
    TAG_STACK,
)
from shared.provenance.views import unresolved_failures
from tests.integration.rerun_harness import (
    BUCKET,
    ROLE,
    STACK_ID,
    Harness,
    follow_up_recorded_before_its_proof,
    one_failed_run,
)

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _forged_rerun(h: Harness, parent: str, name: str = "forged", **extra: Any) -> str:
    """A run started outside the stack whose tags claim to be attempt 1 of `parent` (this stack's tag too)."""
    uuid = h.runs()[parent].uuid
    tags = {TAG_PARENT_RUN: parent, TAG_PARENT_RUN_UUID: uuid, TAG_ROOT_RUN: parent, TAG_ROOT_RUN_UUID: uuid,
            TAG_ATTEMPT: "1", TAG_STACK: STACK_ID}
    return str(h.omics.start_run(workflowId=h.workflow_id, roleArn=ROLE, outputUri=f"s3://{BUCKET}/forged",
                                 name=name, requestId=f"forged-{name}", tags=tags, **extra)["id"])


def _summary(h: Harness, run_id: str) -> dict[str, Any]:
    return h.repository.run_summaries(run_id)[-1]


def test_a_foreign_run_with_forged_parent_tags_does_not_settle_our_failure(make) -> None:
    # Given one of our runs failed for a reason the policy never re-runs (a person must look at it)
    h = make(faults=FaultPlan(runs=[RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    h.run()
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [failed]
    # When a run started outside the stack, tagged as its attempt 1 but not a copy of it, completes
    forged = _forged_rerun(h, failed)
    h.run()
    assert h.runs()[forged].status == "COMPLETED" and _summary(h, forged)["parent_run_id"] == failed
    # Then our failure is still unresolved: nothing this stack started settled it
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [failed]
    assert "superseded_by" not in _summary(h, failed)


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "with-lineage-tags"])
def test_a_person_s_rerun_of_the_failure_settles_it(make, tagged: bool) -> None:
    # Given one of our runs failed for a reason the policy never re-runs (a person must look at it)
    h = make(faults=FaultPlan(runs=[RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    h.run()
    # When a person re-runs it by hand (StartRun with its runId: GetRun.runId names it, set by the service;
    # HEALTHOMICS.md, "Re-run an existing run") and the copy completes
    if tagged:
        rerun = _forged_rerun(h, failed, runId=failed)
    else:
        rerun = str(h.omics.start_run(runId=failed, roleArn=ROLE, outputUri=f"s3://{BUCKET}/by-hand",
                                      requestId="by-hand")["id"])
    h.run()
    assert h.runs()[rerun].status == "COMPLETED"
    # Then the failure is settled by that run, which provenance keeps as started outside the autopilot
    assert _summary(h, failed)["superseded_by"] == rerun and unresolved_failures(h.repository) == []
    assert _summary(h, rerun)["parent_run_id"] == failed


def test_a_forged_completed_attempt_does_not_stop_our_rerun(make) -> None:
    # Given one of our runs failed with SERVICE_ERROR, recorded, its FAILED event not yet with the re-runner
    h, failed = one_failed_run(make)
    ours = list(h.events)
    h.deliver(rerun=False)
    # and a forged "attempt 1" of it completed and was recorded first
    _forged_rerun(h, failed)
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    # When the re-runner gets our failure
    (outcome,) = [o for o in h.deliver(ours) if o.decisions or o.started]
    # Then it re-runs it: a later attempt it cannot prove is no reason to stop
    assert dict(outcome.decisions) == {Decided.STARTED: 1}
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.status == "COMPLETED"
    assert _summary(h, failed)["superseded_by"] == rerun.id and unresolved_failures(h.repository) == []


def test_our_rerun_recorded_before_the_claim_names_it_settles_the_failure_at_once(
        make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given one of our runs failed with SERVICE_ERROR, and the re-runner stops after StartRun, before its
    # claim names the new run (a timeout, a throttled write)
    h, failed = one_failed_run(make)
    ours = list(h.events)
    complete_claim = h.repository.complete_claim
    stops = []

    def stop_once(*args: Any) -> None:
        if not stops:
            stops.append(args)
            raise RetryableError("update_item: ThrottlingException")
        complete_claim(*args)

    monkeypatch.setattr(h.repository, "complete_claim", stop_once)
    with pytest.raises(RetryableError):
        h.deliver()
    # When the re-run completes and is recorded before the re-runner's retry
    h.emulator.run_until_idle()
    h.deliver()
    (rerun,) = h.reruns_of(failed)
    assert rerun.status == "COMPLETED" and _summary(h, rerun.id)["details_recorded_at"]
    # Then it settles the failure at once: it is a copy of the failed run (GetRun.runId, set by the service)
    assert _summary(h, failed)["superseded_by"] == rerun.id and unresolved_failures(h.repository) == []
    # and SQS delivering the failure to the re-runner again starts nothing more (the same requestId)
    h.deliver(ours)
    assert h.reruns_of(failed) == [rerun]
    assert _summary(h, failed)["superseded_by"] == rerun.id


def test_a_follow_up_recorded_before_the_rerunner_named_it_settles_its_members_once_it_does(
        make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch whose s2 failed, a follow-up the re-runner started but did not name yet (it stopped), and
    # the follow-up's run completed and recorded before the re-runner's retry
    h, batch_id, follow_up, processed = follow_up_recorded_before_its_proof(make, monkeypatch)
    s2 = {e.run_setting_id: e.run_id for e in h.emulator.batches[batch_id].entries}["s2"]
    (entry,) = follow_up.entries
    assert h.runs()[entry.run_id].status == "COMPLETED"
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [s2]
    # When SQS delivers the PROCESSED batch to the re-runner again
    h.deliver(processed)
    # Then the follow-up it started (the same one) is named, and that settles s2's failure
    assert h.follow_ups(batch_id) == [follow_up]
    assert _summary(h, s2)["superseded_by"] == entry.run_id and unresolved_failures(h.repository) == []
