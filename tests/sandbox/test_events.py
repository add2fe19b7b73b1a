"""Events and delivery faults (guide: HealthOmics의 EventBridge 이벤트, 배치에 대한 EventBridge 이벤트)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3

from sandbox.omics import EventFaults, FaultPlan, OmicsEmulator
from tests.factories import REFERENCE_EVENTS as REFERENCE
from tests.sandbox.conftest import OUT, REGION, ROLE, start

_COMMON = {"omicsVersion", "arn", "status", "runId", "runName", "workflowId", "workflowName"}
REFERENCE_KEYS = {
    "Run Status Change": _COMMON | {"uuid", "runOutputUri"},
    "Task Status Change": _COMMON | {"runArn", "runUuid"},
}


def test_event_envelopes_match_the_guide(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: event envelopes — source aws.omics, version "0", one resource ARN,
    the documented detail fields."""
    start(client, workflow_id, "ev", name="n")
    client.start_run_batch(
        requestId="b",
        batchName="cohort",
        defaultRunSetting={"workflowId": workflow_id, "roleArn": ROLE, "outputUri": OUT},
        batchRunSettings={"inlineSettings": [{"runSettingId": "a"}]},
    )
    emu.run_until_idle()
    events = emu.emitted_events
    assert len({e["id"] for e in events}) == len(events)
    for e in events:
        assert set(e) == {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        }
        assert (e["version"], e["source"], e["account"], e["region"]) == (
            "0",
            "aws.omics",
            "123456789012",
            REGION,
        )
        assert e["detail"]["omicsVersion"] == "1.0.0" and e["resources"] == [e["detail"]["arn"]]
        if e["detail-type"] in REFERENCE_KEYS:
            assert set(e["detail"]) - {"runName"} == REFERENCE_KEYS[e["detail-type"]] - {"runName"}
    tasks = [e for e in events if e["detail-type"] == "Task Status Change"]
    assert tasks[0]["resources"][0].startswith("arn:aws:omics:us-east-1:123456789012:task/")
    batch = [e for e in events if e["detail-type"] == "RunBatch Status Change"]
    processed = batch[-1]["detail"]
    reference = json.loads((REFERENCE / "runbatch-status-change.processed.json").read_text())["detail"]
    assert set(reference) <= set(processed)
    counts = {k: v for k, v in processed.items() if k.endswith("Count") or k == "totalRuns"}
    assert counts and all(isinstance(v, str) for v in counts.values())
    assert (processed["status"], processed["totalRuns"], processed["completedRunCount"]) == (
        "PROCESSED",
        "1",
        "1",
    )
    times = [e["time"] for e in events]
    assert times == sorted(times) and times[0] == "2026-01-01T00:00:00Z"


def test_events_reach_eventbridge_rules(s3: Any, events: Any, clock: Any) -> None:
    """Guide: events go to the default bus; the guide's terminal-batch pattern matches."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.omics"],
        "detail-type": ["Run Status Change"],
        "detail": {"status": ["COMPLETED"]},
    }
    events.put_rule(Name="r", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": arn}])
    emu = OmicsEmulator(clock=clock, s3=s3, events=events)
    wf = emu.register_workflow("w")
    run = emu.dispatch("StartRun", {"workflowId": wf, "roleArn": ROLE, "outputUri": OUT, "requestId": "x"})
    emu.run_until_idle()
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    (body,) = [json.loads(m["Body"]) for m in messages]
    assert body["detail"]["runId"] == run["id"] and body["detail"]["status"] == "COMPLETED"
    assert body["source"] == "aws.omics" and body["time"] == emu.runs[run["id"]].stop_time.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert len(emu.delivered_events) == len(emu.emitted_events)


def scenario(seed: int, faults: EventFaults) -> OmicsEmulator:
    emu = OmicsEmulator(seed=seed, faults=FaultPlan(events=faults))
    wf = emu.register_workflow("w")
    for i in range(5):
        emu.dispatch("StartRun", {"workflowId": wf, "roleArn": ROLE, "outputUri": OUT, "requestId": str(i)})
    emu.run_until_idle()
    return emu


def test_delivery_faults_are_seeded_and_reproducible() -> None:
    """Guide §1: delivery is best effort — events can be missing, duplicated or out of order."""
    faults = EventFaults(duplicate=0.2, drop=0.1, reorder=0.3, delay=0.2, delay_seconds=120)
    a, b = scenario(7, faults), scenario(7, faults)
    assert [e["id"] for e in a.delivered_events] == [e["id"] for e in b.delivered_events]
    emitted = {e["id"] for e in a.emitted_events}
    delivered = Counter(e["id"] for e in a.delivered_events)
    assert set(delivered) < emitted  # some dropped
    assert max(delivered.values()) == 2  # some duplicated
    order = [e["id"] for e in a.emitted_events if e["id"] in delivered]
    assert list(dict.fromkeys(e["id"] for e in a.delivered_events)) != order  # some out of order
    assert a.is_idle() and a.publisher.pending_delayed == 0


def test_no_faults_delivers_everything_in_order() -> None:
    emu = scenario(1, EventFaults())
    assert emu.delivered_events == emu.emitted_events
