"""In-memory resources of the emulated account (guarded by the emulator's lock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.omics.faults import RunFault
from sandbox.omics.specs import TaskSpec, WorkflowSpec

RUN_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "DELETED"})
TASK_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
BATCH_TERMINAL = frozenset({"PROCESSED", "CANCELLED", "FAILED", "RUNS_DELETED", "RUNS_DELETE_FAILED"})


@dataclass
class Workflow:
    id: str
    arn: str
    uuid: str
    name: str | None
    description: str | None
    engine: str
    main: str | None
    digest: str
    spec: WorkflowSpec
    parameter_template: dict[str, Any] | None
    storage_type: str | None
    storage_capacity: int | None
    creation_time: datetime
    request_id: str
    status: str = "ACTIVE"
    # versionName -> its own defaults (CreateWorkflowVersion): storageType and storageCapacity, as the workflow's
    versions: dict[str, WorkflowVersion] = field(default_factory=dict)


@dataclass
class WorkflowVersion:
    name: str
    arn: str
    storage_type: str | None
    storage_capacity: int | None
    creation_time: datetime
    status: str = "ACTIVE"


@dataclass
class Task:
    id: str
    uuid: str
    spec: TaskSpec
    cache_key: str
    creation_time: datetime
    status: str = "PENDING"
    start_time: datetime | None = None
    stop_time: datetime | None = None
    status_message: str | None = None
    failure_reason: str | None = None
    cache_hit: bool = False
    cache_s3_uri: str | None = None
    instance_type: str | None = None  # the service's placement (specs.service_instance_type), in its region
    will_fail: bool = False
    cancel_requested: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Run:
    id: str
    arn: str
    uuid: str
    request_id: str
    workflow: Workflow
    name: str | None
    role_arn: str
    output_uri: str
    parameters: dict[str, Any]
    tags: dict[str, str]
    priority: int | None
    storage_type: str
    storage_capacity: int | None
    retention_mode: str
    log_level: str | None
    run_group_id: str | None
    cache_id: str | None
    cache_behavior: str | None
    source_run_id: str | None
    batch_id: str | None
    run_setting_id: str | None
    attempt: int
    started_by: str
    creation_time: datetime
    workflow_version_name: str | None = None
    engine_settings: dict[str, Any] | None = None
    status: str = "PENDING"
    start_time: datetime | None = None
    stop_time: datetime | None = None
    status_message: str | None = None
    failure_reason: str | None = None
    fault: RunFault | None = None
    tasks: dict[str, Task] = field(default_factory=dict)  # taskId -> task, in creation order
    task_by_name: dict[str, Task] = field(default_factory=dict)
    storage_used_bytes: int = 0
    ending: bool = False  # STOPPING towards a terminal status has begun
    previous_status: str | None = None  # what GetRun still answers while it lags the last transition
    status_changed_at: datetime | None = None

    @property
    def run_output_uri(self) -> str:
        return f"{self.output_uri.rstrip('/')}/{self.id}/{self.uuid}"


@dataclass
class RunCache:
    id: str
    arn: str
    uuid: str
    name: str | None
    description: str | None
    cache_s3_location: str
    cache_behavior: str
    cache_bucket_owner_id: str | None
    creation_time: datetime
    request_id: str
    status: str = "ACTIVE"


@dataclass
class BatchEntry:
    """One run setting of a batch, after merging over the batch's defaults."""

    run_setting_id: str
    setting: dict[str, Any]
    submission_status: str | None = None  # None: not attempted yet
    submission_failure_reason: str | None = None
    submission_failure_message: str | None = None
    run_id: str | None = None
    run_uuid: str | None = None  # the run this entry created (a deleted run's id may be reused by another run)


@dataclass
class Batch:
    id: str
    arn: str
    uuid: str
    name: str | None
    request_id: str
    tags: dict[str, str]
    default_run_setting: dict[str, Any]
    inline_settings: list[dict[str, Any]] | None
    s3_uri_settings: str | None
    s3_etag: str | None
    creation_time: datetime
    status: str = "CREATING"
    total_runs: int | None = None
    entries: list[BatchEntry] = field(default_factory=list)
    next_submission: int = 0
    submitted_time: datetime | None = None
    processed_time: datetime | None = None
    failed_time: datetime | None = None
    failure_reason: str | None = None  # event-style category, e.g. VALIDATION_EXCEPTION
    failure_message: str | None = None
    successful_cancel: int = 0
    failed_cancel: int = 0
    successful_delete: int = 0
    failed_delete: int = 0
    deleted: bool = False
