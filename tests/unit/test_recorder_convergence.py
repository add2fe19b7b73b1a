"""Property: any permutation and duplication of the same events converges to the same items, whichever
SQS batches they arrive in (the recorder's handler writes a batch's history items at its end, in bulk)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.events import parse_omics_event
from shared.provenance.repository import ProvenanceRepository, deserialize
from shared.recorder import Recorder
from tests.conftest import module_moto_dynamodb
from tests.factories import batch_event, create_provenance_table, get_run_response, run_lifecycle, sqs_batches

T0 = datetime(2026, 2, 1, tzinfo=UTC)


class FakeOmics:
    """Answers GetRun / ListRunTasks / ListRunsInBatch from fixed truth and counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_run(self, id: str) -> dict[str, Any]:
        self.calls.append("GetRun")
        return get_run_response(id, "FAILED" if id == "2" else "COMPLETED",
                                tags={"autopilot:sample": f"S-{id}"}, batchId="B1")

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class _Paginator:
            def paginate(self, **params: Any) -> Any:
                fake.calls.append("ListRunTasks")
                run_id = params["id"]
                yield {"items": [{"taskId": f"{run_id}{t:03d}", "name": f"task{t}", "status": "COMPLETED",
                                  "cacheHit": False} for t in range(3)]}

        return _Paginator()

    def list_runs_in_batch(self, **params: Any) -> dict[str, Any]:
        self.calls.append("ListRunsInBatch")
        return {"runs": [{"runSettingId": f"S-{i}", "runId": str(i), "submissionStatus": "SUCCESS"}
                         for i in (1, 2)]}


def _events() -> list[dict[str, Any]]:
    events = run_lifecycle("1", "COMPLETED", 3, T0) + run_lifecycle("2", "FAILED", 3, T0)
    events += [batch_event("B1", s, T0.replace(minute=i), {"totalRuns": 2})
               for i, s in enumerate(["CREATING", "PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED"])]
    return events


EVENTS = _events()
VOLATILE = {"details_recorded_at", "recorded_at", "members_recorded_at"}


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with module_moto_dynamodb() as client:  # each play checks its backend holds no table, and deletes its own
        yield client


def _final_items(client: Any, order: list[int], batch_sizes: list[int] | None = None,
                 ) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    assert client.list_tables()["TableNames"] == []  # nothing left by an earlier play
    repository = ProvenanceRepository(create_provenance_table(client), client)
    try:
        omics = FakeOmics()
        recorder = Recorder(repository, omics=lambda: omics, now=lambda: T0)
        for batch in sqs_batches(order, batch_sizes or [1]):
            history = [item for index in batch for item in recorder.record(parse_omics_event(EVENTS[index])).history]
            repository.put_items(history)  # the handler's flush, once per batch
        items = client.scan(TableName=repository.table_name)["Items"]
    finally:
        client.delete_table(TableName=repository.table_name)
    final = {}
    for raw in items:
        item = {k: v for k, v in deserialize(raw).items() if k not in VOLATILE}
        final[(item["pk"], item["sk"])] = item
    return final, omics.calls


@pytest.fixture(scope="module")
def baseline(dynamodb: Any) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """The events in order, recorded once where this module runs (not at each xdist worker's collection)."""
    return _final_items(dynamodb, list(range(len(EVENTS))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(EVENTS) - 1), min_size=len(EVENTS),
                max_size=3 * len(EVENTS)).flatmap(
    lambda extra: st.permutations(list(range(len(EVENTS))) + extra[: len(EVENTS)])),
       st.one_of(st.just([1]),  # one event a batch, history written before the next: about half the examples
                 st.lists(st.integers(min_value=1, max_value=2 * len(EVENTS)), min_size=1, max_size=8)))
def test_any_permutation_with_duplicates_converges(
        dynamodb: Any, baseline: tuple[dict[tuple[str, str], dict[str, Any]], list[str]],
        order: list[int], batch_sizes: list[int]) -> None:
    final, calls = _final_items(dynamodb, order, batch_sizes)
    baseline_items, baseline_calls = baseline
    assert final == baseline_items
    # HealthOmics is asked once per run and once per batch, whatever the order and duplication.
    assert sorted(calls) == sorted(baseline_calls)


def test_baseline_is_what_the_events_say(baseline: tuple[dict[tuple[str, str], dict[str, Any]], list[str]]) -> None:
    items, baseline_calls = baseline
    summary_1 = items[("RUN#1", "SUMMARY#uuid-1")]
    summary_2 = items[("RUN#2", "SUMMARY#uuid-2")]
    assert summary_1["status"] == "COMPLETED" and "unresolved_pk" not in summary_1
    assert summary_2["status"] == "FAILED" and summary_2["unresolved_pk"] == "UNRESOLVED"
    assert items[("BATCH#B1", "SUMMARY")]["status"] == "PROCESSED"
    assert sorted(baseline_calls) == ["GetRun", "GetRun", "ListRunTasks", "ListRunTasks", "ListRunsInBatch"]
