"""Every status botocore's omics model knows is ordered: an unknown status ranks 0, below everything, so its
observation would never reach a summary (and the reconciler would take the API's answer as older)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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


class _Omics:
    """ListRunsInBatch while the runs are deleted: the entries stay, with their deletion's outcome."""

    def __init__(self) -> None:
        self.calls = 0

    def list_runs_in_batch(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {"runs": [{"runSettingId": "s1", "runId": "1111111", "submissionStatus": "DELETE_FAILED"}]}


def test_a_batch_whose_run_deletion_failed_says_so_and_is_not_in_flight(table_name: str) -> None:
    # Given a processed batch whose runs were being deleted (only these events delivered)
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    omics = _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    for status, minutes in (("RUNS_DELETING", 0), ("RUNS_DELETE_FAILED", 5)):
        # When the deletion fails (the status the service model and the sandbox know)
        recorder.record(parse_omics_event(batch_event("5000001", status, T0 + timedelta(minutes=minutes))))
    # Then the batch summary says so, its members are recorded once (by the first of them), and the batch is
    # not counted in flight
    summary = repository.get_item(keys.batch_pk("5000001"), keys.SUMMARY) or {}
    assert summary.get("status") == "RUNS_DELETE_FAILED"
    assert summary.get("members_recorded") == 1 and omics.calls == 1
    assert "active_pk" not in summary
