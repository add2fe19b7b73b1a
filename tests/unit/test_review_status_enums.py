"""Every status botocore's omics model knows is ordered: an unknown status ranks 0, below everything, so its
observation would never reach a summary (and the reconciler would take the API's answer as older)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import botocore.session

from shared.events import parse_omics_event
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from shared.status import batch_rank, run_rank
from tests.factories import batch_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _enum(shape: str) -> list[str]:
    return list(botocore.session.get_session().get_service_model("omics").shape_for(shape).enum)


def test_every_run_task_and_batch_status_of_the_service_model_has_a_rank() -> None:
    assert [s for s in _enum("RunStatus") + _enum("TaskStatus") if run_rank(s) == 0] == []
    assert [s for s in _enum("BatchStatus") if batch_rank(s) == 0] == []


def test_a_batch_whose_run_deletion_failed_says_so_and_is_not_in_flight(table_name: str) -> None:
    # Given a processed batch whose runs were being deleted
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    recorder = Recorder(repository, omics=lambda: None)
    for status, minutes in (("RUNS_DELETING", 0), ("RUNS_DELETE_FAILED", 5)):
        # When the deletion fails (the status the service model and the sandbox know)
        recorder.record(parse_omics_event(batch_event("5000001", status, T0 + timedelta(minutes=minutes))))
    # Then the batch summary says so, and the batch is not counted in flight
    summary = repository.get_item(keys.batch_pk("5000001"), keys.SUMMARY) or {}
    assert summary.get("status") == "RUNS_DELETE_FAILED"
    assert "active_pk" not in summary
