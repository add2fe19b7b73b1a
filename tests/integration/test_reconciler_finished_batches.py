"""A PROCESSED batch stays in the reconciler's active index until its members are recorded. Two consequences
must not follow: the BatchesInFlight gauge must not count it (it is not in flight, it is processed), and a
batch the user deleted (DeleteBatch works only in a terminal state, HEALTHOMICS.md §3: PROCESSED is one)
before its members were recorded must leave the index instead of costing a GetBatch on every sweep forever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from reconciler.logic import Reconciler, SweepReport

from shared.errors import RetryableError
from shared.events import parse_omics_event
from shared.provenance import keys
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import batch_event, create_provenance_table

T0 = datetime(2026, 2, 1, tzinfo=UTC)


class _DeletedBatches:
    """HealthOmics after DeleteBatch: GetBatch and ListRunsInBatch answer ResourceNotFoundException (before it,
    while `throttled`, ListRunsInBatch answers ThrottlingException)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.throttled = False

    def _gone(self, operation: str) -> ClientError:
        self.calls.append(operation)
        code = "ThrottlingException" if self.throttled else "ResourceNotFoundException"
        return ClientError({"Error": {"Code": code, "Message": "no"}}, operation)

    def get_batch(self, **_: Any) -> Any:
        raise self._gone("GetBatch")

    def list_runs_in_batch(self, **_: Any) -> Any:
        raise self._gone("ListRunsInBatch")


def test_a_processed_batch_is_not_in_flight_and_a_deleted_one_leaves_the_index(table_name: str) -> None:
    repository = ProvenanceRepository(table_name)
    omics = _DeletedBatches()
    recorder = Recorder(repository, omics=lambda: omics)
    # PROCESSED recorded, its members not: ListRunsInBatch was throttled (the message went to the DLQ)
    omics.throttled = True
    with pytest.raises(RetryableError):
        recorder.record(parse_omics_event(batch_event("b1", "PROCESSED", T0)))
    assert [i["batch_id"] for i in repository.active_since_before("BATCH", "~")] == ["b1"]
    omics.throttled = False  # and the batch was deleted meanwhile
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))

    report = reconciler.sweep(T0 + timedelta(hours=1))

    assert report.batches_in_flight == 0
    assert repository.active_since_before("BATCH", "~") == []
    # its members can no longer be listed: the record says so, rather than nothing
    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    assert "ResourceNotFoundException" in summary.get("members_error", ""), summary
    calls = len(omics.calls)
    reconciler.sweep(T0 + timedelta(hours=2))
    assert len(omics.calls) == calls  # nothing left to ask about


class _UnfinishedRuns(ProvenanceRepository):
    """A provenance table (moto) whose active index holds only terminal runs whose enrichment is unfinished."""

    def __init__(self, client: Any, count: int) -> None:
        super().__init__(create_provenance_table(client, "t"), client)
        self.items = [{"run_id": str(n), "run_uuid": f"u{n}", "status": "COMPLETED", "outcome": "COMPLETED",
                       "details_recorded_at": "2026-02-01T00:00:00Z", "enrichment_pending": True,
                       "active_sk": f"2026-02-01T00:00:00Z#{n}"} for n in range(count)]

    def active_since_before(self, kind: str, before: str) -> list[dict[str, Any]]:
        return self.items if kind == "RUN" else []


class _FinishingRecorder:
    def __init__(self, repository: ProvenanceRepository) -> None:
        self.repository, self.finished = repository, []
        self.omics = self._omics = _DeletedBatches()  # no ListRuns: a ListRuns pass fails the test

    def finish_run(self, run_id: str, run_uuid: str, final: str) -> None:
        self.finished.append(run_id)


def test_unfinished_terminal_runs_do_not_switch_the_sweep_to_list_runs() -> None:
    # Terminal runs are finished from their own records (GetRun + ListRunTasks in the recorder), never from
    # a ListRuns pass over the active statuses: they must not count towards the ListRuns threshold.
    with mock_aws():
        recorder = _FinishingRecorder(_UnfinishedRuns(boto3.client("dynamodb", region_name="us-east-1"), 5))
        reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30),  # type: ignore[arg-type]
                                list_runs_above=2)

        report = reconciler.sweep(T0 + timedelta(hours=1))

    assert not report.used_list_runs and recorder.finished == ["0", "1", "2", "3", "4"]


def test_a_table_write_that_may_succeed_later_defers_one_entity_not_the_whole_sweep() -> None:
    # e.g. a re-file of a batch's members whose BatchWriteItem left items unprocessed after its retries
    report = SweepReport(now="2026-02-01T01:00:00Z", threshold="2026-02-01T00:30:00Z")

    def throttled() -> None:
        raise ProvenanceError("batch b1: re-filed members were not all written", True)

    assert Reconciler._item(report, throttled) is True
    assert report.deferred == 1
