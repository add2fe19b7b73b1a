"""What proves a re-run ours (shared/lineage.py, pure) and the order-independent settle (shared/supersede.py).

A run's lineage tags are whoever started it's word. What proves it is what the service sets: a copy of the parent
(StartRun runId; GetRun.runId), which every standalone re-run is; or the re-runner's own record on the parent: its
claim naming the run, its STARTED decision naming the follow-up batch the run is in (batch members), and a
resubmission's LINK carrying that batch over to the batch that replaced it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from shared.lineage import ClaimedRerun, RunClaim, StartedRerun, copies_parent, names_batch, names_run, started_rerun
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.supersede import Proof, prove, proven, settle, settle_waiting_batch


def _child(**fields: Any) -> ClaimedRerun:
    return ClaimedRerun(**{"run_id": "C", "run_uuid": "uc", "parent_run_id": "P", "parent_run_uuid": "up",
                           "attempt": 1, **fields})


# ------------------------------------------------------------------------------------------------ pure
def test_a_claim_names_the_run_it_started() -> None:
    started = started_rerun(None, {"new_run_id": "C", "new_run_uuid": "uc"})
    assert names_run(started, _child())
    assert not names_run(started, _child(run_uuid="other"))  # the id reused by another run
    assert not names_run(started, _child(run_id="D"))
    # a claim written before uuids were recorded names the run by id
    assert names_run(started_rerun(None, {"new_run_id": "C"}), _child())


def test_only_a_started_decision_names_a_follow_up_batch() -> None:
    started = started_rerun({"decision": "STARTED", "new_batch_id": "B2"}, None)
    assert started == StartedRerun(batch_id="B2") and names_batch(started, ["B2"])
    for decision in ("DELAYED", "BRAKED", "SUPERSEDED", None):
        assert started_rerun({"decision": decision, "new_batch_id": "B2"}, None) == StartedRerun()
    assert not names_batch(started_rerun(None, None), ["B2"])
    assert not names_batch(started, ["B3"])


# ------------------------------------------------------------------------------------------------ I/O
@pytest.fixture
def repository(table_name: str) -> ProvenanceRepository:
    repo = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    # the parent: a failed run, unresolved
    repo.put_record({keys.PK: keys.run_pk("P"), keys.SK: keys.run_summary_sk("up"), "entity": "RUN", "run_id": "P",
                     "run_uuid": "up", "unresolved_pk": keys.UNRESOLVED, "unresolved_sk": "t#P#up"})
    return repo


def _decision(repo: ProvenanceRepository, **attributes: Any) -> None:
    repo.record_decision(keys.run_pk("P"), keys.run_sk("up", keys.rerun_sk(1)), attributes)


def _superseded_by(repo: ProvenanceRepository) -> Any:
    return (repo.run_summary("P", "up") or {}).get("superseded_by")


def test_a_member_of_a_resubmission_of_the_named_follow_up_is_proven(repository: ProvenanceRepository) -> None:
    # Given the parent's decision names follow-up B2, which failed as a whole and was resubmitted as B3, then B4
    _decision(repository, decision="STARTED", new_batch_id="B2")
    repository.put_batch_link("B3", "B2", "B1", 1, {"origin": "resubmission"})
    repository.put_batch_link("B4", "B3", "B1", 1, {"origin": "resubmission"})
    # Then a run of B4 (its tags naming the parent) is proven; one of a follow-up of B2 is not (its own attempt)
    assert proven(repository, _child(batch_id="B4"))
    repository.put_batch_link("B5", "B2", "B1", 2, {"origin": "rerunner"})
    assert not proven(repository, _child(batch_id="B5"))
    assert not proven(repository, _child(batch_id="FOREIGN"))
    assert not proven(repository, _child())  # no batch, and no claim names it


def test_only_the_service_s_copy_link_to_the_parent_proves_a_run_without_records(
        repository: ProvenanceRepository) -> None:
    # A copy of the parent (GetRun.runId names it) is its re-run, by the stack or by a person: settled at once
    assert copies_parent(_child(source_run_id="P")) and not copies_parent(_child(source_run_id="Q"))
    assert not copies_parent(_child())
    # one that copied another run, its tags naming P, is not
    assert not settle(repository, _child(source_run_id="Q"))
    assert _superseded_by(repository) is None and repository.unresolved_failures()
    assert settle(repository, _child(run_id="D", run_uuid="ud", source_run_id="P"))
    assert _superseded_by(repository) == "D" and repository.unresolved_failures() == []


def test_a_follow_up_member_recorded_before_the_decision_is_settled_when_it_comes(
        repository: ProvenanceRepository) -> None:
    assert not settle(repository, _child(batch_id="B2"))
    assert settle_waiting_batch(repository, "B2") == 0  # nothing proves it yet: still waiting
    _decision(repository, decision="STARTED", new_batch_id="B2")
    assert settle_waiting_batch(repository, "B2") == 1
    assert _superseded_by(repository) == "C" and repository.unresolved_failures() == []


def test_a_forged_run_waits_for_ever_and_settles_nothing(repository: ProvenanceRepository) -> None:
    # Given the re-runner started attempt 1 of P as run R (its claim), and a foreign run F claims to be it
    repository.put_record({keys.PK: keys.run_pk("P"), keys.SK: keys.run_sk("up", keys.rerun_sk(1) + keys.RERUN_CLAIM),
                           "new_run_id": "R", "new_run_uuid": "ur"})
    assert not settle(repository, _child(run_id="F", run_uuid="uf"))
    assert _superseded_by(repository) is None and len(repository.unresolved_failures()) == 1
    # and its waiting marker, in the parent's partition, is no run of the parent's id
    assert list(repository.runs_with_id("P")) == ["up"]


def test_proving_a_follow_up_member_reads_its_proofs_in_one_request(repository: ProvenanceRepository) -> None:
    # Given the parent's decision names follow-up B2 of root batch B1, and B2's LINK says so
    _decision(repository, decision="STARTED", new_batch_id="B2")
    repository.put_batch_link("B2", "B1", "B1", 1, {"origin": "rerunner"})
    claim = RunClaim(run_id="C", run_uuid="uc", batch_id="B2", root_run_id="P", root_run_uuid="up",
                     parent_run_id="P", parent_run_uuid="up", attempt=1, root_batch_id="B1")
    requests: list[str] = []
    repository.client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.append(model.name))
    # When a member of B2 claiming to be P's re-run in B1 is proven
    proof = prove(repository, claim)
    # Then it is, from the parent's re-run records, B2's LINK and the parent's summary read in one BatchGetItem
    # (not one request each)
    assert proof == Proof(rerun=True, placed=True)
    assert requests == ["BatchGetItem"]
