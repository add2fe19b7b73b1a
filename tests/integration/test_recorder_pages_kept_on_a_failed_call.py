"""The ListRunTasks (and ListRunsInBatch) cursor was saved only when the invocation ran short of time. A page call
that failed (a ThrottlingException after the SDK's retries, or the bounded client's DeadlineExceeded: both retryable)
failed the record with the pages of that receive written but no cursor saved, so every redelivery started again from
the last saved cursor. Found by review D: under quota contention (about one call in 40 failing) the user saw an
8,000-task run's COMPLETED event list pages 0-39 five times and go to the DLQ. The cursor after the last page
written is now saved before the error is raised."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

import recorder.handler as handler_module
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from tests.factories import batch_event, run_event
from tests.integration.recorder_queue import ProvenanceQueue
from tests.integration.test_recorder_large_batch_continuation import PAGES, PagedBatch
from tests.integration.test_recorder_many_tasks_continuation import ManyTasks

pytest_plugins = ["tests.integration.recorder_queue"]  # the `provenance_queue` fixture

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
FAILS_EVERY = 40  # calls of one receive


def test_a_failed_task_page_keeps_the_progress_of_the_pages_before_it(
        table_name: str, provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = provenance_queue
    omics = ManyTasks(queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    listed: list[int] = []
    receive_of_page: dict[float, int] = {}

    def throttled_now_and_then(n: int) -> None:
        start = queue.clock.starts[-1]
        receive_of_page[start] = receive_of_page.get(start, 0) + 1
        if receive_of_page[start] == FAILS_EVERY + 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListRunTasks")
        listed.append(n)

    omics.before_page = throttled_now_and_then
    queue.drain(run_event("6100001", "COMPLETED", T0))
    summary = ProvenanceRepository(table_name, boto3.client("dynamodb")).run_summary("6100001", "uuid-6100001") or {}
    assert queue.dead_letters == [] and "details_recorded_at" in summary, (
        f"COMPLETED event to the DLQ after receives {queue.receives}; pages listed {len(listed)} times, "
        f"distinct {len(set(listed))} of 80, highest {max(listed)}; tasks_cursor {summary.get('tasks_cursor')}")


def test_a_failed_members_page_keeps_the_progress_of_the_pages_before_it(
        table_name: str, provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a huge batch's ListRunsInBatch pages: each receive's 41st call is throttled. Its 5 receives
    list 200 distinct pages, none twice (before: pages 0-39 five times). A page call failing every receive still
    counts each receive towards the DLQ, as any failure does: here its 300 pages need 8."""
    queue = provenance_queue
    omics = PagedBatch(queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    calls_of_receive: dict[float, int] = {}

    listed: list[int] = []

    def throttled_now_and_then(n: int) -> None:
        start = queue.clock.starts[-1]
        calls_of_receive[start] = calls_of_receive.get(start, 0) + 1
        if calls_of_receive[start] == FAILS_EVERY + 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                              "ListRunsInBatch")
        listed.append(n)

    omics.before_page = throttled_now_and_then
    queue.drain(batch_event("BTHROTTLED", "PROCESSED", T0, {"totalRuns": 30_000}))
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    summary = repository.get_item(keys.batch_pk("BTHROTTLED"), keys.SUMMARY) or {}
    assert sorted(listed) == list(range(5 * FAILS_EVERY)), f"pages listed {len(listed)}, {len(set(listed))} distinct"
    assert int(summary["members_cursor"]) == 5 * FAILS_EVERY < PAGES, summary
