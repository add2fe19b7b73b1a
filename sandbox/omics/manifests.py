"""Run manifests in (moto) CloudWatch Logs, in the guide's format.

The guide ('Run manifest', and 'Monitoring HealthOmics with CloudWatch Logs': run manifest logs are in
`/aws/omics/WorkflowLog`, stream `manifest/run/<run id>/<run uuid>`, after the run completes, for
successful and failed runs): one JSON record per log event, the run first (arn `...:run/<id>`), then one
record per task (arn `...:task/<id>`), with the utilisation statistics the guide lists (cpusAverage,
cpusMaximum, cpusReserved, gpusReserved, memoryAverageGiB, memoryMaximumGiB, memoryReservedGiB,
runningSeconds) under `metrics`. Tasks served from the cache ran nothing: no utilisation figures.

Log event timestamps are the host's clock, not the virtual one: CloudWatch Logs (and moto) drop events
older than 14 days or more than 2 hours ahead, and a scenario's virtual clock may be anywhere.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sandbox.omics.state import Run, Task


def run_resource_digests(run: Run) -> dict[str, str]:
    from sandbox.omics.api import run_resource_digests as digests  # the same digests GetRun answers

    return digests(run)

LOG_GROUP = "/aws/omics/WorkflowLog"
MANIFEST_STATUSES = frozenset({"COMPLETED", "FAILED"})
# PutLogEvents limits: 10,000 events and 1,048,576 bytes (each event counts its message + 26 bytes).
MAX_EVENTS_PER_PUT = 10_000
MAX_BYTES_PER_PUT = 1_048_576
EVENT_OVERHEAD_BYTES = 26
_TASK_STATUS = {"COMPLETED": "SUCCESS"}  # the guide's example manifest prints a completed task as SUCCESS


def manifest_stream(run: Run) -> str:
    return f"manifest/run/{run.id}/{run.uuid}"


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z" if value else None


def _seconds(start: datetime | None, stop: datetime | None) -> float | None:
    return round((stop - start).total_seconds(), 3) if start and stop else None


def run_record(run: Run, status: str, region: str, account: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "arn": run.arn, "creationTime": _time(run.creation_time), "resourceDigests": run_resource_digests(run),
        "digest": run.workflow.digest, "engine": run.workflow.engine, "main": run.workflow.main, "name": run.name,
        "outputUri": run.output_uri, "parameters": run.parameters, "roleArn": run.role_arn,
        "startedBy": run.started_by, "startTime": _time(run.start_time), "status": status,
        "stopTime": _time(run.stop_time), "storageCapacity": run.storage_capacity,
        "storageType": run.storage_type, "uuid": run.uuid,
        "workflow": f"arn:aws:omics:{region}:{account}:workflow/{run.workflow.id}", "workflowType": "PRIVATE",
    }
    used_gib = run.storage_used_bytes / 1024**3
    # Outputs accumulate over the run: the peak is what was written, the average about half of it.
    record["metrics"] = {"runningSeconds": _seconds(run.start_time, run.stop_time),
                         "storageMaximumGiB": round(used_gib, 6), "storageAverageGiB": round(used_gib / 2, 6)}
    return {k: v for k, v in record.items() if v is not None}


def task_record(run: Run, task: Task, region: str, account: str) -> dict[str, Any]:
    spec = task.spec
    image = f"{account}.dkr.ecr.{region}.amazonaws.com/{spec.name}"
    record: dict[str, Any] = {
        "arn": f"arn:aws:omics:{region}:{account}:task/{task.id}", "cpus": spec.cpus,
        "creationTime": _time(task.creation_time), "gpus": spec.gpus,
        "image": image,
        "imageDigest": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        "instanceType": task.instance_type, "memory": spec.memory, "name": task.name, "run": run.arn,
        "startTime": _time(task.start_time), "status": _TASK_STATUS.get(task.status, task.status),
        "stopTime": _time(task.stop_time), "uuid": task.uuid,
    }
    metrics: dict[str, Any] = {"cpusReserved": spec.cpus, "memoryReservedGiB": spec.memory,
                               "gpusReserved": spec.gpus,
                               "runningSeconds": _seconds(task.start_time, task.stop_time)}
    if not task.cache_hit:
        metrics.update(spec.usage_figures())
    record["metrics"] = {k: v for k, v in metrics.items() if v is not None}
    return {k: v for k, v in record.items() if v is not None}


def manifest_messages(run: Run, status: str, region: str, account: str) -> Iterator[str]:
    yield json.dumps(run_record(run, status, region, account), separators=(",", ":"))
    for task in run.tasks.values():
        yield json.dumps(task_record(run, task, region, account), separators=(",", ":"))


class ManifestWriter:
    """Writes a terminal run's manifest stream; nothing without a logs client."""

    def __init__(self, logs: Any | None, region: str, account: str) -> None:
        self._logs, self._region, self._account = logs, region, account
        self._group_ready = False
        self.written: list[str] = []  # stream names, in writing order

    @property
    def enabled(self) -> bool:
        return self._logs is not None

    def write(self, run: Run, status: str) -> None:
        """`status`: the run's terminal status (the manifest may be written just before it is announced)."""
        if self._logs is None or status not in MANIFEST_STATUSES:
            return
        self._ensure_group()
        stream = manifest_stream(run)
        try:
            self._logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
            return  # already written (one manifest per run)
        now = int(time.time() * 1000)
        batch: list[dict[str, Any]] = []
        size = 0
        for message in manifest_messages(run, status, self._region, self._account):
            cost = len(message.encode()) + EVENT_OVERHEAD_BYTES
            if batch and (len(batch) >= MAX_EVENTS_PER_PUT or size + cost > MAX_BYTES_PER_PUT):
                self._logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=batch)
                batch, size = [], 0
            batch.append({"timestamp": now, "message": message})
            size += cost
        self._logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=batch)
        self.written.append(stream)

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._logs.create_log_group(logGroupName=LOG_GROUP)  # type: ignore[union-attr]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        self._group_ready = True
