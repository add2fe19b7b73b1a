"""The recorder's queue as SQS treats it, for work that takes more than one invocation (a huge batch's members,
a run's thousands of tasks), on a simulated clock.

A message is received until its record succeeds, at most MAX_RECEIVE_COUNT times (then it goes to the DLQ); the
continuations the recorder sends to its own queue (a moto queue, CONTINUATION_QUEUE_URL) are new messages, each
with a receive count of its own. Each HealthOmics call of a fake costs the clock what the deployed rate allows;
an invocation's context counts down the deployed timeout on that clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import recorder.handler as handler_module
from shared.settings import ENV_CONTINUATION_QUEUE_URL, get_settings
from tests.factories import sqs_event

FUNCTION_TIMEOUT_SECONDS = 60  # stacks/components/recorder.py
MAX_RECEIVE_COUNT = 5  # stacks/components/queue_consumer.py default, the provenance queue's redrive policy


class Clock:
    """Simulated seconds; `starts` holds the start of each invocation running (the innermost last); `timeout`
    is the function's (a test may give an invocation all the time it needs)."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.starts: list[float] = []
        self.timeout = float(FUNCTION_TIMEOUT_SECONDS)

    def time_left(self) -> float:
        return self.timeout - (self.elapsed - self.starts[-1])


class Context:
    function_name, function_version, memory_limit_in_mb = "recorder", "$LATEST", 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:recorder"
    aws_request_id, log_group_name, log_stream_name = "req", "/aws/lambda/recorder", "s"

    def __init__(self, clock: Clock) -> None:
        self.clock, self.start = clock, clock.elapsed

    def get_remaining_time_in_millis(self) -> int:
        return int((self.clock.timeout - (self.clock.elapsed - self.start)) * 1000)


class ProvenanceQueue:
    def __init__(self, url: str, clock: Clock) -> None:
        self.url, self.clock = url, clock
        self.sqs = boto3.client("sqs")
        self.dead_letters: list[dict[str, Any]] = []
        self.receives: list[int] = []  # per message handled: how many receives it took

    def receive_once(self, body: dict[str, Any]) -> bool:
        """One invocation on this message alone: True when its record succeeded."""
        self.clock.starts.append(self.clock.elapsed)
        try:
            response = handler_module.lambda_handler(sqs_event([body]), Context(self.clock))
        finally:
            self.clock.starts.pop()
        return not response["batchItemFailures"]

    def deliver(self, body: dict[str, Any]) -> None:
        for receive in range(1, MAX_RECEIVE_COUNT + 1):
            if self.receive_once(body):
                self.receives.append(receive)
                return
        self.receives.append(MAX_RECEIVE_COUNT)
        self.dead_letters.append(body)

    def sent(self) -> Iterator[dict[str, Any]]:
        """The continuations sent so far, taken off the queue."""
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                yield json.loads(message["Body"])

    def drain(self, first: dict[str, Any]) -> None:
        """Deliver `first`, then every continuation sent, until none is left."""
        pending = [first]
        while pending:
            self.deliver(pending.pop(0))
            pending.extend(self.sent())


@pytest.fixture
def provenance_queue(table_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProvenanceQueue]:
    """The queue and the recorder's settings over the test table; a test sets `omics_client_for` itself."""
    queue_url = boto3.client("sqs").create_queue(QueueName="provenance")["QueueUrl"]
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setenv(ENV_CONTINUATION_QUEUE_URL, queue_url)
    get_settings.cache_clear()
    handler_module._recorder.cache_clear()
    handler_module._sqs.cache_clear()
    yield ProvenanceQueue(queue_url, Clock())
    handler_module._recorder.cache_clear()
    handler_module._sqs.cache_clear()
    get_settings.cache_clear()
