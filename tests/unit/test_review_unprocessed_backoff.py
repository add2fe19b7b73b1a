"""BatchWriteItem under throttling answers 200 with UnprocessedItems: the SDK does not retry those (it backs
off only failed requests), so the repository must back off before sending them again (DynamoDB's guidance:
exponential back-off), not resend at once and give up after a few immediate tries."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from shared.provenance.repository import ProvenanceRepository


class _ThrottledTable:
    """A BatchWriteItem that leaves every item unprocessed `busy` times, then takes them."""

    def __init__(self, busy: int) -> None:
        self.busy, self.calls, self.written = busy, 0, []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        self.calls += 1
        (table, requests), = RequestItems.items()
        if self.calls <= self.busy:
            return {"UnprocessedItems": {table: requests}}
        self.written.extend(requests)
        return {"UnprocessedItems": {}}


def _items(n: int) -> list[dict[str, Any]]:
    return [{"pk": f"RUN#{i}", "sk": "SUMMARY", "entity": "RUN"} for i in range(n)]


def test_unprocessed_items_are_resent_after_growing_pauses() -> None:
    # Given a table that leaves the items unprocessed four times (a burst over its write capacity)
    table, pauses = _ThrottledTable(busy=4), []
    repository = ProvenanceRepository("t", client=table, sleep=pauses.append)
    # When items are written
    failed = repository.put_items(_items(3))
    # Then they are all written in the end, after pauses that grow between the tries
    assert failed == [] and len(table.written) == 3
    assert len(pauses) == 4 and all(b > a for a, b in pairwise(pauses))


def test_no_pause_when_the_table_takes_everything_at_once() -> None:
    table, pauses = _ThrottledTable(busy=0), []
    assert ProvenanceRepository("t", client=table, sleep=pauses.append).put_items(_items(30)) == []
    assert pauses == [] and table.calls == 2  # 25 + 5


class _ThrottledReads:
    """A BatchGetItem that leaves every key unprocessed `busy` times, then answers."""

    def __init__(self, busy: int) -> None:
        self.busy, self.calls = busy, 0

    def batch_get_item(self, RequestItems: dict[str, dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        (table, request), = RequestItems.items()
        if self.calls <= self.busy:
            return {"Responses": {table: []}, "UnprocessedKeys": {table: request}}
        return {"Responses": {table: [{**key, "entity": {"S": "RUN"}} for key in request["Keys"]]}}


def test_unprocessed_keys_are_read_again_after_growing_pauses() -> None:
    # Given a table that leaves the keys of a BatchGetItem unprocessed seven times
    table, pauses = _ThrottledReads(busy=7), []
    repository = ProvenanceRepository("t", client=table, sleep=pauses.append)
    # When the items are read
    found = repository.get_items([("RUN#1", "SUMMARY"), ("RUN#2", "SUMMARY")])
    # Then they are all read in the end, after pauses that grow between the tries
    assert sorted(found) == [("RUN#1", "SUMMARY"), ("RUN#2", "SUMMARY")]
    assert len(pauses) == 7 and all(b > a for a, b in pairwise(pauses))
