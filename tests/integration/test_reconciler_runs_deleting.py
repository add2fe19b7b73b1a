"""RUNS_DELETING is transitional (DeleteRunBatch is deleting the batch's runs); RUNS_DELETED (or the service
model's RUNS_DELETE_FAILED) follows it (HEALTHOMICS.md §3; the guide's [배치 실행 개념]). A batch recorded at
RUNS_DELETING used to leave the reconciler's `active` index as soon as its members were recorded, so when the
RUNS_DELETED event was lost (events are best effort) nothing ever noticed: provenance said RUNS_DELETING for
ever. Now such a batch stays indexed until a final status is recorded: one GetBatch per sweep at most heals the
lost status, and a batch GetBatch no longer knows (DeleteBatch, allowed only on a final status) leaves the index
with a note saying so, its last recorded status kept (which final status it reached is not known)."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from reconciler.logic import HEALED, Reconciler

from autopilot_cli.app import main as cli_main
from autopilot_cli.target import TableTarget
from shared.events import parse_omics_event
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import batch_event

T0 = datetime(2026, 2, 1, tzinfo=UTC)
ARN = "arn:aws:omics:us-east-1:123456789012:runBatch/b1"


class _Omics:
    """HealthOmics for one batch whose runs are being deleted: GetBatch answers `status` (None: the batch was
    deleted, ResourceNotFoundException); ListRunsInBatch keeps the run's entry with its deletion's outcome."""

    def __init__(self, status: str | None) -> None:
        self.status = status
        self.calls: list[str] = []

    def get_batch(self, **_: Any) -> dict[str, Any]:
        self.calls.append("GetBatch")
        if self.status is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "GetBatch")
        return {"id": "b1", "arn": ARN, "uuid": "uuid-b1", "status": self.status}

    def list_runs_in_batch(self, **_: Any) -> dict[str, Any]:
        self.calls.append("ListRunsInBatch")
        return {"runs": [{"runSettingId": "s1", "runId": "1111111", "submissionStatus": "DELETE_SUCCESS"}]}


def _record(recorder: Recorder, repository: ProvenanceRepository, status: str, minutes: int) -> None:
    outcome = recorder.record(parse_omics_event(batch_event("b1", status, T0 + timedelta(minutes=minutes))))
    repository.put_items(outcome.history)  # the handler's flush


def _summary(repository: ProvenanceRepository) -> dict[str, Any]:
    return repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}


def _indexed(repository: ProvenanceRepository) -> list[str]:
    return [i["batch_id"] for i in repository.active_since_before("BATCH", "~")]


def test_a_lost_runs_deleted_event_is_healed_by_the_reconciler(table_name: str) -> None:
    # Given a processed batch whose RUNS_DELETING event was recorded (it recorded the members) and whose
    # RUNS_DELETED event was lost
    repository = ProvenanceRepository(table_name)
    omics = _Omics("RUNS_DELETING")
    recorder = Recorder(repository, omics=lambda: omics)
    _record(recorder, repository, "PROCESSED", 0)
    _record(recorder, repository, "RUNS_DELETING", 5)
    assert _summary(repository)["members_recorded"] == 1
    # Then the batch is still where the reconciler looks: its deletion has not ended
    assert _indexed(repository) == ["b1"], "a batch at RUNS_DELETING left the reconciler's active index"

    # When a sweep runs while the runs are still being deleted: one GetBatch, nothing recorded, still indexed
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))
    calls = len(omics.calls)
    reconciler.sweep(T0 + timedelta(hours=1))
    assert omics.calls[calls:] == ["GetBatch"]
    assert _summary(repository)["status"] == "RUNS_DELETING" and _indexed(repository) == ["b1"]

    # When the deletion has ended (its event lost) and the next sweep runs
    omics.status = "RUNS_DELETED"
    calls = len(omics.calls)
    report = reconciler.sweep(T0 + timedelta(hours=2))

    # Then the record says RUNS_DELETED, healed once, and the batch leaves the index (its members not listed again)
    assert omics.calls[calls:] == ["GetBatch"]
    summary = _summary(repository)
    assert summary["status"] == "RUNS_DELETED" and "active_pk" not in summary
    assert [f"{h.recorded_status}->{h.status}" for h in report.healed] == ["RUNS_DELETING->RUNS_DELETED"]
    heals = [i for i in repository.batch_items("b1") if i.get("entity") == HEALED]
    assert [(h["from_status"], h["status"], h["source"]) for h in heals] == \
        [("RUNS_DELETING", "RUNS_DELETED", "GetBatch")]
    calls = len(omics.calls)
    reconciler.sweep(T0 + timedelta(hours=3))
    assert omics.calls[calls:] == []  # nothing left to ask about


def test_a_batch_deleted_after_runs_deleting_leaves_the_index_and_the_record_says_so(table_name: str) -> None:
    # Given a batch recorded at RUNS_DELETING, whose RUNS_DELETED event was lost, and which was then deleted
    # (DeleteBatch: GetBatch answers ResourceNotFoundException)
    repository = ProvenanceRepository(table_name)
    omics = _Omics(None)
    recorder = Recorder(repository, omics=lambda: omics)
    _record(recorder, repository, "RUNS_DELETING", 0)
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))

    # When the reconciler sweeps
    calls = len(omics.calls)
    reconciler.sweep(T0 + timedelta(hours=1))

    # Then it asked once, and the batch leaves the index; the record keeps the last status it saw (RUNS_DELETED
    # and RUNS_DELETE_FAILED may both be deleted: which one it reached is not known) and says the batch is gone
    assert omics.calls[calls:] == ["GetBatch"]
    summary = _summary(repository)
    assert summary["status"] == "RUNS_DELETING" and "active_pk" not in summary
    assert "ResourceNotFoundException" in summary.get("gone", ""), summary
    assert summary["members_recorded"] == 1 and "members_error" not in summary
    calls = len(omics.calls)
    reconciler.sweep(T0 + timedelta(hours=2))
    assert omics.calls[calls:] == []
    # and `autopilot batch show` tells the operator why the status may be behind
    stdout = io.StringIO()
    target = TableTarget(table_name, boto3.Session(region_name="us-east-1"))
    assert cli_main(["batch", "show", "b1"], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    assert "batch b1: GetBatch b1: ResourceNotFoundException: the batch was deleted" in stdout.getvalue()

    # And a late RUNS_DELETED event still moves the record forward, out of the index
    _record(recorder, repository, "RUNS_DELETED", 10)
    summary = _summary(repository)
    assert summary["status"] == "RUNS_DELETED" and "active_pk" not in summary


EVENTS = [("PROCESSED", 0), ("RUNS_DELETING", 5), ("RUNS_DELETED", 9)]


def _final_state(table_name: str, order: list[int], lost: set[str]) -> dict[str, Any]:
    """The batch's recorded state after `order` of EVENTS (indexes; those in `lost` never arrive) and sweeps."""
    repository = ProvenanceRepository(table_name)
    repository.delete_item(keys.batch_pk("b1"), keys.SUMMARY)
    for item in repository.batch_items("b1"):
        repository.delete_item(item["pk"], item["sk"])
    omics = _Omics("RUNS_DELETED")
    recorder = Recorder(repository, omics=lambda: omics)
    for index in order:
        status, minutes = EVENTS[index]
        if status not in lost:
            _record(recorder, repository, status, minutes)
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))
    reconciler.sweep(T0 + timedelta(hours=1))
    reconciler.sweep(T0 + timedelta(hours=2))
    summary = _summary(repository)
    return {"status": summary.get("status"), "indexed": "active_pk" in summary,
            "members": summary.get("members_recorded"), "list_calls": omics.calls.count("ListRunsInBatch")}


@pytest.mark.parametrize("lost", [set(), {"RUNS_DELETED"}, {"PROCESSED", "RUNS_DELETED"}],
                         ids=["none lost", "RUNS_DELETED lost", "PROCESSED and RUNS_DELETED lost"])
def test_any_order_duplication_or_loss_of_the_deletion_events_converges(table_name: str, lost: set[str]) -> None:
    # Given the events of a batch whose runs are deleted, in every order, some duplicated, some lost
    orders = [list(p) for p in itertools.permutations(range(len(EVENTS)))] + [[1, 0, 1, 2, 1, 0], [2, 1, 1, 0, 2]]
    # Then every order ends with the same record: RUNS_DELETED, out of the index, members listed once
    states = {repr(_final_state(table_name, order, lost)) for order in orders}
    assert states == {repr({"status": "RUNS_DELETED", "indexed": False, "members": 1, "list_calls": 1})}
