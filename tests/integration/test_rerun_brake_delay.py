"""The brake (failure storms pause automatic re-runs of a workflow, recorded, held work released by an
operator) and the delay path (SQS DelaySeconds up to 15 minutes, one-time Scheduler schedules beyond)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from rerunner.logic import Decided
from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault
from tests.integration.rerun_harness import SCHEDULER_ROLE, Harness, one_failed_run

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def drain_queue(h: Harness) -> list:
    """Receive what is visible on the re-run queue now and hand it to the re-runner (Lambda's ESM)."""
    outcomes = []
    while messages := h.sqs.receive_message(QueueUrl=h.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            outcomes.append(h.handle(parse_work(json.loads(message["Body"]))))
            h.sqs.delete_message(QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return outcomes


# ---------------------------------------------------------------------------------------------- delays
def test_instance_reservation_failed_waits_through_a_one_time_schedule(make) -> None:
    # Given a run that fails for lack of capacity (default policy: wait 30 minutes)
    h = make(faults=FaultPlan(runs=[RunFault(reason="INSTANCE_RESERVATION_FAILED", run_name="s1")]))
    failed = h.start_run("s1")
    h.emulator.run_until_idle()
    failed_at = h.clock.now()
    # When its failure is handled
    (outcome,) = h.deliver()
    # Then nothing is started yet: a one-time schedule brings the work back after the delay
    assert outcome.decisions == {Decided.DELAYED: 1} and h.reruns_of(failed) == []
    (entry,) = h.scheduler.list_schedules()["Schedules"]
    schedule = h.scheduler.get_schedule(Name=entry["Name"])
    due = failed_at + timedelta(seconds=1800)
    assert schedule["ScheduleExpression"] == f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})"
    assert schedule["ActionAfterCompletion"] == "DELETE" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == h.queue_arn and schedule["Target"]["RoleArn"] == SCHEDULER_ROLE
    assert parse_work(json.loads(schedule["Target"]["Input"])) == Work(
        kind="run", id=failed, uuid=h.runs()[failed].uuid, origin="wake")
    (decision,) = h.decisions(failed)
    assert decision["decision"] == Decided.DELAYED and decision["due_at"].startswith(due.strftime("%Y-%m-%dT%H:%M"))
    # and a duplicate of the failure event neither starts the run early nor adds a second schedule
    h.handle(Work(kind="run", id=failed))
    assert h.reruns_of(failed) == [] and len(h.scheduler.list_schedules()["Schedules"]) == 1
    # When the clock reaches the due time, the schedule fires and the re-run starts (and completes)
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.creation_time >= due and rerun.status == "COMPLETED"
    assert h.scheduler.list_schedules()["Schedules"] == []
    assert h.decisions(failed)[0]["decision"] == Decided.STARTED


def test_short_delays_use_sqs_delay_seconds(make) -> None:
    policy = {"rules": {"SERVICE_ERROR": {"action": "RERUN", "maxAttempts": 2, "delaySeconds": 300}}}
    h, failed = one_failed_run(make, policy=policy)
    h.deliver()
    # the wake-up is on the queue, delayed by SQS itself, and no schedule was created
    attributes = h.sqs.get_queue_attributes(QueueUrl=h.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert h.scheduler.list_schedules()["Schedules"] == []
    assert [(body, when - h.clock.now()) for when, body in h.delayed] == [
        ({"autopilotRerun": 1, "kind": "run", "id": failed, "uuid": h.runs()[failed].uuid, "origin": "wake"},
         timedelta(seconds=300))
    ]
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.status == "COMPLETED"


def test_a_batch_with_a_delayed_member_starts_the_others_now(make) -> None:
    faults = FaultPlan(
        runs=[
            RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1"),
            RunFault(reason="INSTANCE_RESERVATION_FAILED", run_setting_id="s2"),
        ]
    )
    h = make(faults=faults)
    batch_id = h.start_batch(["s1", "s2", "s3"])
    h.emulator.run_until_idle()
    h.deliver()
    follow = h.follow_ups(batch_id)
    assert [[e["runSettingId"] for e in b.inline_settings] for b in follow] == [["s1"]]
    assert len(h.scheduler.list_schedules()["Schedules"]) == 1
    h.run()
    follow = h.follow_ups(batch_id)
    assert sorted(b.name for b in follow) == [f"rerun-{batch_id}-a1-same", f"rerun-{batch_id}-a1-same-d1800"]
    assert all(r.status == "COMPLETED" for b in follow for r in h.emulator.batch_runs(b))


# ---------------------------------------------------------------------------------------------- brake
BRAKE = {"brake": {"maxFailures": 2, "windowMinutes": 60, "coolDownMinutes": 0}}


def test_a_failure_storm_pauses_reruns_records_and_holds_them_until_released(make) -> None:
    h = make(
        faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", predicate=lambda r: True)]),
        policy=BRAKE,
    )
    failed = [h.start_run(f"s{i}") for i in range(4)]
    h.emulator.run_until_idle()
    outcomes = h.deliver()
    # the first two failures are re-run, the third exceeds the threshold and pauses the workflow
    assert [len(h.reruns_of(r)) for r in failed] == [1, 1, 0, 0]
    assert sum(o.brake_engaged for o in outcomes) == 1
    state = h.repository.get_item(f"BRAKE#{h.workflow_id}", "STATE")
    assert state["status"] == "PAUSED" and "3 failures" in state["reason"] and state.get("paused_until") is None
    for run_id in failed[2:]:
        assert [d["decision"] for d in h.decisions(run_id)] == [Decided.BRAKED]
    held = h.rerunner.brake_status(h.workflow_id)
    assert held["paused"] and sorted(x["id"] for x in held["held"]) == sorted(failed[2:])
    # nothing more happens while paused (the braked runs stay unresolved, not lost)
    h.run(seconds=3600)
    assert [len(h.reruns_of(r)) for r in failed[2:]] == [0, 0]
    # When an operator releases the brake, the held work is re-queued and re-run
    result = h.rerunner.release_brake(h.workflow_id, "alice")
    assert result["requeued"] == 2
    released = drain_queue(h)
    assert [o.decisions for o in released] == [{Decided.STARTED: 1}] * 2
    assert [len(h.reruns_of(r)) for r in failed] == [1, 1, 1, 1]
    state = h.repository.get_item(f"BRAKE#{h.workflow_id}", "STATE")
    assert state["status"] == "RELEASED" and state["released_by"] == "alice"
    assert h.rerunner.brake_status(h.workflow_id)["held"] == []


def test_the_pause_expires_after_its_cool_down(make) -> None:
    policy = {"brake": {"maxFailures": 1, "windowMinutes": 60, "coolDownMinutes": 30}}
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", predicate=lambda r: r.attempt == 1)])
    h = make(faults=faults, policy=policy)
    first = [h.start_run("a"), h.start_run("b")]
    h.emulator.run_until_idle()
    h.deliver()
    assert [len(h.reruns_of(r)) for r in first] == [1, 0]  # the second failure paused the workflow
    paused_until = datetime.fromisoformat(
        h.repository.get_item(f"BRAKE#{h.workflow_id}", "STATE")["paused_until"].replace("Z", "+00:00")
    )
    h.clock.set(paused_until + timedelta(minutes=1))
    later = h.start_run("c")
    h.emulator.run_until_idle()
    h.deliver()
    assert len(h.reruns_of(later)) == 1  # resumed by itself; the held one still waits for an operator
    assert [x["id"] for x in h.rerunner.brake_status(h.workflow_id)["held"]] == [first[1]]


def test_batch_failures_count_towards_the_brake(make) -> None:
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", predicate=lambda r: True)])
    h = make(faults=faults, policy=BRAKE)
    batch_id = h.start_batch(["s1", "s2", "s3"])
    h.emulator.run_until_idle()
    (outcome,) = [o for o in h.deliver() if o.work.kind == "batch"]
    assert outcome.brake_engaged and outcome.decisions == {Decided.BRAKED: 3}
    assert h.follow_ups(batch_id) == []
    h.rerunner.release_brake(h.workflow_id)
    (released,) = drain_queue(h)
    assert released.decisions == {Decided.STARTED: 3}
