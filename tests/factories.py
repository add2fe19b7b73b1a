"""Event and resource factories for tests: the guide's own example events, and generated ones in
exactly the same format."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.provenance import keys

REPO = Path(__file__).resolve().parents[1]
# The guide's own example events and cache manifest, copied into the repository as fixtures.
REFERENCE_EVENTS = REPO / "tests" / "fixtures" / "guide"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def reference_event(name: str) -> dict[str, Any]:
    """One of the guide's example events, as it is (e.g. 'run-status-change.completed')."""
    return json.loads((REFERENCE_EVENTS / f"{name}.json").read_text())


def create_provenance_table(client: Any, name: str = "provenance") -> str:
    """The provenance table as the stack declares it (keys.py is the one source of both)."""
    attributes = {keys.PK, keys.SK}
    indexes = []
    for index_name, pk, sk in keys.ALL_GSIS:
        attributes |= {pk, sk}
        indexes.append({"IndexName": index_name, "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"},
                                                              {"AttributeName": sk, "KeyType": "RANGE"}],
                        "Projection": {"ProjectionType": "ALL"}})
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        KeySchema=[{"AttributeName": keys.PK, "KeyType": "HASH"}, {"AttributeName": keys.SK, "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=indexes,
    )
    return name


def _envelope(detail_type: str, resource: str, detail: dict[str, Any], when: datetime,
              event_id: str | None = None) -> dict[str, Any]:
    return {
        "version": "0", "id": event_id or str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.omics",
        "account": ACCOUNT, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
        "resources": [resource], "detail": {"omicsVersion": "1.0.0", **detail},
    }


def run_event(run_id: str, status: str, when: datetime, workflow_id: str = "1234567",
              event_id: str | None = None) -> dict[str, Any]:
    arn = f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}"
    return _envelope("Run Status Change", arn, {
        "arn": arn, "status": status, "uuid": f"uuid-{run_id}", "runId": run_id, "runName": f"run-{run_id}",
        "runOutputUri": f"s3://out/{run_id}", "workflowId": workflow_id, "workflowName": "wgs"}, when, event_id)


def task_event(run_id: str, task_id: str, status: str, when: datetime, event_id: str | None = None) -> dict[str, Any]:
    arn = f"arn:aws:omics:{REGION}:{ACCOUNT}:task/{task_id}"
    return _envelope("Task Status Change", arn, {
        "arn": arn, "status": status, "runArn": f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}",
        "runUuid": f"uuid-{run_id}", "runId": run_id, "runName": f"run-{run_id}", "workflowId": "1234567",
        "workflowName": "wgs"}, when, event_id)


def batch_event(batch_id: str, status: str, when: datetime, counts: dict[str, int] | None = None,
                event_id: str | None = None, **extra: str) -> dict[str, Any]:
    arn = f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{batch_id}"
    detail = {"arn": arn, "batchId": batch_id, "status": status, "uuid": f"uuid-{batch_id}",
              "batchName": f"batch-{batch_id}", "workflowId": "1234567", **extra}
    detail.update({k: str(v) for k, v in (counts or {}).items()})  # counts are strings on the wire
    return _envelope("RunBatch Status Change", arn, detail, when, event_id)


RUN_LIFECYCLE = ("PENDING", "STARTING", "RUNNING", "STOPPING")
TASK_LIFECYCLE = ("PENDING", "STARTING", "RUNNING", "STOPPING")


def run_lifecycle(run_id: str, final: str, tasks: int, start: datetime) -> list[dict[str, Any]]:
    """The events one run emits: its status walk and each task's, in true time order."""
    events = [run_event(run_id, s, start + timedelta(seconds=i)) for i, s in enumerate(RUN_LIFECYCLE[:3])]
    for t in range(tasks):
        task_id = f"{run_id}{t:03d}"
        base = start + timedelta(seconds=10 + 10 * t)
        events += [task_event(run_id, task_id, s, base + timedelta(seconds=i)) for i, s in enumerate(TASK_LIFECYCLE)]
        task_final = "FAILED" if final == "FAILED" and t == tasks - 1 else "COMPLETED"
        events.append(task_event(run_id, task_id, task_final, base + timedelta(seconds=5)))
    end = start + timedelta(seconds=20 + 10 * tasks)
    events.append(run_event(run_id, "STOPPING", end))
    events.append(run_event(run_id, final, end + timedelta(seconds=1)))
    return events


def get_run_response(run_id: str, status: str, **overrides: Any) -> dict[str, Any]:
    """A GetRun response that validates against botocore's omics model."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    response: dict[str, Any] = {
        "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}", "id": run_id, "status": status,
        "workflowId": "1234567", "workflowType": "PRIVATE", "name": f"run-{run_id}", "uuid": f"uuid-{run_id}",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/omics", "outputUri": "s3://out/", "digest": "sha256:abc",
        "parameters": {"sample": run_id}, "resourceDigests": {"s3://in/a.bam": "etag-a"},
        "storageType": "DYNAMIC", "creationTime": now, "startTime": now, "stopTime": now + timedelta(hours=1),
        "cacheId": "cache-1", "cacheBehavior": "CACHE_ON_FAILURE", "startedBy": "arn:aws:sts::1:assumed-role/x",
        "tags": {}, "runOutputUri": f"s3://out/{run_id}/uuid-{run_id}", "workflowVersionName": "v1",
    }
    if status == "FAILED":
        response["failureReason"] = "SERVICE_ERROR"
        response["statusMessage"] = "transient service error"
    response.update(overrides)
    return response


def list_run_tasks_response(run_id: str, count: int, next_token: str | None = None,
                            start: int = 0) -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    items = [{"taskId": f"{run_id}{i:03d}", "status": "COMPLETED", "name": f"task-{i}", "cpus": 2, "memory": 4,
              "cacheHit": i % 2 == 0, "cacheS3Uri": f"s3://cache/uuid/{run_id}/{i}/", "creationTime": now,
              "startTime": now, "stopTime": now, "instanceType": "omics.c.large"}
             for i in range(start, start + count)]
    response: dict[str, Any] = {"items": items}
    if next_token:
        response["nextToken"] = next_token
    return response


def sqs_event(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Lambda's SQS event for EventBridge events delivered to a queue (the body is the event JSON)."""
    return {"Records": [{
        "messageId": f"m-{i}-{uuid.uuid4().hex[:8]}", "receiptHandle": f"rh-{i}", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:provenance", "awsRegion": REGION,
    } for i, body in enumerate(bodies)]}


def sqs_batches(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    """`items` cut into consecutive batches of the given sizes in turn (the last size repeats), as an SQS event
    source hands a queue's messages to a function: batch by batch, each of any size up to its maximum."""
    assert sizes and min(sizes) >= 1, sizes
    batches: list[list[Any]] = []
    start = 0
    while start < len(items):
        size = sizes[min(len(batches), len(sizes) - 1)]
        batches.append(items[start : start + size])
        start += size
    return batches


def deep_copy(event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(event)


class FakeLambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name = "test-function"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "stream"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
