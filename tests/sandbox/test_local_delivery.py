"""The local account's service-internal paths into moto (sandbox/local.py) against the API calls they stand for:
HealthOmics' events onto the default bus (`_DefaultBus`, PutEvents) and Lambda's deletes of a handled batch
(`LocalAccount._delete`, DeleteMessageBatch). The same input both ways must leave moto in the same state and
answer the same (ids moto draws at random aside)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from moto import mock_aws
from moto.sqs.models import sqs_backends

from sandbox.local import LocalAccount, _DefaultBus
from sandbox.moto_speedups import speedups

RULES = {  # rule -> pattern: each one's events land in the queue of the same name
    "runs": {"source": ["aws.omics"], "detail-type": ["Run Status Change"]},
    "failed": {"source": ["aws.omics"], "detail": {"status": ["FAILED"]}},
    "tasks": {"source": ["aws.omics"], "detail-type": ["Task Status Change"]},
}


def _entry(status: str, *, minute: int = 0, detail_type: str = "Run Status Change", **extra: Any) -> dict[str, Any]:
    return {"Source": "aws.omics", "DetailType": detail_type,
            "Detail": json.dumps({"omicsVersion": "1.0.0", "status": status, "runId": "1234567"}),
            "Resources": ["arn:aws:omics:us-east-1:123456789012:run/1234567"],
            "Time": datetime(2026, 1, 5, 8 + minute // 60, minute % 60, 7, tzinfo=UTC), "EventBusName": "default",
            **extra}


ENTRIES = [  # matches of each rule, of none, entries moto refuses (no source, no detail); each with its Time, as the
    # emulator's (without one moto stamps the wall clock's)
    _entry("RUNNING"), _entry("FAILED", minute=75), _entry("COMPLETED", detail_type="Task Status Change"),
    _entry("PENDING", detail_type="Run Batch Status Change"), _entry("FAILED", Source=""),
    _entry("STARTING", Detail=""), _entry("STOPPING", minute=61, Resources=[]),
]


@pytest.fixture
def account() -> Iterator[tuple[Any, Any]]:
    with speedups(), mock_aws():
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        for name, pattern in RULES.items():
            sqs.create_queue(QueueName=name)
            events.put_rule(Name=name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:123456789012:{name}"}])
        yield events, sqs


def _delivered(sqs: Any) -> dict[str, list[dict[str, Any]]]:
    """Every queue's events, without the id moto draws for each and the ingestion time (when it ran)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in RULES:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        out[name] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                body = json.loads(message["Body"])
                out[name].append({k: v for k, v in body.items() if k not in ("id", "ingestion-time")})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    return {"FailedEntryCount": response["FailedEntryCount"],
            "Entries": [{k: ("<id>" if k == "EventId" else v) for k, v in e.items()} for e in response["Entries"]]}


def test_the_default_bus_delivers_and_answers_as_put_events_does(account: tuple[Any, Any]) -> None:
    events, sqs = account
    through_api = _answer(events.put_events(Entries=ENTRIES))
    by_api = _delivered(sqs)
    internal = _DefaultBus(events).put_events(Entries=ENTRIES)
    assert _answer(internal) == through_api
    assert all(len(e["EventId"]) == 36 for e in internal["Entries"] if "EventId" in e)
    assert _delivered(sqs) == by_api
    assert [len(by_api[name]) for name in RULES] == [3, 1, 1]  # the entries reached each rule's queue
    assert through_api["FailedEntryCount"] == 2


def test_the_default_bus_refuses_what_botocore_refuses(account: tuple[Any, Any]) -> None:
    events, _ = account
    malformed = [_entry("RUNNING", Detail={"status": "RUNNING"}), {"Source": "aws.omics", "Time": "yesterday"}]
    for entries in ([malformed[0]], [malformed[1]]):
        with pytest.raises(ParamValidationError) as through_api:
            events.put_events(Entries=entries)
        with pytest.raises(ParamValidationError) as internal:
            _DefaultBus(events).put_events(Entries=entries)
        assert str(internal.value) == str(through_api.value)


def test_deleting_a_handled_batch_leaves_the_queue_as_delete_message_batch_does(account: tuple[Any, Any]) -> None:
    # Given two queues holding the same 27 messages, all received (in flight)
    _, sqs = account
    remaining = {}
    for name in ("through-api", "internal"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        for start in range(0, 27, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(27, start + 10))])
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received += batch
        handled = sorted(received, key=lambda m: m["Body"])[:23]  # three batches of at most ten
        # When the handled ones are deleted, through the API (Lambda's way) or moto's backend
        handles = [m["ReceiptHandle"] for m in handled]
        if name == "through-api":
            for start in range(0, len(handles), 10):
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[start:start + 10])])
        else:
            LocalAccount._delete(url, handles)
        remaining[name] = sorted(m.body for m in sqs_backends["123456789012"]["us-east-1"].queues[name]._messages)
    # Then the same messages are left in both (still in flight)
    assert remaining["internal"] == remaining["through-api"] == ["m6", "m7", "m8", "m9"]
