"""The rule patterns of the synthesized template, run by moto's EventBridge: the guide's example events
reach the provenance queue; other HealthOmics detail-types and other sources do not."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.factories import reference_event
from tests.infrastructure.cfn import props

GUIDE_EVENTS = [
    "run-status-change.completed",
    "task-status-change.completed",
    "runbatch-status-change.processed",
    "runbatch-status-change.failed",
]

# The guide's own "Read Set Status Change" example (HealthOmics EventBridge events page).
READ_SET_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "64ca0eda-9751-dc55-c41a-1bd50b4fc9b7",
    "detail-type": "Read Set Status Change",
    "source": "aws.omics",
    "account": "123456789012",
    "time": "2023-04-04T17:53:06Z",
    "region": "us-west-2",
    "resources": ["arn:aws:omics:us-west-2:123456789012:sequenceStore/1234567890/readSet/3456789012"],
    "detail": {
        "omicsVersion": "1.0.0",
        "arn": "arn:aws:omics:us-west-2:123456789012:sequenceStore/1234567890/readSet/3456789012",
        "sequenceStoreId": "1234567890",
        "id": "3456789012",
        "status": "PROCESSING_UPLOAD",
    },
}


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }


@pytest.fixture
def provenance_queue(aws: None, template_dict: dict[str, Any], recorder: dict[str, Any]) -> tuple[Any, str]:
    """Queues and the provenance rule created in moto from the template, as the sandbox does."""
    sqs = boto3.client("sqs")
    events = boto3.client("events")
    arns: dict[str, str] = {}
    urls: dict[str, str] = {}
    for lid in (recorder["deadLetterQueue"], recorder["queue"]):  # DLQ first: the queue redrives to it
        queue = props(template_dict, lid)
        attributes = {"VisibilityTimeout": str(queue.get("VisibilityTimeout", 30))}
        if "RedrivePolicy" in queue:
            redrive = queue["RedrivePolicy"]
            dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[dlq_id], "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        urls[lid] = sqs.create_queue(QueueName=lid, Attributes=attributes)["QueueUrl"]
        arns[lid] = sqs.get_queue_attributes(QueueUrl=urls[lid], AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    for rule_id in recorder["rules"]:
        rule = props(template_dict, rule_id)
        events.put_rule(
            Name=rule_id,
            EventBusName=rule.get("EventBusName", "default"),
            EventPattern=json.dumps(rule["EventPattern"]),
            State=rule["State"],
        )
        events.put_targets(
            Rule=rule_id,
            EventBusName=rule.get("EventBusName", "default"),
            Targets=[{"Id": t["Id"], "Arn": arns[t["Arn"]["Fn::GetAtt"][0]]} for t in rule["Targets"]],
        )
    return sqs, urls[recorder["queue"]]


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_guides_run_task_and_batch_events_reach_the_provenance_queue(provenance_queue) -> None:
    sqs, url = provenance_queue
    guide_events = [reference_event(name) for name in GUIDE_EVENTS]
    result = boto3.client("events").put_events(Entries=[_entry(event) for event in guide_events])
    assert result["FailedEntryCount"] == 0

    delivered = _drain(sqs, url)

    assert sorted((b["detail-type"], json.dumps(b["detail"], sort_keys=True)) for b in delivered) == sorted(
        (e["detail-type"], json.dumps(e["detail"], sort_keys=True)) for e in guide_events
    )
    assert all(body["source"] == "aws.omics" for body in delivered)


def test_a_read_set_event_is_not_routed(provenance_queue) -> None:
    sqs, url = provenance_queue
    boto3.client("events").put_events(Entries=[_entry(READ_SET_EVENT)])
    assert _drain(sqs, url) == []


def test_a_run_status_change_from_another_source_is_not_routed(provenance_queue) -> None:
    sqs, url = provenance_queue
    impostor = {**reference_event("run-status-change.completed"), "source": "custom.omics"}
    boto3.client("events").put_events(Entries=[_entry(impostor)])
    assert _drain(sqs, url) == []
