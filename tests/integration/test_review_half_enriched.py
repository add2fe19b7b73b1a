"""A run's terminal status recorded but its enrichment (GetRun + ListRunTasks and what follows) not finished:
nothing may stay half done. The recorder's retry of the event redoes what is missing.
moto DynamoDB; HealthOmics answered by botocore's Stubber (every queued answer must be used)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from recorder.logic import Recorder
from shared.events import parse_omics_event
from shared.lineage import TAG_PARENT_RUN, TAG_PARENT_RUN_UUID, TAG_ROOT_RUN, TAG_ROOT_RUN_UUID
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from tests.factories import get_run_response, run_event

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _recorder(table_name: str, client: Any) -> Recorder:
    return Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)


def _throttled(stub: Stubber, operation: str, params: dict[str, Any]) -> None:
    stub.add_client_error(operation, service_error_code="ThrottlingException", http_status_code=400,
                          expected_params=params)


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
