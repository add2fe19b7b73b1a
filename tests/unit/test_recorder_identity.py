"""Property: run identity is (run id, run uuid). Shuffled and duplicated traces that include DELETED
events and a deleted run's id reused by a new run converge to the truth, and every run that reached a
terminal status keeps that outcome, whatever arrived first.

Guide, "Working with HealthOmics runs" (HealthOmics 실행 사용): "HealthOmics reuses the IDs of deleted
runs, so a run and a deleted run can have the same run ID"; the run uuid tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.events import parse_omics_event
from shared.provenance.repository import ProvenanceRepository, deserialize
from shared.provenance.views import run_view, run_views
from shared.recorder import Recorder
from tests.conftest import module_moto_dynamodb
from tests.factories import create_provenance_table, get_run_response, run_event, run_lifecycle, sqs_batches

T0 = datetime(2026, 2, 1, tzinfo=UTC)
VOLATILE = {"details_recorded_at", "recorded_at"}


def _as(events: list[dict[str, Any]], run_uuid: str) -> list[dict[str, Any]]:
    """The same events, of the run with `run_uuid` (run events carry uuid, task events runUuid)."""
    for event in events:
        event["detail"]["uuid" if event["detail-type"] == "Run Status Change" else "runUuid"] = run_uuid
    return events


def _trace() -> list[dict[str, Any]]:
    # Run 1 (uuid-a) fails and is deleted; the service then gives id 1 to a new run (uuid-b) that completes.
    first = _as(run_lifecycle("1", "FAILED", 2, T0), "uuid-a")
    first += _as([run_event("1", "DELETED", T0 + timedelta(minutes=5))], "uuid-a")
    reused = _as(run_lifecycle("1", "COMPLETED", 2, T0 + timedelta(hours=1)), "uuid-b")
    # Run 2 completes and is deleted before anyone enriched it.
    other = _as([*run_lifecycle("2", "COMPLETED", 1, T0), run_event("2", "DELETED", T0 + timedelta(minutes=9))],
                "uuid-2")
    return first + reused + other


TRACE = _trace()


class TruthOmics:
    """HealthOmics as it is after the trace: id 1 names the new run (uuid-b); run 2 is gone."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_run(self, id: str) -> dict[str, Any]:
        self.calls.append(f"GetRun {id}")
        if id == "2":
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "GetRun")
        return get_run_response(id, "COMPLETED", uuid="uuid-b", creationTime=T0 + timedelta(hours=1))

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class _Paginator:
            def paginate(self, **params: Any) -> Any:
                fake.calls.append(f"ListRunTasks {params['id']}")
                yield {"items": [{"taskId": f"{params['id']}{t:03d}", "name": f"task{t}", "status": "COMPLETED"}
                                 for t in range(2)]}

        return _Paginator()


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with module_moto_dynamodb() as client:  # each play checks its backend holds no table, and deletes its own
        yield client


@contextmanager
def _played(client: Any, order: list[int], batch_sizes: list[int] | None = None,
            ) -> Iterator[tuple[dict[tuple[str, str], dict[str, Any]], list[str], ProvenanceRepository]]:
    """The events in `order`, in SQS batches of `batch_sizes` (one event each by default): the recorder's handler
    writes a batch's history items at its end, in bulk. The table is there until the block ends."""
    assert client.list_tables()["TableNames"] == []  # nothing left by an earlier play
    repository = ProvenanceRepository(create_provenance_table(client, f"t{len(order)}-{hash(tuple(order))}"), client)
    try:
        omics = TruthOmics()
        recorder = Recorder(repository, omics=lambda: omics, now=lambda: T0)
        for batch in sqs_batches(order, batch_sizes or [1]):
            history = [item for index in batch for item in recorder.record(parse_omics_event(TRACE[index])).history]
            repository.put_items(history)
        final = {}
        for raw in client.scan(TableName=repository.table_name)["Items"]:
            item = {k: v for k, v in deserialize(raw).items() if k not in VOLATILE}
            final[(item["pk"], item["sk"])] = item
        yield final, omics.calls, repository
    finally:
        client.delete_table(TableName=repository.table_name)


def _play(client: Any, order: list[int], batch_sizes: list[int] | None = None,
          ) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    with _played(client, order, batch_sizes) as (final, calls, _):
        return final, calls


@pytest.fixture(scope="module")
def baseline(dynamodb: Any) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """The trace in order, played once where this module runs (not at each xdist worker's collection)."""
    return _play(dynamodb, list(range(len(TRACE))))


def test_in_order_trace_records_both_runs_that_carried_the_id(dynamodb: Any) -> None:
    # Given the trace in true time order (the baseline)
    with _played(dynamodb, list(range(len(TRACE)))) as (_, _, repository):
        # When every run that carried id 1 is asked for
        views = run_views(repository, "1")
        # Then there are two, told apart by uuid, oldest first, each with its own outcome and tasks
        assert [(v.run_uuid, v.status, v.outcome) for v in views] == [
            ("uuid-a", "DELETED", "FAILED"), ("uuid-b", "COMPLETED", "COMPLETED")]
        assert [len(v.tasks) for v in views] == [2, 2]
        # and the new run is the one GetRun described; the deleted one is recorded as gone, not as uuid-b
        assert views[1].summary["digest"] == "sha256:abc"
        assert "another run" in views[0].summary["status_message"] and "digest" not in views[0].summary
        # and "the run with id 1" is, by default, the live one
        latest = run_view(repository, "1")
        assert latest is not None and latest.run_uuid == "uuid-b"
        deleted = run_view(repository, "2")
        assert deleted is not None and (deleted.status, deleted.outcome) == ("DELETED", "COMPLETED")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(TRACE) - 1), max_size=len(TRACE)).flatmap(
    lambda extra: st.permutations(list(range(len(TRACE))) + extra)),
       st.one_of(st.just([1]),  # one event a batch, history written before the next: about half the examples
                 st.lists(st.integers(min_value=1, max_value=2 * len(TRACE)), min_size=1, max_size=8)))
def test_any_order_with_duplicates_converges_and_keeps_every_outcome(
        dynamodb: Any, baseline: tuple[dict[tuple[str, str], dict[str, Any]], list[str]],
        order: list[int], batch_sizes: list[int]) -> None:
    # Given any permutation of the trace with duplicates (DELETED may come before the terminal event), in any
    # SQS batches
    final, calls = _play(dynamodb, order, batch_sizes)
    baseline_items, baseline_calls = baseline
    # Then the table is exactly the in-order one
    assert final == baseline_items
    # and every run that reached a terminal status has its outcome, DELETED or not
    outcomes = {k[1]: v.get("outcome") for k, v in final.items() if k[1].startswith("SUMMARY#")}
    assert outcomes == {"SUMMARY#uuid-a": "FAILED", "SUMMARY#uuid-b": "COMPLETED", "SUMMARY#uuid-2": "COMPLETED"}
    # and HealthOmics was asked once per run, whatever the order (ListRunTasks only for the live run)
    assert sorted(calls) == sorted(baseline_calls) == ["GetRun 1", "GetRun 1", "GetRun 2", "ListRunTasks 1"]
