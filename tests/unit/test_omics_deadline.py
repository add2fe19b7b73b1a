"""Every HealthOmics call is bounded by the time the invocation has left: a slow or throttled call
fails fast (retryable), so the rest of the SQS batch and its partial-batch response still have time.

Time is a fake clock throughout: botocore's retry back-off sleep, its adaptive rate limiter and the token
buckets advance it, and a fake HTTP layer (a `before-send` responder) says how long each attempt takes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import botocore.retries.bucket
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from shared.consumer import process_sqs_batch
from shared.errors import RetryableError
from shared.omics import (
    DEADLINE_MARGIN_SECONDS,
    DeadlineExceeded,
    RateLimits,
    invocation_deadline,
    omics_client,
)

RUN = {"id": "1234567", "status": "RUNNING", "arn": "arn:aws:omics:us-east-1:123456789012:run/1234567"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def current_time(self) -> float:  # as botocore.retries.bucket.Clock
        return self.now


class FakeCondition:
    """botocore's adaptive token bucket waits on a condition for the next token: in fake time here (nothing
    else takes its tokens, so a wait lasts its whole timeout, as with the real condition)."""

    def __init__(self, clock: FakeClock, lock: Any) -> None:
        self.clock, self.lock = clock, lock

    def __enter__(self) -> Any:
        return self.lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(*exc)

    def wait(self, timeout: float) -> bool:
        # A real wait lasts at least a scheduler tick. The fake clock (a float near 1000) cannot advance by a
        # sub-ulp remainder, which botocore's bucket can ask for after rounding: it would wait forever.
        self.clock.sleep(max(timeout, 0.001))
        return False

    def notify(self) -> None:
        pass


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FakeOmics:
    """HealthOmics behind a fake wire: each attempt takes `seconds` of fake time and answers `status`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.script: list[tuple[float, int, dict[str, Any]]] = []
        self.attempts: list[dict[str, Any]] = []

    def answer(self, seconds: float, status: int, body: dict[str, Any]) -> None:
        self.script.append((seconds, status, body))

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        seconds, status, body = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        self.attempts.append({"url": request.url, "read_timeout": request.context.get("read_timeout")})
        self.clock.now += seconds
        headers = {"x-amzn-ErrorType": body["__type"]} if status >= 400 else {}
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))


START = {"roleArn": "arn:aws:iam::123456789012:role/r", "outputUri": "s3://bucket/out/"}
THROTTLED = (429, {"__type": "ThrottlingException", "message": "Rate exceeded"})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(botocore.endpoint.time, "sleep", fake.sleep)  # botocore's retry back-off
    # botocore's adaptive rate limiter (its clock and its token bucket's waits), which the clients below
    # create with their retry handler: it waited real seconds (11 s in this module) once throttled
    monkeypatch.setattr(botocore.retries.bucket, "Clock", lambda: fake)
    monkeypatch.setattr(botocore.retries.bucket, "threading", SimpleNamespace(
        Lock=threading.Lock, Condition=lambda lock: FakeCondition(fake, lock)))
    return fake


def _client(clock: FakeClock, limits: RateLimits | float = 100.0) -> tuple[Any, list[tuple[str, str]]]:
    counted: list[tuple[str, str]] = []
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    client = omics_client(limits, session, clock=clock, sleep=clock.sleep,
                          count=lambda metric, operation: counted.append((metric, operation)))
    return client, counted


def test_a_throttled_call_stops_retrying_when_the_next_back_off_would_not_fit(clock: FakeClock) -> None:
    """Given 12 s left in the invocation and HealthOmics that throttles after 5 s,
    When GetRun is called,
    Then it fails with a retryable DeadlineExceeded after one attempt (the next back-off plus an
    attempt would not fit), the throttle is counted, and the margin is still there."""
    client, counted = _client(clock)
    wire = FakeOmics(clock)
    wire.answer(5.0, *THROTTLED)
    client.meta.events.register("before-send.omics", wire)
    start = clock.now
    with invocation_deadline(12.0, clock=clock), pytest.raises(DeadlineExceeded) as raised:
        client.get_run(id="1234567")
    assert isinstance(raised.value, RetryableError)
    assert len(wire.attempts) == 1
    # The attempt's read timeout was cut to the 7 s the call had (12 - margin), less the connect timeout.
    assert wire.attempts[0]["read_timeout"] == pytest.approx(12.0 - DEADLINE_MARGIN_SECONDS - 3.0)
    assert counted == [("OmicsThrottled", "GetRun"), ("OmicsDeadlineExceeded", "GetRun")]
    assert start + 12.0 - clock.now >= DEADLINE_MARGIN_SECONDS


def test_without_a_deadline_adaptive_retries_still_retry_throttles(clock: FakeClock) -> None:
    """Given no invocation deadline (a script) and two throttles before an answer,
    When GetRun is called, Then botocore's retries carry it through, within one call's budget."""
    client, counted = _client(clock)
    wire = FakeOmics(clock)
    wire.answer(0.1, *THROTTLED)
    wire.answer(0.1, *THROTTLED)
    wire.answer(0.1, 200, RUN)
    client.meta.events.register("before-send.omics", wire)
    assert client.get_run(id="1234567")["status"] == "RUNNING"
    assert len(wire.attempts) == 3
    assert counted == [("OmicsThrottled", "GetRun")] * 2


def test_a_token_wait_that_would_overrun_the_deadline_fails_fast(clock: FakeClock) -> None:
    """Given StartRun limited to 0.05/s (next token in 20 s) and 30 s left in the invocation,
    When a second StartRun is called, Then it fails at once: nothing slept, nothing sent."""
    client, counted = _client(clock, RateLimits({"StartRun": 0.05}))
    with Stubber(client) as stub, invocation_deadline(30.0, clock=clock):
        stub.add_response("start_run", {"id": "1", "status": "PENDING"})
        stub.add_response("start_run", {"id": "2", "status": "PENDING"})
        client.start_run(**START, requestId="a")
        with pytest.raises(DeadlineExceeded, match="no StartRun call budget"):
            client.start_run(**START, requestId="b")
        with pytest.raises(AssertionError):  # the second answer is still queued: nothing was sent
            stub.assert_no_pending_responses()
    assert clock.slept == []
    assert counted == [("OmicsDeadlineExceeded", "StartRun")]


def test_a_token_wait_that_fits_is_waited(clock: FakeClock) -> None:
    client, _ = _client(clock, RateLimits({"run": 0.5}))
    with Stubber(client) as stub, invocation_deadline(60.0, clock=clock):
        for _ in range(3):
            stub.add_response("get_run", RUN)
            client.get_run(id="1234567")
    assert clock.slept == [2.0, 2.0]  # 0.5 calls/s: one every 2 s after the first


def test_no_call_starts_inside_the_margin(clock: FakeClock) -> None:
    client, _ = _client(clock)
    with Stubber(client) as stub, invocation_deadline(DEADLINE_MARGIN_SECONDS + 1.0, clock=clock):
        stub.add_response("get_run", RUN)
        with pytest.raises(DeadlineExceeded, match="not started"):
            client.get_run(id="1234567")


def test_a_slow_call_fails_one_record_not_the_batch(clock: FakeClock) -> None:
    """Given a batch of three records with 40 s left, the first record's GetRun hanging on throttles,
    When the batch is processed, Then only the first record is reported failed, the other two are
    done, and the invocation ends with time to spare (the issue: one throttled GetRun timed out all)."""
    client, _ = _client(clock)
    wire = FakeOmics(clock)
    wire.answer(6.0, *THROTTLED)
    wire.answer(6.0, *THROTTLED)
    wire.answer(6.0, *THROTTLED)
    wire.answer(0.2, 200, RUN)
    client.meta.events.register("before-send.omics", wire)
    records = [{"messageId": f"m{i}", "body": json.dumps({"runId": "1234567"}), "receiptHandle": "r",
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}
               for i in range(3)]
    start = clock.now
    with invocation_deadline(40.0, clock=clock):
        response = process_sqs_batch({"Records": records},
                                     lambda record: client.get_run(id=json.loads(record.body)["runId"])["status"])
    assert response["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert start + 40.0 - clock.now > DEADLINE_MARGIN_SECONDS
