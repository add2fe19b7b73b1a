"""The sandbox's event source mappings poll like Lambda's: a queue is asked for messages whenever it may hold
one, and only a queue that holds none at all is skipped (sandbox/local.py, LocalAccount._holds_messages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sandbox.local import LocalAccount


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    with LocalAccount() as local:
        yield local


@contextmanager
def _receives(account: LocalAccount) -> Iterator[list[str]]:
    """The queue of every ReceiveMessage the account's poller sends meanwhile."""
    calls: list[str] = []

    def count(params: dict[str, str], **_: object) -> None:
        calls.append(params["QueueUrl"])

    account.sqs.meta.events.register("before-parameter-build.sqs.ReceiveMessage", count)
    try:
        yield calls
    finally:
        account.sqs.meta.events.unregister("before-parameter-build.sqs.ReceiveMessage", count)


def test_queues_that_hold_no_message_are_not_asked(account: LocalAccount) -> None:
    with _receives(account) as calls:
        assert account.deliver() == 0 and account.pending_messages() == 0
    assert calls == []


def test_a_queue_whose_only_message_is_in_flight_is_asked_and_its_message_delivered_once_visible(
        account: LocalAccount) -> None:
    consumer = account.resources.consumers[0]
    account.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="{}")
    (message,) = account.sqs.receive_message(QueueUrl=consumer.queue_url, VisibilityTimeout=3600)["Messages"]
    with _receives(account) as calls:  # moto is the oracle: the message is in flight, asked, answers nothing
        assert account.deliver() == 0
    assert calls == [consumer.queue_url]
    account.sqs.change_message_visibility(QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
    assert account.deliver() == 1  # delivered to its function once visible again (which refuses "{}")
    account.sqs.purge_queue(QueueUrl=consumer.queue_url)
