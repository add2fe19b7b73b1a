"""A run's terminal status recorded but its enrichment (GetRun + ListRunTasks and what follows) not finished:
nothing may stay half done. The recorder's retry of the event redoes what is missing; the reconciler finishes
what it healed but could not enrich (nothing retries a sweep's work) and what the recorder never finished.
moto DynamoDB; HealthOmics answered by botocore's Stubber (every queued answer must be used)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from reconciler.logic import Reconciler, heals_of

from shared.events import parse_omics_event
from shared.lineage import TAG_PARENT_RUN, TAG_PARENT_RUN_UUID, TAG_ROOT_RUN, TAG_ROOT_RUN_UUID
from shared.provenance import keys
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import batch_event, get_run_response, list_run_tasks_response, run_event

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _recorder(table_name: str, client: Any) -> Recorder:
    return Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)


def _throttled(stub: Stubber, operation: str, params: dict[str, Any]) -> None:
    stub.add_client_error(operation, service_error_code="ThrottlingException", http_status_code=400,
                          expected_params=params)


def test_a_run_the_reconciler_healed_to_failed_is_enriched_by_a_later_sweep(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    # Given a run recorded RUNNING whose FAILED event was lost
    client, stub = omics
    recorder = _recorder(table_name, client)
    recorder.record(parse_omics_event(run_event("2000001", "RUNNING", T0)))
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))
    # and a sweep that heals it to FAILED while ListRunTasks is throttled
    stub.add_response("get_run", get_run_response("2000001", "FAILED"), {"id": "2000001"})
    _throttled(stub, "list_run_tasks", {"id": "2000001"})
    first = reconciler.sweep(T0 + timedelta(hours=2))
    assert first.deferred == 1
    # (the heal itself is recorded all the same: its FAILED history item and its HEALED record)
    items = recorder.repository.run_items("2000001", "uuid-2000001")
    assert [(h["from_status"], h["status"]) for h in heals_of(items)] == [("RUNNING", "FAILED")]
    assert [i["status"] for i in items if i.get("entity") == "RUN_STATUS"] == ["FAILED"]
    # When a later sweep runs (HealthOmics answers again)
    stub.add_response("get_run", get_run_response("2000001", "FAILED"), {"id": "2000001"})
    stub.add_response("list_run_tasks", list_run_tasks_response("2000001", 2), {"id": "2000001"})
    reconciler.sweep(T0 + timedelta(hours=3))
    # Then the run is enriched: its details and tasks recorded, its failure unresolved, no longer in flight
    repository = recorder.repository
    summary = repository.run_summary("2000001", "uuid-2000001") or {}
    assert summary.get("failure_reason") == "SERVICE_ERROR" and "details_recorded_at" in summary
    assert "active_pk" not in summary
    assert [f["run_id"] for f in repository.unresolved_failures()] == ["2000001"]
    assert len(repository.items_with_prefix(keys.run_pk("2000001"), keys.run_sk("uuid-2000001", "TASK#"))) == 2
    # and a further sweep has nothing left to do (no HealthOmics call: the Stubber has nothing queued)
    assert reconciler.sweep(T0 + timedelta(hours=4)).runs_checked == 0


def test_a_rerun_whose_enrichment_failed_after_its_details_supersedes_its_parent_on_the_retry(
        table_name: str, omics: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a failed run recorded, and its re-run completing
    client, stub = omics
    recorder = _recorder(table_name, client)
    stub.add_response("get_run", get_run_response("3000001", "FAILED"), {"id": "3000001"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "3000001"})
    recorder.record(parse_omics_event(run_event("3000001", "FAILED", T0)))
    rerun = get_run_response("3000002", "COMPLETED", runId="3000001", tags={
        TAG_PARENT_RUN: "3000001", TAG_PARENT_RUN_UUID: "uuid-3000001", TAG_ROOT_RUN: "3000001",
        TAG_ROOT_RUN_UUID: "uuid-3000001", "autopilot:attempt": "2"})
    # started by the re-runner: its claim on the parent names the re-run (what proves it ours)
    recorder.repository.put_record({keys.PK: keys.run_pk("3000001"),
                                    keys.SK: keys.run_sk("uuid-3000001", keys.rerun_sk(2) + keys.RERUN_CLAIM),
                                    "new_run_id": "3000002", "new_run_uuid": "uuid-3000002"})
    # and the table throttling the write that settles the parent's failure, once
    supersede = recorder.repository.supersede
    calls = []

    def throttled_once(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise ProvenanceError("update_item failed: ThrottlingException", True)
        supersede(*args)

    monkeypatch.setattr(recorder.repository, "supersede", throttled_once)
    event = parse_omics_event(run_event("3000002", "COMPLETED", T0 + timedelta(hours=3)))
    for _ in range(2):
        stub.add_response("get_run", rerun, {"id": "3000002"})
        stub.add_response("list_run_tasks", {"items": []}, {"id": "3000002"})
    with pytest.raises(ProvenanceError):
        recorder.record(event)
    # When SQS delivers the event again
    recorder.record(event)
    # Then the parent's failure is settled by its re-run
    assert recorder.repository.unresolved_failures() == []


def test_a_batch_the_reconciler_healed_to_processed_gets_its_members_on_a_later_sweep(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    # Given a batch recorded SUBMITTING whose later events were lost
    client, stub = omics
    recorder = _recorder(table_name, client)
    recorder.record(parse_omics_event(batch_event("4000001", "SUBMITTING", T0)))
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))
    processed = {"id": "4000001", "arn": "arn:aws:omics:us-east-1:123456789012:runBatch/4000001",
                 "status": "PROCESSED", "processedTime": T0 + timedelta(hours=1)}
    members = {"runs": [{"runSettingId": "S-1", "runId": "4000002", "submissionStatus": "SUCCESS"}]}
    # and a sweep that heals it to PROCESSED while ListRunsInBatch is throttled
    stub.add_response("get_batch", processed, {"batchId": "4000001"})
    _throttled(stub, "list_runs_in_batch", {"batchId": "4000001", "maxItems": 100})
    assert reconciler.sweep(T0 + timedelta(hours=2)).deferred == 1
    # When a later sweep runs
    stub.add_response("get_batch", processed, {"batchId": "4000001"})
    stub.add_response("list_runs_in_batch", members, {"batchId": "4000001", "maxItems": 100})
    reconciler.sweep(T0 + timedelta(hours=3))
    # Then its members are recorded and it is no longer in flight
    summary = recorder.repository.get_item(keys.batch_pk("4000001"), keys.SUMMARY) or {}
    assert summary.get("status") == "PROCESSED" and summary.get("members_recorded") == 1
    assert "active_pk" not in summary
    assert reconciler.sweep(T0 + timedelta(hours=4)).batches_checked == 0

