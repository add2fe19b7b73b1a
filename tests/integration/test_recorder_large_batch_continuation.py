"""A batch too large to list in one receive is recorded whole, and its event never reaches the DLQ for it.

What went wrong (reviewer A): recording the members of a batch of more than ~25,000 runs (ListRunsInBatch, 100
a page) checkpointed the cursor and failed the SQS record so it came back; every receive made progress, yet
each counted towards the queue's maxReceiveCount (5). The PROCESSED event of a 30,000-run batch ended in the
alarmed DLQ with members unrecorded. The recorder now saves the cursor, sends the same event again as a new
message on its own queue (a continuation: a receive count of its own) and lets the record succeed.

What it rests on, as deployed (synthesized stack, default config): the recorder's timeout is 60 s, its
per-instance budget for the batch quota group 1.0 call/s (OMICS_RATE_LIMITS {"batch": 1.0}: 10 TPS shared by 10
instances, guide §5), and its queue's redrive maxReceiveCount 5. One row a page keeps moto quick; a page costs
1 s of the invocation, as at the deployed rate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import recorder.handler as handler_module
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from tests.factories import batch_event
from tests.integration.recorder_queue import MAX_RECEIVE_COUNT, Clock, ProvenanceQueue

pytest_plugins = ["tests.integration.recorder_queue"]  # the `provenance_queue` fixture

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BATCH_GROUP_CALLS_PER_SECOND = 1.0  # the recorder's OMICS_RATE_LIMITS as synthesized (default config)
PAGES = 300  # a 30,000-run batch: 300 ListRunsInBatch pages of 100 (one row a page here)


class PagedBatch:
    """ListRunsInBatch at the recorder's deployed rate: each page costs 1 s of the invocation. `before_page`
    runs before a page is answered (a concurrent invocation); `throttled_from`: every page from it on is
    refused (ThrottlingException)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.before_page: Callable[[int], None] = lambda _n: None
        self.throttled_from: int | None = None

    def list_runs_in_batch(self, batchId: str, maxItems: int, startingToken: str | None = None) -> dict[str, Any]:
        n = int(startingToken or "0")
        self.before_page(n)
        self.clock.elapsed += 1 / BATCH_GROUP_CALLS_PER_SECOND
        if self.throttled_from is not None and n >= self.throttled_from:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                              "ListRunsInBatch")
        page: dict[str, Any] = {"runs": [{"runSettingId": f"s{n:05d}", "runId": f"9{n:06d}",
                                          "runInternalUuid": f"u{n}", "submissionStatus": "SUCCESS"}]}
        if n + 1 < PAGES:
            page["nextToken"] = str(n + 1)
        return page


@pytest.fixture
def world(provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> tuple[ProvenanceQueue, PagedBatch]:
    omics = PagedBatch(provenance_queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    return provenance_queue, omics


def _summary(table_name: str, batch_id: str) -> dict[str, Any]:
    return ProvenanceRepository(table_name, boto3.client("dynamodb")).get_item(keys.batch_pk(batch_id),
                                                                               keys.SUMMARY) or {}


def _members(table_name: str, batch_id: str) -> list[dict[str, Any]]:
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    return list(repository.iter_with_prefix(keys.batch_pk(batch_id), keys.member_sk(""), ConsistentRead=True))


def test_a_30000_run_batchs_members_are_all_recorded_through_continuations_none_to_the_dlq(
        table_name: str, world: tuple[ProvenanceQueue, PagedBatch]) -> None:
    """Each receive lists ~50 pages, saves the cursor and sends a continuation: 300 pages take 7 messages, each
    recorded at its first receive (before: 5 failed receives of one message, then the DLQ, 255 pages recorded)."""
    queue, _ = world
    queue.drain(batch_event("B30K", "PROCESSED", T0, {"totalRuns": 30_000}))
    summary = _summary(table_name, "B30K")
    assert queue.dead_letters == [], f"to the DLQ after receives {queue.receives}"
    assert queue.receives == [1] * len(queue.receives), queue.receives
    assert 6 <= len(queue.receives) <= 8, f"{len(queue.receives)} messages for {PAGES} pages at ~50 a receive"
    assert "members_recorded_at" in summary and summary["members_recorded"] == PAGES, summary
    assert "members_cursor" not in summary
    assert len(_members(table_name, "B30K")) == PAGES


def test_duplicated_and_concurrent_continuations_neither_double_count_nor_lose_members(
        table_name: str, world: tuple[ProvenanceQueue, PagedBatch]) -> None:
    """A duplicate of the event starts while the first invocation pages (both read the same cursor): the one
    that saves its cursor first carries the listing on; the other's checkpoint finds the cursor moved and it
    stops without a continuation. A duplicate delivered after the batch is recorded does nothing."""
    queue, omics = world
    processed = batch_event("BDUP", "PROCESSED", T0, {"totalRuns": 30_000})

    def duplicate_once(n: int) -> None:
        if n == 10:
            omics.before_page = lambda _n: None
            assert queue.receive_once(processed)  # runs (and checkpoints) within the first invocation

    omics.before_page = duplicate_once
    queue.drain(processed)
    assert queue.dead_letters == []
    summary = _summary(table_name, "BDUP")
    assert summary.get("members_recorded") == PAGES, summary
    queue.deliver(processed)  # late: nothing left to do, and nothing sent
    assert list(queue.sent()) == []
    summary = _summary(table_name, "BDUP")
    assert summary.get("members_recorded") == PAGES and "members_cursor" not in summary, summary
    assert len(_members(table_name, "BDUP")) == PAGES


def test_a_listing_that_makes_no_progress_still_fails_and_goes_to_the_dlq(
        table_name: str, world: tuple[ProvenanceQueue, PagedBatch]) -> None:
    """ListRunsInBatch refused from page 120 on: the receives that list pages continue; the one that saves no
    cursor fails each time, sends nothing, and its message goes to the DLQ (its alarm says so)."""
    queue, omics = world
    omics.throttled_from = 120
    queue.drain(batch_event("BSTUCK", "PROCESSED", T0, {"totalRuns": 30_000}))
    summary = _summary(table_name, "BSTUCK")
    assert len(queue.dead_letters) == 1 and queue.receives[-1] == MAX_RECEIVE_COUNT, queue.receives
    assert "members_recorded_at" not in summary
    # The cursor saved at the refused page: the pages before it are never listed again.
    cursor = int(summary["members_cursor"])
    assert cursor == 120 and summary.get("members_count_so_far") == cursor, summary
