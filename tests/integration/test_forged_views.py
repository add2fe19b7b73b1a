"""A run's tags place it nowhere by themselves: a run started outside the stack whose autopilot:* tags claim a place
in one of our root batches, attempt chains or samples is recorded (with its tags) but is no attempt of ours in the
views, the cost roll-ups or the attempt chain, until something its starter cannot set proves the claim (the
re-runner's records, a follow-up's LINK, the service's own copy link: shared/supersede.py). test_forged_lineage.py
showed such a run settles nothing; here, that it does not stand in our views either (it did: a forged COMPLETED
"attempt 1" became the final outcome of our failed sample in `autopilot batch show`), and that the marker a claim
leaves while it waits for proof expires (it had no TTL: a forged run's marker stayed for ever).

Given/When/Then against moto + the HealthOmics emulator, the real recorder and the real re-runner."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from autopilot_cli.app import main as cli_main
from autopilot_cli.target import TableTarget
from sandbox.omics import FaultPlan, RunFault
from shared.lineage import (
    TAG_ATTEMPT,
    TAG_PARENT_RUN,
    TAG_PARENT_RUN_UUID,
    TAG_ROOT_BATCH,
    TAG_ROOT_RUN,
    TAG_ROOT_RUN_UUID,
    TAG_SAMPLE,
    TAG_STACK,
)
from shared.provenance import keys
from shared.provenance.cost_repository import CostRepository
from shared.provenance.views import attempt_chain, batch_view, sample_view
from tests.integration.rerun_harness import (
    BUCKET,
    NEVER_RERUN,
    ROLE,
    STACK_ID,
    START,
    Harness,
    follow_up_recorded_before_its_proof,
)

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _our_batch_with_a_failure(make: Any) -> tuple[Harness, str, str]:
    """Our batch of s1 (completes) and s2 (fails for a reason never re-run), recorded and processed."""
    h = make(faults=FaultPlan(runs=[RunFault(reason=NEVER_RERUN, at_task="call", run_setting_id="s2")]))
    batch_id = h.start_batch(["s1", "s2"])
    h.run()
    s2 = {e.run_setting_id: e.run_id for e in h.emulator.batches[batch_id].entries}["s2"]
    return h, batch_id, s2


def _forged(h: Harness, tags: dict[str, str], name: str = "forged") -> str:
    """A run started outside the stack (no copy of anything), with the tags it chose."""
    return str(h.omics.start_run(workflowId=h.workflow_id, roleArn=ROLE, outputUri=f"s3://{BUCKET}/forged",
                                 name=name, requestId=f"forged-{name}", tags={**tags, TAG_STACK: STACK_ID})["id"])


def _claims_attempt_1_of(h: Harness, batch_id: str, failed: str, sample: str) -> dict[str, str]:
    uuid = h.runs()[failed].uuid
    return {TAG_PARENT_RUN: failed, TAG_PARENT_RUN_UUID: uuid, TAG_ROOT_RUN: failed, TAG_ROOT_RUN_UUID: uuid,
            TAG_ATTEMPT: "1", TAG_ROOT_BATCH: batch_id, TAG_SAMPLE: sample}


def _batch_show(h: Harness, batch_id: str) -> dict[str, Any]:
    stdout = io.StringIO()
    target = TableTarget(h.repository.table_name, boto3.Session(region_name="us-east-1"))
    assert cli_main(["batch", "show", batch_id, "--json"], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    return dict(json.loads(stdout.getvalue()))


@pytest.mark.parametrize("claim", ["attempt 1 of the failed run", "attempt 5 of the sample, no parent"])
def test_a_forged_attempt_is_not_our_sample_s_final_outcome(make, claim: str) -> None:
    # Given our batch, whose sample s2 failed for a reason never re-run
    h, batch_id, failed = _our_batch_with_a_failure(make)
    assert _batch_show(h, batch_id)["final_outcomes"] == {"COMPLETED": 1, "FAILED": 1}
    # When a run started outside the stack, tagged into our batch as a later attempt of s2, completes
    tags = _claims_attempt_1_of(h, batch_id, failed, "s2")
    if claim != "attempt 1 of the failed run":
        tags = {TAG_ATTEMPT: "5", TAG_ROOT_BATCH: batch_id, TAG_SAMPLE: "s2"}
    forged = _forged(h, tags)
    h.run()
    assert h.runs()[forged].status == "COMPLETED"
    # Then s2's final outcome is still our failure: in the batch view, `batch show`, the sample view
    view = batch_view(h.repository, batch_id)
    assert [(a.run_id, a.status) for a in view.samples["s2"].attempts] == [(failed, "FAILED")], \
        "a forged run is an attempt of our sample in the batch view"
    shown = _batch_show(h, batch_id)
    assert shown["final_outcomes"] == {"COMPLETED": 1, "FAILED": 1}
    assert shown["samples"]["s2"]["final"]["run_id"] == failed
    assert forged not in [a.run_id for a in sample_view(h.repository, "s2")]
    # and it is no attempt of our failed run's chain, nor in what the chain and the batch cost
    assert [a["run_id"] for a in attempt_chain(h.repository, failed)] == [failed]
    costs = CostRepository(h.repository)
    assert forged not in [r["run_id"] for r in costs.batch_cost(batch_id)["per_run"]]
    assert forged not in [r["run_id"] for r in costs.sample_cost("s2")["per_run"]]
    # and it is recorded all the same, with its tags, as an unproven claim
    (summary,) = h.repository.run_summaries(forged)
    assert summary["tags"][TAG_ROOT_BATCH] == batch_id and summary.get("unproven_claim") is True


def _forged_attempt_of_a_failure(make: Any) -> tuple[Harness, str, str, str]:
    """Our run s1 failed for a reason never re-run; a run started outside the stack, tagged as its attempt 1,
    completed and was recorded: the harness, the failed run's id and uuid, the forged run's id."""
    h = make(faults=FaultPlan(runs=[RunFault(reason=NEVER_RERUN, at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    h.run()
    uuid = h.runs()[failed].uuid
    forged = _forged(h, {TAG_PARENT_RUN: failed, TAG_PARENT_RUN_UUID: uuid, TAG_ROOT_RUN: failed,
                         TAG_ROOT_RUN_UUID: uuid, TAG_ATTEMPT: "1"})
    h.run()
    return h, failed, uuid, forged


def test_the_marker_of_a_claim_no_record_may_prove_expires(make) -> None:
    # Given one of our runs failed for a reason never re-run, and a run started outside the stack, tagged as its
    # attempt 1, completed and recorded
    h, failed, uuid, forged = _forged_attempt_of_a_failure(make)
    # Then the marker it left waiting for a proof expires (the table's TTL), weeks after it was written
    (marker,) = [i for i in h.repository.items_with_prefix(keys.run_pk(failed), keys.run_sk(uuid, keys.WAITING_RERUN))]
    assert marker["child_run_id"] == forged
    assert keys.TTL_ATTRIBUTE in marker, "a marker no record may ever settle is kept for ever"
    written = h.clock.now()
    assert written + timedelta(days=7) < START.fromtimestamp(marker[keys.TTL_ATTRIBUTE], START.tzinfo) \
        < written + timedelta(days=400)


def test_run_show_says_what_a_forged_run_claims_and_shows_it_alone(make) -> None:
    # Given a forged "attempt 1" of our failed run, recorded
    h, failed, _, forged = _forged_attempt_of_a_failure(make)
    target = TableTarget(h.repository.table_name, boto3.Session(region_name="us-east-1"))
    # When the operator asks about it
    stdout = io.StringIO()
    assert cli_main(["--json", "run", "show", forged], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    doc = json.loads(stdout.getvalue())
    # Then its claim is shown as such, and our failed run's chain is not borrowed for it
    assert doc["unproven_claim"]["root_run_id"] == failed and doc["unproven_claim"]["attempt"] == 1
    assert [a["run_id"] for a in doc["attempts"]] == [forged]
    # and our failed run's chain is its own
    stdout = io.StringIO()
    assert cli_main(["--json", "run", "show", failed], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    doc = json.loads(stdout.getvalue())
    assert [a["run_id"] for a in doc["attempts"]] == [failed] and doc["unproven_claim"] is None
    stdout = io.StringIO()
    assert cli_main(["run", "show", forged], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    assert "no record of this stack proves it" in " ".join(stdout.getvalue().split())


def test_our_follow_up_run_recorded_before_its_proof_is_placed_once_the_proof_is_written(
        make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch whose s2 failed, a follow-up the re-runner started before its LINK and decisions (the
    # proofs) were written (it stopped), and the follow-up's run completed and recorded first
    h, batch_id, follow_up, processed = follow_up_recorded_before_its_proof(make, monkeypatch)
    (entry,) = follow_up.entries
    # When its run completed and was recorded first, it waits: no attempt of s2 yet, a marker in its batch
    assert h.runs()[entry.run_id].status == "COMPLETED"
    assert [a.run_id for a in batch_view(h.repository, batch_id).samples["s2"].attempts if a.run_id] == \
        [{e.run_setting_id: e.run_id for e in h.emulator.batches[batch_id].entries}["s2"]]
    assert h.repository.items_with_prefix(keys.batch_pk(follow_up.id), keys.WAITING_RERUN)
    # When SQS delivers the PROCESSED batch to the re-runner again (it writes the LINK and its decisions)
    h.deliver(processed)
    # Then the run is s2's attempt 1, its final outcome, in every view, and nothing waits any more
    view = batch_view(h.repository, batch_id)
    assert [(a.attempt, a.run_id, a.status) for a in view.samples["s2"].attempts][-1] == (1, entry.run_id, "COMPLETED")
    assert entry.run_id in [a.run_id for a in sample_view(h.repository, "s2")]
    (summary,) = h.repository.run_summaries(entry.run_id)
    assert "unproven_claim" not in summary and summary["batch_pk"] == keys.batch_pk(batch_id)
    assert h.repository.items_with_prefix(keys.batch_pk(follow_up.id), keys.WAITING_RERUN) == []
