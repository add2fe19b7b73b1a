"""Wire models of the HealthOmics EventBridge events this project consumes.

Field names follow the guide's examples exactly; unknown fields are tolerated (the service adds
fields over time) and most fields are optional in practice. Batch counts arrive as strings.
A run's identity is (run id, run uuid): HealthOmics reuses the ids of deleted runs (guide, "Working with
HealthOmics runs"), so a run or task event without its run's uuid cannot be attributed and is malformed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

OMICS_SOURCE = "aws.omics"
RUN_STATUS_CHANGE = "Run Status Change"
TASK_STATUS_CHANGE = "Task Status Change"
RUN_BATCH_STATUS_CHANGE = "RunBatch Status Change"
CONSUMED_DETAIL_TYPES = frozenset({RUN_STATUS_CHANGE, TASK_STATUS_CHANGE, RUN_BATCH_STATUS_CHANGE})


def _count(value: Any) -> Any:
    """Counts are documented as strings ("96"); accept ints too, blank as missing."""
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value else None
    return value


Count = Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_count), Field(default=None)]


def resource_id(arn: str) -> str:
    """Last path element of an ARN: arn:aws:omics:r:a:task/8888888 -> 8888888."""
    return arn.rsplit("/", 1)[-1]


class _Detail(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow", populate_by_name=True)

    omicsVersion: str | None = None
    arn: str
    status: str


class RunDetail(_Detail):
    uuid: str = Field(min_length=1)
    runId: str | None = None
    runName: str | None = None
    runOutputUri: str | None = None
    workflowId: str | None = None
    workflowName: str | None = None

    @property
    def run_id(self) -> str:
        return self.runId or resource_id(self.arn)


class TaskDetail(_Detail):
    runArn: str | None = None
    runUuid: str = Field(min_length=1)
    runId: str | None = None
    runName: str | None = None
    workflowId: str | None = None
    workflowName: str | None = None

    @model_validator(mode="after")
    def _names_its_run(self) -> TaskDetail:
        # Checked when parsed: a task event that names no run is malformed (rejected), never retried.
        if not (self.runId or self.runArn):
            raise ValueError("Task Status Change carries neither runId nor runArn")
        return self

    @property
    def task_id(self) -> str:
        # The event has no task id field: the guide says to take it from the task ARN.
        return resource_id(self.arn)

    @property
    def run_id(self) -> str:
        return self.runId or resource_id(str(self.runArn))


class RunBatchDetail(_Detail):
    batchId: str | None = None
    uuid: str | None = None
    batchName: str | None = None
    totalRuns: Count
    successfulStartSubmissionCount: Count
    failedStartSubmissionCount: Count
    pendingStartSubmissionCount: Count
    pendingRunCount: Count
    startingRunCount: Count
    runningRunCount: Count
    stoppingRunCount: Count
    completedRunCount: Count
    failedRunCount: Count
    cancelledRunCount: Count
    deletedRunCount: Count
    workflowId: str | None = None
    workflowArn: str | None = None
    workflowVersionArn: str | None = None
    workflowOwnerId: str | None = None
    runCache: str | None = None
    runCacheBehavior: str | None = None
    failureReason: str | None = None
    failureMessage: str | None = None

    @property
    def batch_id(self) -> str:
        return self.batchId or resource_id(self.arn)

    def counts(self) -> dict[str, int]:
        names = (
            "totalRuns",
            "successfulStartSubmissionCount",
            "failedStartSubmissionCount",
            "pendingStartSubmissionCount",
            "pendingRunCount",
            "startingRunCount",
            "runningRunCount",
            "stoppingRunCount",
            "completedRunCount",
            "failedRunCount",
            "cancelledRunCount",
            "deletedRunCount",
        )
        return {name: value for name in names if (value := getattr(self, name)) is not None}


class _OmicsEvent(BaseModel):
    """The EventBridge envelope (Powertools' EventBridgeModel has the same fields; importing its
    parser package costs ~40 ms of cold start for five fields, so the envelope is declared here)."""

    model_config = ConfigDict(defer_build=True, extra="allow", populate_by_name=True)
    id: str
    source: str
    time: datetime
    replay_name: str | None = Field(default=None, alias="replay-name")
    # Envelope fields we never need: tolerated when absent (re-routed or replayed copies may lack them).
    version: str | None = None
    account: str | None = None
    region: str | None = None
    resources: list[str] = []


class RunStatusChange(_OmicsEvent):
    detail_type: Literal["Run Status Change"] = Field(alias="detail-type")
    detail: RunDetail


class TaskStatusChange(_OmicsEvent):
    detail_type: Literal["Task Status Change"] = Field(alias="detail-type")
    detail: TaskDetail


class RunBatchStatusChange(_OmicsEvent):
    detail_type: Literal["RunBatch Status Change"] = Field(alias="detail-type")
    detail: RunBatchDetail


OmicsEvent = RunStatusChange | TaskStatusChange | RunBatchStatusChange

_MODEL_BY_DETAIL_TYPE: dict[str, type[_OmicsEvent]] = {
    RUN_STATUS_CHANGE: RunStatusChange,
    TASK_STATUS_CHANGE: TaskStatusChange,
    RUN_BATCH_STATUS_CHANGE: RunBatchStatusChange,
}


class MalformedEvent(ValueError):
    """An aws.omics event we cannot even classify (no detail-type): recorded as REJECTED, never dropped."""


class IgnoredEvent(Exception):
    """An event this consumer does not handle (other source or detail-type): counted, not an error."""

    def __init__(self, source: str | None, detail_type: str | None) -> None:
        super().__init__(f"ignored event source={source!r} detail-type={detail_type!r}")
        self.source = source
        self.detail_type = detail_type


def parse_omics_event(raw: dict[str, Any]) -> OmicsEvent:
    """Parse one EventBridge event; raises IgnoredEvent for what we do not consume,
    pydantic.ValidationError for a malformed event of a consumed type, MalformedEvent for an aws.omics
    event without a detail-type (it may be one we consume: dropping it would lose it unseen)."""
    source, detail_type = raw.get("source"), raw.get("detail-type")
    if source == OMICS_SOURCE and (not isinstance(detail_type, str) or not detail_type.strip()):
        raise MalformedEvent(f"aws.omics event without a detail-type (got {detail_type!r})")
    model = _MODEL_BY_DETAIL_TYPE.get(detail_type or "")
    if source != OMICS_SOURCE or model is None:
        raise IgnoredEvent(source, detail_type)
    return model.model_validate(raw)  # type: ignore[return-value]
