"""Behaviour of runs and tasks on the virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.omics import FaultPlan, OmicsEmulator, OutputSpec, RunFault, TaskSpec
from sandbox.omics.runs import round_static_capacity
from tests.sandbox.conftest import start


def run_statuses(emu: OmicsEmulator, run_id: str) -> list[str]:
    return [
        e["detail"]["status"]
        for e in emu.emitted_events
        if e["detail-type"] == "Run Status Change" and e["detail"]["runId"] == run_id
    ]


def test_run_lifecycle_walks_every_status(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: run lifecycle (실행 수명 주기) — PENDING → STARTING → RUNNING → STOPPING → COMPLETED."""
    run = start(client, workflow_id, "life-1")
    seen = [client.get_run(id=run["id"])["status"]]
    for _ in range(200):
        emu.advance(10)
        status = client.get_run(id=run["id"])["status"]
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["PENDING", "STARTING", "RUNNING", "STOPPING", "COMPLETED"]
    assert run_statuses(emu, run["id"]) == seen
    got = client.get_run(id=run["id"])
    assert got["startTime"] <= got["stopTime"]
    assert got["runOutputUri"] == f"{got['outputUri']}/{run['id']}/{got['uuid']}"


def test_tasks_follow_the_graph_and_their_lifecycle(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide: task lifecycle (작업 수명 주기) — tasks start when their dependencies completed."""
    run = start(client, workflow_id, "tasks-1")
    emu.run_until_idle()
    tasks = {t["name"]: t for t in client.list_run_tasks(id=run["id"])["items"]}
    assert list(tasks) == ["align", "call", "report"]
    assert tasks["align"]["stopTime"] <= tasks["call"]["startTime"]
    assert tasks["call"]["stopTime"] <= tasks["report"]["startTime"]
    align_id = tasks["align"]["taskId"]
    task_events = [
        e["detail"]["status"]
        for e in emu.emitted_events
        if e["resources"] == [f"arn:aws:omics:us-east-1:123456789012:task/{align_id}"]
    ]
    assert task_events == ["PENDING", "STARTING", "RUNNING", "STOPPING", "COMPLETED"]
    assert all(t["cacheHit"] is False for t in tasks.values())


def test_at_most_25_concurrent_tasks(client: Any, emu: OmicsEmulator) -> None:
    """Guide: quotas (할당량) — 25 concurrent tasks per run; ListRunTasks pages hold at most 100."""
    wide = [TaskSpec("root", (), 10)] + [TaskSpec(f"shard{i}", ("root",), 100) for i in range(120)]
    wf = emu.register_workflow("wide", tasks=wide)
    run = start(client, wf, "wide-1", storageType="DYNAMIC")
    peak = 0
    for _ in range(400):
        emu.advance(5)
        r = emu.runs[run["id"]]
        peak = max(
            peak, sum(1 for t in r.tasks.values() if t.status not in ("COMPLETED", "FAILED", "CANCELLED"))
        )
        if r.status == "COMPLETED":
            break
    assert peak == 25
    first = client.list_run_tasks(id=run["id"])
    assert len(first["items"]) == 100 and first["nextToken"]
    second = client.list_run_tasks(id=run["id"], startingToken=first["nextToken"])
    assert len(second["items"]) == 21 and "nextToken" not in second


def test_request_id_idempotency(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: StartRun requestId (idempotency token) — the same requestId starts nothing new."""
    a = start(client, workflow_id, "same")
    b = start(client, workflow_id, "same")
    assert a["id"] == b["id"]
    assert len(emu.runs) == 1
    assert run_statuses(emu, a["id"]) == ["PENDING"]


def test_rerun_copies_the_source_run(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: re-running a run (HealthOmics에서 실행 다시 실행) — StartRun(runId, roleArn, outputUri)."""
    first = start(
        client, workflow_id, "orig", name="s1", parameters={"in": "s3://b/1.fq"}, storageCapacity=3000
    )
    emu.run_until_idle()
    rerun = client.start_run(
        runId=first["id"], roleArn="arn:aws:iam::123456789012:role/R", outputUri="s3://b/o2", requestId="re"
    )
    got = client.get_run(id=rerun["id"])
    assert got["runId"] == first["id"]
    assert (
        got["workflowId"] == workflow_id
        and got["parameters"] == {"in": "s3://b/1.fq"}
        and got["name"] == "s1"
    )
    assert got["storageCapacity"] == 4800
    client.delete_run(id=first["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.start_run(
            runId=first["id"], roleArn="arn:aws:iam::1:role/R", outputUri="s3://b/o", requestId="re2"
        )


@pytest.mark.parametrize(
    ("requested", "provisioned"),
    [(None, 1200), (1000, 1200), (1200, 1200), (1201, 2400), (2400, 2400), (5000, 7200), (42000, 43200)],
)
def test_static_storage_rounding(requested: int | None, provisioned: int) -> None:
    """Guide: run storage (정적 실행 스토리지) — 1,200 GiB minimum, else multiples of 2,400 GiB rounded up."""
    assert round_static_capacity(requested) == provisioned


def test_storage_type_and_retention_are_reported(client: Any, workflow_id: str) -> None:
    """Guide: run storage types; retention mode RETAIN by default."""
    static = client.get_run(id=start(client, workflow_id, "st", storageCapacity=5000)["id"])
    dynamic = client.get_run(
        id=start(client, workflow_id, "dy", storageType="DYNAMIC", retentionMode="REMOVE")["id"]
    )
    assert (static["storageType"], static["storageCapacity"], static["retentionMode"]) == (
        "STATIC",
        7200,
        "RETAIN",
    )
    assert dynamic["storageType"] == "DYNAMIC" and "storageCapacity" not in dynamic
    assert dynamic["retentionMode"] == "REMOVE"


def test_list_runs_filters_and_pagination(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: ListRuns (name, status, runGroupId, batchId filters; paginated)."""
    for i in range(5):
        group = {"runGroupId": "1234567"} if i % 2 else {}
        start(client, workflow_id, f"lr-{i}", name=f"cohort-{i}", **group)
    start(client, workflow_id, "other", name="other")
    assert {r["name"] for r in client.list_runs(runGroupId="1234567")["items"]} == {"cohort-1", "cohort-3"}
    ids = []
    token = None
    while True:
        page = client.list_runs(name="cohort", maxResults=2, **({"startingToken": token} if token else {}))
        ids += [r["id"] for r in page["items"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(ids) == 5 == len(set(ids))
    emu.advance(15)
    assert len(client.list_runs(status="STARTING")["items"]) == 6


def test_failure_at_a_task(emu: OmicsEmulator, client: Any, workflow_id: str) -> None:
    """Guide: run failure reasons (실행 실패 이유) — a failed task fails the run with its reason."""
    emu.faults.runs.append(RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="call", run_name="bad"))
    run = start(client, workflow_id, "fail-1", name="bad")
    emu.run_until_idle()
    got = client.get_run(id=run["id"])
    assert got["status"] == "FAILED" and got["failureReason"] == "OUT_OF_MEMORY_ERROR"
    tasks = {t["name"]: t for t in client.list_run_tasks(id=run["id"])["items"]}
    assert tasks["align"]["status"] == "COMPLETED" and tasks["call"]["status"] == "FAILED"
    assert "report" not in tasks
    assert (
        client.get_run_task(id=run["id"], taskId=tasks["call"]["taskId"])["failureReason"]
        == "OUT_OF_MEMORY_ERROR"
    )
    assert run_statuses(emu, run["id"])[-2:] == ["STOPPING", "FAILED"]


def test_fault_first_attempt_only_spares_the_rerun(emu: OmicsEmulator, client: Any, workflow_id: str) -> None:
    """Guide: re-running a run — a re-run is a new attempt; first-attempt faults do not repeat."""
    emu.faults.runs.append(RunFault(reason="SERVICE_ERROR", at_task="align", run_name="flaky"))
    emu.faults.runs.append(RunFault(reason="SERVICE_ERROR", run_name="broken", first_attempt_only=False))
    flaky = start(client, workflow_id, "f-1", name="flaky")
    broken = start(client, workflow_id, "b-1", name="broken")
    emu.run_until_idle()
    assert client.get_run(id=broken["id"])["failureReason"] == "SERVICE_ERROR"
    assert client.list_run_tasks(id=broken["id"])["items"] == []  # failed while STARTING
    re_flaky = client.start_run(
        runId=flaky["id"], roleArn="arn:aws:iam::1:role/R", outputUri="s3://b/o", requestId="f-2"
    )
    re_broken = client.start_run(
        runId=broken["id"], roleArn="arn:aws:iam::1:role/R", outputUri="s3://b/o", requestId="b-2"
    )
    emu.run_until_idle()
    assert client.get_run(id=re_flaky["id"])["status"] == "COMPLETED"
    assert client.get_run(id=re_broken["id"])["status"] == "FAILED"


def test_static_storage_too_small_fails_with_out_of_space(emu: OmicsEmulator, client: Any) -> None:
    """Guide: run failure reasons — FILE_SYSTEM_OUT_OF_SPACE when static storage is too small."""
    big = [TaskSpec("huge", (), 60, (OutputSpec("x", 1300 * 1024**3),))]
    wf = emu.register_workflow("big", tasks=big)
    static = start(client, wf, "oos-1")
    dynamic = start(client, wf, "oos-2", storageType="DYNAMIC")
    emu.run_until_idle()
    assert client.get_run(id=static["id"])["failureReason"] == "FILE_SYSTEM_OUT_OF_SPACE"
    assert client.get_run(id=dynamic["id"])["status"] == "COMPLETED"


def test_cancel_stops_running_tasks(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """Guide: task lifecycle — cancelled tasks go STOPPING → CANCELLED."""
    run = start(client, workflow_id, "cx")
    emu.advance(200)
    client.cancel_run(id=run["id"])
    emu.run_until_idle()
    assert client.get_run(id=run["id"])["status"] == "CANCELLED"
    (align,) = client.list_run_tasks(id=run["id"])["items"]
    assert align["status"] == "CANCELLED"


def test_reproducible_with_the_same_seed(s3: Any) -> None:
    """Same seed, same scenario → same ids and same event stream."""

    def scenario() -> list[str]:
        e = OmicsEmulator(s3=s3, seed=42, faults=FaultPlan())
        wf = e.register_workflow("w")
        e.dispatch("StartRun", {"workflowId": wf, "roleArn": "r", "outputUri": "s3://b/o", "requestId": "x"})
        e.run_until_idle()
        return [f"{ev['id']}:{ev['detail']['status']}" for ev in e.emitted_events]

    assert scenario() == scenario()


def test_a_deleted_runs_id_is_reused_by_a_new_run_with_a_new_uuid(
    client: Any, emu: OmicsEmulator, workflow_id: str
) -> None:
    """Guide, "Working with HealthOmics runs" (HealthOmics 실행 사용): HealthOmics reuses the IDs of deleted
    runs, so a run and a deleted run can have the same run ID; the run uuid tells them apart."""
    emu.reuse_deleted_run_ids = True
    # Given a run that completed and was deleted
    first = start(client, workflow_id, "reuse-1")
    emu.run_until_idle()
    client.delete_run(id=first["id"])
    # When a new run starts
    second = start(client, workflow_id, "reuse-2")
    # Then it carries the deleted run's id under a new uuid, and the API answers for the new run only
    assert second["id"] == first["id"] and second["uuid"] != first["uuid"]
    assert client.get_run(id=second["id"])["uuid"] == second["uuid"]
    emu.run_until_idle()
    events = [e["detail"] for e in emu.emitted_events if e["detail-type"] == "Run Status Change"]
    assert [(d["uuid"], d["status"]) for d in events if d["status"] in ("COMPLETED", "DELETED")] == [
        (first["uuid"], "COMPLETED"), (first["uuid"], "DELETED"), (second["uuid"], "COMPLETED")]
    tasks = [e["detail"] for e in emu.emitted_events if e["detail-type"] == "Task Status Change"]
    assert {d["runUuid"] for d in tasks} == {first["uuid"], second["uuid"]}
    # and the deleted run's requestId does not answer with the new run
    again = start(client, workflow_id, "reuse-1")
    assert again["uuid"] not in (first["uuid"], second["uuid"])


def test_get_run_can_lag_behind_the_status_event(client: Any, emu: OmicsEmulator, workflow_id: str) -> None:
    """GetRun is eventually consistent: right after a transition's event it may still answer the previous
    status (the recorder and re-runner retry rather than trust it)."""
    emu.get_run_lag_seconds = 5.0
    run = start(client, workflow_id, "lag-1")
    while run_statuses(emu, run["id"])[-1] != "COMPLETED":
        emu.advance(1)
    # Right after the COMPLETED event GetRun still says STOPPING; a few virtual seconds later it catches up
    assert client.get_run(id=run["id"])["status"] == "STOPPING"
    emu.advance(5)
    assert client.get_run(id=run["id"])["status"] == "COMPLETED"
