"""The emulator's instance choice and run manifests against the guide.

Oracles: the guide's 'Compute and memory requirements for HealthOmics tasks' (ko: HealthOmics 작업에 대한
컴퓨팅 및 메모리 요구 사항: HealthOmics picks the instance type that fits the requested vCPUs and memory;
8 vCPUs + 64 GiB -> omics.r.2xlarge; no request -> omics.c.large) with its instance tables
(lambdas/shared/cost/instance_types.json), and the guide's run manifest example
(tests/fixtures/guide/run-manifest.example.json; 'Monitoring with CloudWatch Logs': stream
manifest/run/<run id>/<run uuid> in /aws/omics/WorkflowLog, with the listed utilisation statistics)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from sandbox.omics import OmicsEmulator, TaskSpec, VirtualClock
from sandbox.omics.manifests import LOG_GROUP
from sandbox.omics.specs import OutputSpec, definition_zip, spec_from_zip
from shared.cost.instances import by_name, instance_types
from tests.factories import REFERENCE_EVENTS
from tests.sandbox.conftest import ACCOUNT, REGION, START, start

GUIDE_METRICS = {"cpusAverage", "cpusMaximum", "cpusReserved", "gpusReserved", "memoryAverageGiB",
                 "memoryMaximumGiB", "memoryReservedGiB", "runningSeconds"}
TASKS = [
    TaskSpec("align", (), 600, (OutputSpec("bam", 2048),), cpus=8, memory=64,
             usage=(("cpusMaximum", 3.5), ("memoryMaximumGiB", 20.0))),
    TaskSpec("call", ("align",), 300, (OutputSpec("vcf", 512),), cpus=16, memory=32),
]


@pytest.mark.parametrize(("cpus", "memory", "expected"), [
    (8, 64, "omics.r.2xlarge"),  # the guide's example
    (2, 4, "omics.c.large"),  # the guide: the smallest type (the default for a task asking nothing)
    (16, 32, "omics.c.4xlarge"),
    (3, 9, "omics.m.xlarge"),
    (12, 48, "omics.m.4xlarge"),  # there is no 3xlarge: the next size up
])
def test_a_task_runs_on_the_smallest_type_of_the_guides_table_that_fits(cpus: int, memory: int,
                                                                         expected: str) -> None:
    # Given a task asking `cpus` and `memory`, when the emulator places it,
    chosen = TaskSpec("t", cpus=cpus, memory=memory).instance_type
    # then it gets the expected type, which fits, and no type of the guide's table that fits is smaller.
    assert chosen == expected
    fitted = by_name(chosen)
    assert fitted is not None and fitted.vcpus >= cpus and fitted.memory_gib >= memory
    assert not [t for t in instance_types() if not t.gpus and t.vcpus >= cpus and t.memory_gib >= memory
                and (t.vcpus, t.memory_gib) < (fitted.vcpus, fitted.memory_gib)]


def test_usage_figures_are_declared_in_the_spec_and_round_trip_through_the_definition_zip() -> None:
    spec = spec_from_zip(definition_zip(TASKS))
    assert spec is not None
    align = spec.tasks[0].usage_figures()
    assert (align["cpusMaximum"], align["memoryMaximumGiB"]) == (3.5, 20.0)
    # Undeclared figures default to fractions of the request (a peak under the request).
    call = spec.tasks[1].usage_figures()
    assert 0 < call["cpusAverage"] <= call["cpusMaximum"] < 16 and 0 < call["memoryMaximumGiB"] < 32


def _manifest(emulator: OmicsEmulator, logs: Any, run: dict[str, Any]) -> list[dict[str, Any]]:
    stream = f"manifest/run/{run['id']}/{emulator.runs[run['id']].uuid}"
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
    return [json.loads(e["message"]) for e in events]


def test_a_completed_run_writes_its_manifest_in_the_guides_format(s3: Any) -> None:
    # Given an emulator with a CloudWatch Logs client (moto) and a two-task workflow,
    logs = boto3.client("logs", region_name=REGION)
    emulator = OmicsEmulator(clock=VirtualClock(start=START), s3=s3, account_id=ACCOUNT, region=REGION, logs=logs)
    workflow_id = emulator.register_workflow("wf", tasks=TASKS)
    from sandbox.omics import mock_omics

    with mock_omics(emulator):
        client = boto3.client("omics", region_name=REGION)
        run = start(client, workflow_id, "r1", name="sample-1")
        # When the run completes,
        assert emulator.run_until_idle()
        assert client.get_run(id=run["id"])["status"] == "COMPLETED"
        tasks = client.list_run_tasks(id=run["id"])["items"]
    records = _manifest(emulator, logs, run)
    guide_run, guide_task = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    # Then its stream holds the run record first, then one record per task,
    run_record, *task_records = records
    assert run_record["arn"].endswith(f":run/{run['id']}") and len(task_records) == 2
    # with every key of the guide's example records (ours add instanceType, gpus, storageType, metrics),
    assert set(guide_run) <= set(run_record) and set(guide_task) <= set(task_records[0])
    assert run_record["status"] == "COMPLETED" and run_record["uuid"] == emulator.runs[run["id"]].uuid
    # the guide's utilisation statistics, the declared figures, and the type ListRunTasks reports.
    by_name_ = {r["name"]: r for r in task_records}
    assert set(by_name_["align"]["metrics"]) == GUIDE_METRICS
    assert (by_name_["align"]["metrics"]["cpusMaximum"], by_name_["align"]["metrics"]["memoryMaximumGiB"]) == (
        3.5, 20.0)
    assert {t["name"]: t["instanceType"] for t in tasks} == {n: r["instanceType"] for n, r in by_name_.items()} == {
        "align": "omics.r.2xlarge", "call": "omics.c.4xlarge"}
    assert run_record["metrics"]["storageMaximumGiB"] >= run_record["metrics"]["storageAverageGiB"] > 0


def test_no_logs_client_no_manifest_and_a_delay_writes_it_later(s3: Any) -> None:
    logs = boto3.client("logs", region_name=REGION)
    emulator = OmicsEmulator(clock=VirtualClock(start=START), s3=s3, account_id=ACCOUNT, region=REGION, logs=logs)
    emulator.manifest_delay_seconds = 600
    workflow_id = emulator.register_workflow("wf", tasks=TASKS[:1])
    from sandbox.omics import mock_omics

    with mock_omics(emulator):
        client = boto3.client("omics", region_name=REGION)
        run = start(client, workflow_id, "r1")
        # Given a manifest written 600 s after the run's terminal status,
        while client.get_run(id=run["id"])["status"] != "COMPLETED":
            emulator.advance(30)
        # then at completion the stream is not there yet,
        assert emulator.manifests.written == []
        # and 600 s later it is.
        emulator.advance(600)
        assert len(_manifest(emulator, logs, run)) == 2
