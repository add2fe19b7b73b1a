"""The sandbox fires the one-time schedules the product creates at run time (a delayed re-run's `at(...)`) as
EventBridge Scheduler does: once, when due on the virtual clock, only while ENABLED, and then deletes the schedule
only if its ActionAfterCompletion says DELETE (the Scheduler User Guide's "Deleting a schedule after it
completes": a completed one-time schedule otherwise stays in the account)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sandbox.local import LocalAccount


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    with LocalAccount() as local:
        yield local


def test_one_time_schedules_fire_once_when_due_and_are_deleted_only_when_they_say_so(account: LocalAccount) -> None:
    url = account.sqs.create_queue(QueueName="schedule-probe")["QueueUrl"]
    arn = account.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    at = (account.clock.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    for name, extra in (("deleted", {"ActionAfterCompletion": "DELETE"}), ("kept", {}),
                        ("disabled", {"State": "DISABLED", "ActionAfterCompletion": "DELETE"})):
        account.scheduler.create_schedule(
            Name=name, ScheduleExpression=f"at({at})", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                    "Input": json.dumps({"schedule": name})}, **extra)
    scheduler_calls: list[str] = []
    account.scheduler.meta.events.register("before-call.scheduler",
                                           lambda model, **_: scheduler_calls.append(model.name))

    def fired() -> list[str]:
        messages = account.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return sorted(json.loads(m["Body"])["schedule"] for m in messages)

    # Before its time nothing fires, and the sandbox reads the schedules without the Scheduler's API
    account.step(60)
    assert fired() == [] and scheduler_calls == []
    # When due, the enabled ones fire once; the one that says DELETE is deleted (one DeleteSchedule)
    account.step(300)
    assert fired() == ["deleted", "kept"] and scheduler_calls == ["DeleteSchedule"]
    # And a completed schedule that stays does not fire again, nor does the disabled one
    account.step(600)
    assert fired() == []
    names = {s["Name"] for s in account.scheduler.list_schedules()["Schedules"]}
    assert names == {"kept", "disabled"}
    assert account.run_until_quiet(max_seconds=3600)  # neither is waited for
