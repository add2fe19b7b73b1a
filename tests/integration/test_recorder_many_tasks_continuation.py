"""A run with too many tasks to list in one receive is enriched whole, and its event never reaches the DLQ for it.

What went wrong (reviewer A): the enrichment paged ListRunTasks from the first page on every receive (no cursor
was kept, unlike a batch's members). An 8,000-task run (80 pages at 1.25 calls/s: 64 s, more than the 60 s
timeout) failed every receive at the same page, and its COMPLETED event went to the DLQ after 5 receives with
the run's details (inputs, digests, cache, sample, lineage, cost) never recorded. Any run with more than ~6,000
tasks. The recorder now saves the ListRunTasks cursor in the run's summary, sends the event again to its own
queue (a continuation, a new message) and lets the record succeed; the resume prices the tasks already recorded
from the table, so the run's cost covers every task once.

What it rests on, as deployed (synthesized stack, default config): recorder timeout 60 s, per-instance budget
for the run quota group 1.25 calls/s (OMICS_RATE_LIMITS {"run": 1.25}; guide §5: GetRun/ListRunTasks 10 TPS
shared), queue redrive maxReceiveCount 5. ListRunTasks returns 100 tasks a page (guide §2); one task a page
here keeps moto quick, the pages are what the time is spent on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

import recorder.handler as handler_module
from shared.omics import DeadlineExceeded
from shared.provenance.cost_repository import CostRepository
from shared.provenance.repository import ProvenanceRepository
from tests.factories import get_run_response, list_run_tasks_response, run_event
from tests.integration.recorder_queue import MAX_RECEIVE_COUNT, Clock, ProvenanceQueue

pytest_plugins = ["tests.integration.recorder_queue"]  # the `provenance_queue` fixture

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
RUN_GROUP_CALLS_PER_SECOND = 1.25
TASK_PAGES = 80  # an 8,000-task run (a scatter-gather WGS pipeline)


class ManyTasks:
    """GetRun and ListRunTasks at the recorder's deployed rate; a call that cannot finish before the invocation's
    deadline raises DeadlineExceeded, as shared.omics's bounded client does. `workflows`: the workflow id GetRun
    gives each run (its cost line is not another's same-name estimate)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.workflows: dict[str, str] = {}
        self.pages_listed = 0
        self.before_page: Callable[[int], None] = lambda _n: None

    def _call(self) -> None:
        if self.clock.time_left() - 1 / RUN_GROUP_CALLS_PER_SECOND < 1:
            raise DeadlineExceeded("ListRunTasks: no time left for the call")
        self.clock.elapsed += 1 / RUN_GROUP_CALLS_PER_SECOND

    def get_run(self, id: str) -> dict[str, Any]:
        self._call()
        return get_run_response(id, "COMPLETED", workflowId=self.workflows.get(id, "1234567"))

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_run_tasks"
        outer = self

        class Pages:
            def paginate(self, id: str, startingToken: str | None = None) -> Iterator[dict[str, Any]]:
                for n in range(int(startingToken or "0"), TASK_PAGES):
                    outer.before_page(n)
                    outer._call()
                    outer.pages_listed += 1
                    yield list_run_tasks_response(id, 1, start=n,
                                                  next_token=str(n + 1) if n + 1 < TASK_PAGES else None)

        return Pages()


@pytest.fixture
def world(provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> tuple[ProvenanceQueue, ManyTasks]:
    omics = ManyTasks(provenance_queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    return provenance_queue, omics


def _summary(table_name: str, run_id: str) -> dict[str, Any]:
    return ProvenanceRepository(table_name, boto3.client("dynamodb")).run_summary(run_id, f"uuid-{run_id}") or {}


def _tasks(table_name: str, run_id: str) -> list[dict[str, Any]]:
    return CostRepository(ProvenanceRepository(table_name, boto3.client("dynamodb"))).run_tasks(run_id,
                                                                                               f"uuid-{run_id}")


def test_an_8000_task_runs_completed_event_is_enriched_through_a_continuation_none_to_the_dlq(
        table_name: str, world: tuple[ProvenanceQueue, ManyTasks]) -> None:
    """The first receive lists ~60 pages, saves the cursor and sends a continuation, which lists the rest: two
    messages, each recorded at its first receive (before: 5 failed receives, the DLQ, no details). Each page is
    listed once, and the cost is the one a single invocation with time enough gives (another run, same tasks)."""
    queue, omics = world
    omics.workflows = {"6000001": "1111111", "6000002": "2222222"}
    queue.drain(run_event("6000001", "COMPLETED", T0, workflow_id="1111111"))
    assert queue.dead_letters == [], f"to the DLQ after receives {queue.receives}"
    assert queue.receives == [1, 1], queue.receives
    assert omics.pages_listed == TASK_PAGES
    summary = _summary(table_name, "6000001")
    assert "details_recorded_at" in summary and "enrichment_pending" not in summary, summary
    assert "tasks_cursor" not in summary and "active_pk" not in summary
    assert len(_tasks(table_name, "6000001")) == TASK_PAGES

    # The same tasks enriched in one go (the clock given all the time it needs): the same cost, every task once
    omics.pages_listed = 0
    queue.clock.timeout = 3600.0
    queue.drain(run_event("6000002", "COMPLETED", T0, workflow_id="2222222"))
    assert queue.receives == [1, 1, 1] and omics.pages_listed == TASK_PAGES
    whole = _summary(table_name, "6000002")
    assert summary["cost"] == whole["cost"]
    assert ({t["task_id"][-3:]: t["cost"] for t in _tasks(table_name, "6000001")}
            == {t["task_id"][-3:]: t["cost"] for t in _tasks(table_name, "6000002")})


def test_duplicated_and_late_continuations_enrich_once(
        table_name: str, world: tuple[ProvenanceQueue, ManyTasks]) -> None:
    """The event delivered twice, the second copy while the first's continuation is pending, and again after
    the run is enriched: each copy resumes from the saved cursor or does nothing; the tasks are written and
    priced once each."""
    queue, _ = world
    completed = run_event("6000003", "COMPLETED", T0)
    queue.deliver(completed)
    continuations = list(queue.sent())
    assert len(continuations) == 1 and "tasks_cursor" in _summary(table_name, "6000003")
    queue.deliver(completed)  # a duplicate: resumes from the cursor and finishes
    for body in [*continuations, *queue.sent(), completed]:  # late: enriched already, nothing to do
        queue.deliver(body)
    assert list(queue.sent()) == [] and queue.dead_letters == [] and queue.receives == [1] * 4
    summary = _summary(table_name, "6000003")
    assert "details_recorded_at" in summary and "tasks_cursor" not in summary
    tasks = _tasks(table_name, "6000003")
    assert len(tasks) == TASK_PAGES
    # every task priced once (and the run's storage), every cache hit's avoided cost once
    assert summary["cost"]["items"] == TASK_PAGES + 1 and summary["cost"]["avoided_items"] == TASK_PAGES // 2


def test_a_stale_checkpoint_never_moves_the_task_cursor_back(table_name: str) -> None:
    """Two invocations that read the same cursor: the second to save its own finds it moved and carries nothing
    on (the first's continuation does)."""
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    assert repository.put_items([{**repository.run_summary_key("1", "uuid-1"), "entity": "RUN"}]) == []
    assert repository.checkpoint_run_tasks("1", "uuid-1", "50", None)
    assert not repository.checkpoint_run_tasks("1", "uuid-1", "40", None)
    assert repository.checkpoint_run_tasks("1", "uuid-1", "90", "50")
    assert not repository.checkpoint_run_tasks("1", "uuid-1", "70", "50")
    assert repository.run_summary("1", "uuid-1")["tasks_cursor"] == "90"


def test_a_run_whose_task_listing_makes_no_progress_still_goes_to_the_dlq(
        table_name: str, world: tuple[ProvenanceQueue, ManyTasks]) -> None:
    """Every receive runs out of time before its first task page (the calls are slower than the deadline
    allows): no cursor saved, no continuation; the record fails each time and its message goes to the DLQ."""
    queue, omics = world

    def too_slow(_n: int) -> None:
        queue.clock.elapsed += 60

    omics.before_page = too_slow
    queue.drain(run_event("6000004", "COMPLETED", T0))
    assert len(queue.dead_letters) == 1 and queue.receives == [MAX_RECEIVE_COUNT]
    assert "details_recorded_at" not in _summary(table_name, "6000004")
