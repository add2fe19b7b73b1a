"""BatchWriteItem under throttling answers 200 with UnprocessedItems: the SDK does not retry those (it backs
off only failed requests), so the repository must back off before sending them again (DynamoDB's guidance:
exponential back-off), not resend at once and give up after a few immediate tries."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from shared.provenance.repository import UNPROCESSED_RESERVE_SECONDS, ProvenanceError, ProvenanceRepository


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


class _InvocationClock:
    """A Lambda invocation's remaining time that the repository's pauses use up."""

    def __init__(self, seconds: float) -> None:
        self.left, self.pauses = seconds, []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.left -= seconds

    def time_left(self) -> float:
        return self.left


def test_pauses_stop_before_the_invocation_runs_out_and_the_items_are_reported_unwritten() -> None:
    # Given a table that stays busy, in an invocation with little time left (the recorder after 4 chunks of a
    # 100-task page would otherwise sleep up to 12.6 s, past its 10 s enrichment budget, into the timeout)
    clock = _InvocationClock(UNPROCESSED_RESERVE_SECONDS + 0.5)
    repository = ProvenanceRepository("t", client=_ThrottledTable(busy=99), sleep=clock.sleep,
                                      time_left=clock.time_left)
    # When items are written, and when keys are read
    failed = repository.put_items(_items(3))
    # Then it stops pausing while the reserve is still left: the caller reports them unwritten and is retried
    assert len(failed) == 3 and clock.left >= UNPROCESSED_RESERVE_SECONDS
    reads = ProvenanceRepository("t", client=_ThrottledReads(busy=99), sleep=clock.sleep, time_left=clock.time_left)
    with pytest.raises(ProvenanceError) as raised:
        reads.get_items([("RUN#1", "SUMMARY")])
    assert raised.value.retryable and clock.left >= UNPROCESSED_RESERVE_SECONDS


@pytest.mark.parametrize("function", ["recorder", "reconciler"])
def test_the_handlers_give_the_repository_the_invocations_time(function: str, table_name: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from shared.recorder import Recorder
    from tests.factories import FakeLambdaContext, sqs_event

    handler = importlib.import_module(f"{function}.handler")
    recorder = Recorder(ProvenanceRepository(table_name), omics=lambda: None)
    monkeypatch.setattr(handler, "_recorder", lambda: recorder)

    handler.lambda_handler(sqs_event([]) if function == "recorder" else {}, FakeLambdaContext(remaining_ms=42_000))

    assert recorder.repository.time_left() == 42.0


def test_the_rerunner_gives_the_repository_the_invocations_time(table_name: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-runner links a follow-up batch, which may re-file its members (a long loop that stops with
    time left): it needs the invocation's time as the recorder does."""
    from types import SimpleNamespace

    from rerunner import handler
    from tests.factories import FakeLambdaContext, sqs_event

    rerunner = SimpleNamespace(repository=ProvenanceRepository(table_name))
    monkeypatch.setattr(handler, "_rerunner", lambda: rerunner)

    handler.lambda_handler(sqs_event([]), FakeLambdaContext(remaining_ms=42_000))

    assert rerunner.repository.time_left() == 42.0


def test_the_launcher_gives_the_repository_the_invocations_time(table_name: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher resubmits a transiently failed batch and links it, which may re-file its members (a long
    loop that stops with time left), and its writes pause before resending unprocessed items: both need the
    invocation's time (found by a reviewer: it stayed infinite)."""
    from types import SimpleNamespace

    from launcher import handler
    from tests.factories import FakeLambdaContext, sqs_event

    launcher = SimpleNamespace(repository=ProvenanceRepository(table_name), owner=None)
    monkeypatch.setattr(handler, "_launcher", lambda: launcher)

    handler.lambda_handler(sqs_event([]), FakeLambdaContext(remaining_ms=42_000))

    assert launcher.repository.time_left() == 42.0
