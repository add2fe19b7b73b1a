"""The sandbox's event source mappings poll like Lambda's: a queue is asked for messages whenever it may hold
one, and only a queue that holds none at all is skipped (sandbox/local.py, LocalAccount._holds_messages)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.local import LocalAccount


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    with LocalAccount() as local:
        yield local


def _receives(account: LocalAccount) -> list[str]:
    calls: list[str] = []
    account.sqs.meta.events.register("before-parameter-build.sqs.ReceiveMessage",
                                     lambda params, **_: calls.append(params["QueueUrl"]))
    return calls


def test_queues_that_hold_no_message_are_not_asked(account: LocalAccount) -> None:
    calls = _receives(account)
    assert account.deliver() == 0 and account.pending_messages() == 0
    assert calls == []


def test_a_queue_whose_only_message_is_in_flight_is_asked_and_its_message_delivered_once_visible(
        account: LocalAccount) -> None:
    consumer = account.resources.consumers[0]
    account.sqs.send_message(QueueUrl=consumer.queue_url, MessageBody="{}")
    (message,) = account.sqs.receive_message(QueueUrl=consumer.queue_url, VisibilityTimeout=3600)["Messages"]
    calls = _receives(account)
    # moto is the oracle: the message is in flight, so the queue is asked and answers nothing
    assert account.deliver() == 0 and calls == [consumer.queue_url]
    account.sqs.change_message_visibility(QueueUrl=consumer.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
    assert account.deliver() == 1  # delivered to its function once visible again (which refuses "{}")
    account.sqs.purge_queue(QueueUrl=consumer.queue_url)
