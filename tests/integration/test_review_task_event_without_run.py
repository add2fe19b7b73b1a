"""A Task Status Change that names no run (neither runId nor runArn) cannot be recorded: it is rejected and
recorded as REJECTED at once, like any malformed event, not retried until the dead-letter queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from tests.factories import task_event

pytest_plugins = ["tests.integration.recorder_stub"]  # the `invoke` fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_task_event_without_its_run_is_rejected_not_retried(invoke: Any, table_name: str) -> None:
    # Given a task event whose detail lost both runId and runArn
    event = task_event("6000001", "6000002", "RUNNING", T0)
    del event["detail"]["runId"], event["detail"]["runArn"]
    # When the recorder gets it
    response = invoke([event])
    # Then the message is not failed (SQS would redeliver it to the same end), and it is recorded as rejected
    assert response == {"batchItemFailures": []}
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    rejected = [i for i in items if i.get("entity", {}).get("S") == "REJECTED_EVENT"]
    assert len(rejected) == 1 and "runId" in rejected[0]["reason"]["S"]
