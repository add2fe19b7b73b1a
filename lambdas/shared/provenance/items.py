"""Table item models: what the provenance table stores, mapped explicitly from domain facts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.lineage import Lineage


class StatusObservation(BaseModel):
    """One status event of a run, task or batch, as recorded in its history (idempotent on event id)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: str  # RUN | TASK | BATCH
    entity_id: str  # run id, task id or batch id
    run_id: str | None = None  # for tasks: the owning run
    run_uuid: str | None = None  # for runs and tasks: the run's uuid (with the run id, its identity)
    status: str
    rank: int
    event_id: str
    event_time: str  # iso_time
    order: str  # order_key(rank, time, event id)
    replay_name: str | None = None
    attributes: dict[str, Any] = {}


class RunDetails(Lineage):
    """What GetRun (once, at a terminal status) tells about a run, plus its lineage (from our tags)."""

    run_id: str
    status: str | None = None
    name: str | None = None
    uuid: str | None = None
    arn: str | None = None
    workflow_id: str | None = None
    workflow_type: str | None = None
    workflow_version_name: str | None = None
    failure_reason: str | None = None
    status_message: str | None = None
    batch_id: str | None = None
    source_run_id: str | None = None  # GetRun.runId: the run this one copied (a re-run)
    cache_id: str | None = None
    cache_behavior: str | None = None
    parameters: dict[str, Any] | None = None
    digest: str | None = None
    resource_digests: dict[str, str] | None = None
    started_by: str | None = None
    role_arn: str | None = None
    output_uri: str | None = None
    run_output_uri: str | None = None
    storage_type: str | None = None
    storage_capacity: int | None = None
    retention_mode: str | None = None
    run_group_id: str | None = None
    creation_time: str | None = None
    start_time: str | None = None
    stop_time: str | None = None
    tags: dict[str, str] = {}


class TaskDetails(BaseModel):
    """One row of ListRunTasks."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    run_id: str
    run_uuid: str
    name: str | None = None
    status: str | None = None
    cache_hit: bool | None = None
    cache_s3_uri: str | None = None
    cpus: int | None = None
    memory: int | None = None
    gpus: int | None = None
    instance_type: str | None = None
    creation_time: str | None = None
    start_time: str | None = None
    stop_time: str | None = None
    status_message: str | None = None


class BatchMember(BaseModel):
    """One row of ListRunsInBatch: runSettingId -> runId and the submission's outcome."""

    model_config = ConfigDict(defer_build=True)

    batch_id: str
    run_setting_id: str
    run_id: str | None = None
    run_uuid: str | None = None  # runInternalUuid
    run_arn: str | None = None
    submission_status: str | None = None
    submission_failure_reason: str | None = None
    submission_failure_message: str | None = None
