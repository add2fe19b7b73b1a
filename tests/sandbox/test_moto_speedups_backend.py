"""Contract tests of server-side fast paths in sandbox/moto_speedups.py inside moto's backends (random draws of
request ids and receipt handles, DynamoDB tables' key attributes): each answers as the moto code it replaces, on the
same inputs, and through whole requests under plain moto and `speedups()`."""

from __future__ import annotations

import string
from typing import Any

import boto3
import pytest
from moto.moto_api._internal import mock_random

from sandbox import moto_speedups
from tests.sandbox.test_moto_speedups import REGION, _call, plain_and_fast

# moto's pools (request ids, receipt handles), and others: one character, a power of two, every printable
# character (100: 7 bits), a pool with a non-ASCII character (drawn the generic way)
POOLS = [string.ascii_letters + string.digits, string.ascii_lowercase, "x", "ab", "abcd", "abc", string.printable,
         "é" + string.ascii_lowercase]


@pytest.mark.parametrize("pool", POOLS)
def test_choices_draw_what_moto_s_choice_draws_and_leave_the_source_as_moto_leaves_it(pool: str) -> None:
    """Given moto's random source seeded, when `length` characters are drawn from a pool, then they are those of
    `length` of moto's `choice(pool)` draws, and the source is left in the state those draws leave it."""
    for seed in range(40):
        for length in (0, 1, 7, 52, 185):
            mock_random.seed(seed)
            moto_s = "".join(mock_random.choice(pool) for _ in range(length))
            state_after = mock_random.getstate()
            mock_random.seed(seed)
            assert moto_speedups._choices(pool, length) == moto_s
            assert mock_random.getstate() == state_after
    mock_random.seed(None)  # leave moto's random source unseeded for the tests after this one


def _drawn_ids_scenario() -> list[Any]:
    """Request ids, message ids and receipt handles drawn from moto's seeded source, through whole requests (the
    drawn values are compared, not stripped as `_call` strips them)."""
    mock_random.seed(11)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="drawn")["QueueUrl"]
    out: list[Any] = []
    for i in range(3):
        sent = sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        out.append((sent["MessageId"], sent["ResponseMetadata"]["RequestId"]))
    for _ in range(2):
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=0)
        out.append((received["ResponseMetadata"]["RequestId"],
                    [(message["MessageId"], message["ReceiptHandle"], message["Body"])
                     for message in received["Messages"]]))
    out.append(_call(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])))
    return out


def test_request_ids_and_receipt_handles_drawn_through_requests_are_moto_s() -> None:
    """Given moto's random source seeded, when messages are sent and received, then every answer (request ids,
    message ids and receipt handles included) equals plain moto's."""
    try:
        plain, fast = plain_and_fast(_drawn_ids_scenario)
    finally:
        mock_random.seed(None)
    assert fast == plain
