"""The re-run policy: what to do with a failed run, by its failure reason. Pure: no I/O, no clock.

Every default follows the HealthOmics guide ('Run failure reasons', 'Rerun a run in HealthOmics', 'Call
caching for HealthOmics runs'); docs/RERUN_POLICY.md gives
the reason for each. Operators override any part with the `rerunPolicy` context key (cdk.json or
`-c rerunPolicy='{...}'`), which reaches the function as the RERUN_POLICY environment variable and is
validated by the same models at synthesis and at cold start.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Guide, run storage: static storage is at least 1,200 GiB, above that a multiple of 2,400 GiB.
STATIC_MIN_GIB = 1200
STATIC_STEP_GIB = 2400
# Longest delay SQS can apply to one message; anything longer goes through EventBridge Scheduler.
SQS_MAX_DELAY_SECONDS = 900
# Run tags are limited to 50 per run; lineage uses 8 of them.
MAX_RUN_TAGS = 50

# Submission failure reasons (ListRunsInBatch.submissionFailureReason) the guide calls retryable.
RETRYABLE_SUBMISSION_REASONS = frozenset(
    {
        "ServiceQuotaExceededException",
        "ConflictException",
        "ThrottlingException",
        "RequestTimeoutException",
        "InternalServerException",
    }
)


class Action(StrEnum):
    RERUN = "RERUN"
    RERUN_WITH_REMEDIATION = "RERUN_WITH_REMEDIATION"
    NEVER = "NEVER"


class StorageMode(StrEnum):
    GROW = "GROW"  # static storage, capacity x factor, rounded by the guide's rules, up to a cap
    DYNAMIC = "DYNAMIC"  # switch the run to dynamic storage (grows by itself, billed by use)


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


class Rule(_Strict):
    """What to do for one failure reason."""

    action: Action
    maxAttempts: int = Field(default=1, ge=0, le=10)  # the highest attempt number this reason may start
    delaySeconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)
    backoffFactor: float = Field(default=1.0, ge=1.0, le=10.0)  # delay x factor^(attempt-1)
    why: str = ""


class StorageRemediation(_Strict):
    """How FILE_SYSTEM_OUT_OF_SPACE is remedied."""

    mode: StorageMode = StorageMode.GROW
    factor: float = Field(default=2.0, gt=1.0, le=10.0)
    maxCapacityGiB: int = Field(default=9600, ge=STATIC_MIN_GIB, le=100_000)


class BrakeConfig(_Strict):
    """Automatic re-runs of a workflow pause when more than `maxFailures` of its runs fail within one
    fixed window of `windowMinutes`; the pause lasts `coolDownMinutes` (0: until an operator releases it)."""

    enabled: bool = True
    maxFailures: int = Field(default=1000, ge=1)
    windowMinutes: int = Field(default=60, ge=1, le=24 * 60)
    coolDownMinutes: int = Field(default=60, ge=0, le=7 * 24 * 60)


_NEVER_CONFIG = "configuration, permission or input problem: a re-run fails the same way"
NEVER_CONFIG_REASONS = (
    "ASSUME_ROLE_FAILED",
    "ECR_PERMISSION_ERROR",
    "EXPORT_FAILED",
    "IMPORT_FAILED",
    "INPUT_URI_NOT_FOUND",
    "INVALID_ECR_IMAGE_URI",
    "INVALID_TASK_RESOURCE_VALUE",
    "INVALID_URI_INPUT",
    "IMAGE_VALIDATION_FAILED",
    "CANNOT_START_CONTAINER_ERROR",
    "CANNOT_START_CONTAINER_SIZE_ERROR",
    "INACTIVE_OMICS_STORAGE_RESOURCE",
    "UNSUPPORTED_INPUT_SIZE",
    "UNSUPPORTED_GPU_INSTANCE_TYPE",
    "WORKFLOW_RUN_FAILED",
    "WORKFLOW_VER_VALIDATION_FAILED",
)


def default_rules() -> dict[str, Rule]:
    rules = {
        "SERVICE_ERROR": Rule(
            action=Action.RERUN,
            maxAttempts=3,
            why="transient service error; the cache resumes after the last completed task",
        ),
        "MODIFIED_INPUT_RESOURCE": Rule(
            action=Action.RERUN,
            maxAttempts=2,
            why="guide: retry the run; it reads the inputs as they are now",
        ),
        "INSTANCE_RESERVATION_FAILED": Rule(
            action=Action.RERUN,
            maxAttempts=3,
            delaySeconds=1800,
            backoffFactor=2.0,
            why="not enough instance capacity now; capacity returns, so wait 30 min, then 60 min",
        ),
        "FILE_SYSTEM_OUT_OF_SPACE": Rule(
            action=Action.RERUN_WITH_REMEDIATION,
            maxAttempts=2,
            why="static run storage too small: re-run with more storage (nothing was cached)",
        ),
        "RUN_TASK_FAILED": Rule(
            action=Action.RERUN,
            maxAttempts=1,
            why="a task failed; one re-run from the cache tells a flaky task from a bug",
        ),
        "RUN_TIMED_OUT": Rule(action=Action.NEVER, why="run time limit exceeded; no cache is saved on a run timeout"),
        "TASK_TIMED_OUT": Rule(action=Action.NEVER, why="task time limit exceeded; needs a workflow change"),
        "OUT_OF_MEMORY_ERROR": Rule(action=Action.NEVER, why="task memory too low; needs a workflow change"),
    }
    rules.update({reason: Rule(action=Action.NEVER, why=_NEVER_CONFIG) for reason in NEVER_CONFIG_REASONS})
    return rules


class RerunPolicy(_Strict):
    """The whole policy. `rules` given in configuration are merged over the defaults reason by reason."""

    rules: dict[str, Rule] = Field(default_factory=default_rules)
    # default_factory, not instances: an instance here would build the models' validators at import
    # (cold start, issue 13) instead of on first use; the models are frozen, so sharing changes nothing.
    unknownReason: Rule = Field(default_factory=lambda: Rule(action=Action.NEVER,
                                                             why="unknown failure reason: a person decides"))
    maxAttempts: int = Field(default=3, ge=0, le=10)  # global cap over every reason
    storage: StorageRemediation = Field(default_factory=StorageRemediation)
    brake: BrakeConfig = Field(default_factory=BrakeConfig)
    retryableSubmissionReasons: frozenset[str] = RETRYABLE_SUBMISSION_REASONS
    submissionMaxAttempts: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _merge_rules(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("rules"), dict):
            merged: dict[str, Any] = dict(default_rules())
            merged.update(data["rules"])
            data = {**data, "rules": merged}
        return data

    def rule(self, reason: str | None) -> Rule:
        return self.rules.get(reason or "", self.unknownReason)


class PolicyError(ValueError):
    """The configured policy is invalid; the message names the offending key."""


def load_policy(raw: str | dict[str, Any] | None) -> RerunPolicy:
    """Parse and validate a policy from JSON text or a mapping; empty means the defaults."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return RerunPolicy()
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return RerunPolicy.model_validate(data)
    except json.JSONDecodeError as error:
        raise PolicyError(f"rerunPolicy is not valid JSON: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"rerunPolicy.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise PolicyError(problems) from None


# ---------------------------------------------------------------------------------------- storage
def round_static_capacity(gib: float) -> int:
    """The capacity HealthOmics allocates for a static-storage request (guide's rounding, rounded up)."""
    if gib <= STATIC_MIN_GIB:
        return STATIC_MIN_GIB
    return math.ceil(gib / STATIC_STEP_GIB) * STATIC_STEP_GIB


class Storage(_Strict):
    """A run's storage settings as StartRun / defaultRunSetting take them."""

    storageType: str = "STATIC"
    storageCapacity: int | None = None

    def request_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"storageType": self.storageType}
        if self.storageType == "STATIC" and self.storageCapacity is not None:
            fields["storageCapacity"] = self.storageCapacity
        return fields

    def label(self) -> str:
        if self.storageType == "STATIC" and self.storageCapacity is not None:
            return f"storage=STATIC:{self.storageCapacity}GiB"
        return f"storage={self.storageType}"


def more_storage(current: Storage, remedy: StorageRemediation) -> Storage | None:
    """The storage a FILE_SYSTEM_OUT_OF_SPACE re-run gets, or None when no more can be given."""
    if current.storageType == "DYNAMIC":
        return None  # dynamic storage already grows by itself: more is not ours to give
    if remedy.mode == StorageMode.DYNAMIC:
        return Storage(storageType="DYNAMIC")
    used = round_static_capacity(current.storageCapacity or STATIC_MIN_GIB)
    grown = round_static_capacity(used * remedy.factor)
    cap = (remedy.maxCapacityGiB // STATIC_STEP_GIB) * STATIC_STEP_GIB or STATIC_MIN_GIB
    grown = min(grown, cap)
    return Storage(storageType="STATIC", storageCapacity=grown) if grown > used else None


# ---------------------------------------------------------------------------------------- decisions
class Verdict(StrEnum):
    RERUN = "RERUN"  # start the next attempt (now, or after `delay_seconds`)
    NEVER = "NEVER"  # the policy never re-runs this reason
    EXHAUSTED = "EXHAUSTED"  # the reason may be re-run, but not this many times / no more storage


class Decision(_Strict):
    verdict: Verdict
    reason: str  # the failure reason (or submission failure reason) decided on
    attempt: int  # the attempt number the re-run gets (parent's + 1)
    delay_seconds: int = 0
    storage: Storage | None = None  # remediation: the storage the re-run gets
    why: str = ""

    @property
    def reruns(self) -> bool:
        return self.verdict == Verdict.RERUN

    @property
    def remediation(self) -> str | None:
        return self.storage.label() if self.storage else None


def decide(policy: RerunPolicy, reason: str | None, parent_attempt: int, storage: Storage | None = None) -> Decision:
    """What to do about a failed run (attempt `parent_attempt`, 0 for an original run)."""
    rule = policy.rule(reason)
    attempt = parent_attempt + 1
    label = reason or "UNKNOWN"
    if rule.action == Action.NEVER:
        return Decision(verdict=Verdict.NEVER, reason=label, attempt=attempt, why=rule.why)
    limit = min(rule.maxAttempts, policy.maxAttempts)
    if attempt > limit:
        return Decision(
            verdict=Verdict.EXHAUSTED,
            reason=label,
            attempt=attempt,
            why=f"attempt {attempt} would exceed the limit of {limit} for {label}",
        )
    delay = int(rule.delaySeconds * rule.backoffFactor ** (attempt - 1)) if rule.delaySeconds else 0
    grown: Storage | None = None
    if rule.action == Action.RERUN_WITH_REMEDIATION:
        grown = more_storage(storage or Storage(), policy.storage)
        if grown is None:
            return Decision(
                verdict=Verdict.EXHAUSTED,
                reason=label,
                attempt=attempt,
                why="no more run storage to give (already dynamic, or at the configured cap)",
            )
    return Decision(
        verdict=Verdict.RERUN, reason=label, attempt=attempt, delay_seconds=delay, storage=grown, why=rule.why
    )


def decide_submission(policy: RerunPolicy, reason: str | None, batch_attempt: int) -> Decision:
    """What to do about a batch entry whose StartRun submission failed (no run was created)."""
    attempt = batch_attempt + 1
    label = reason or "UNKNOWN"
    if label not in policy.retryableSubmissionReasons:
        return Decision(
            verdict=Verdict.NEVER,
            reason=label,
            attempt=attempt,
            why="submission failure the guide calls not retryable (request or access problem)",
        )
    limit = min(policy.submissionMaxAttempts, policy.maxAttempts)
    if attempt > limit:
        return Decision(
            verdict=Verdict.EXHAUSTED,
            reason=label,
            attempt=attempt,
            why=f"attempt {attempt} would exceed the limit of {limit} for failed submissions",
        )
    return Decision(
        verdict=Verdict.RERUN,
        reason=label,
        attempt=attempt,
        why="submission failure the guide calls retryable",
    )
