"""Scriptable, seeded faults: failed runs, failed submissions, failed batches, throttling, event delivery."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Run failure reasons (GetRun.failureReason) after which the service saves no cache entries
# (guide: call caching, "nothing is cached when ... FILE_SYSTEM_OUT_OF_SPACE ... run times out").
NO_CACHE_REASONS = frozenset({"FILE_SYSTEM_OUT_OF_SPACE", "RUN_TIMED_OUT"})


@dataclass(frozen=True)
class RunView:
    """What a run fault predicate sees about a run when it is created."""

    run_id: str
    name: str | None
    run_setting_id: str | None
    batch_id: str | None
    workflow_id: str
    parameters: Mapping[str, Any]
    attempt: int
    source_run_id: str | None


@dataclass(frozen=True)
class RunFault:
    """Fail the matching runs.

    Matching: every selector that is set must match (``run_name``, ``run_setting_id``, ``predicate``).
    ``at_task`` names the task (by workflow task name) that fails; ``None`` fails the run while it is
    STARTING, before any task ran. ``first_attempt_only`` (default) spares re-runs: a re-run by runId,
    or a later batch member with the same runSettingId, is a new attempt.
    """

    reason: str = "RUN_TASK_FAILED"
    at_task: str | None = None
    message: str | None = None
    run_name: str | None = None
    run_setting_id: str | None = None
    predicate: Callable[[RunView], bool] | None = None
    first_attempt_only: bool = True
    probability: float = 1.0

    def selects(self, run: RunView) -> bool:
        if self.run_name is not None and run.name != self.run_name:
            return False
        if self.run_setting_id is not None and run.run_setting_id != self.run_setting_id:
            return False
        if self.predicate is not None and not self.predicate(run):
            return False
        return not (self.first_attempt_only and run.attempt > 1)


@dataclass(frozen=True)
class SubmissionFault:
    """Fail the start submission of matching batch entries (ListRunsInBatch submissionStatus FAILED)."""

    run_setting_ids: frozenset[str] | None = None
    predicate: Callable[[str, str], bool] | None = None  # (batch_id, run_setting_id)
    reason: str = "ServiceQuotaExceededException"
    message: str = "Exceeded the maximum number of active runs."

    def selects(self, batch_id: str, run_setting_id: str) -> bool:
        if self.run_setting_ids is not None and run_setting_id not in self.run_setting_ids:
            return False
        return not (self.predicate is not None and not self.predicate(batch_id, run_setting_id))


@dataclass(frozen=True)
class BatchFault:
    """Fail a whole batch during its asynchronous validation (status FAILED, no runs created).

    ``times``: fail only the first ``times`` matching validations (a transient error that a resubmission
    gets past, whatever the service answers it with); ``None`` fails every one.
    """

    batch_name: str | None = None
    predicate: Callable[[str, str | None], bool] | None = None  # (batch_id, batch_name)
    reason: str = "INTERNAL_SERVER_EXCEPTION"
    message: str = "The service encountered a transient error. Retry the batch."
    times: int | None = None

    def selects(self, batch_id: str, batch_name: str | None) -> bool:
        if self.batch_name is not None and batch_name != self.batch_name:
            return False
        return not (self.predicate is not None and not self.predicate(batch_id, batch_name))


@dataclass(frozen=True)
class EventFaults:
    """Best-effort delivery, as the guide warns: each probability applies per emitted event."""

    duplicate: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 30.0
    reorder: float = 0.0
    reorder_window: int = 10


# What StartRunBatch answers when a batch that FAILED is resubmitted with its requestId. The guide says to
# resubmit a transient batch-level failure with the same requestId (실패한 실행 처리 > 배치 수준 실패); what the
# service then returns is not documented, so each plausible answer can be played:
RESUBMIT_NEW_BATCH = "NEW_BATCH"  # a new batch (new id) for the request; the failed one stays FAILED (default:
#                                   FAILED is terminal in the guide's batch lifecycle)
RESUBMIT_SAME_BATCH = "SAME_BATCH"  # the failed batch goes back through validation and submission, same id
RESUBMIT_FAILED_BATCH = "FAILED_BATCH"  # the failed batch as it is (idempotency wins): nothing restarts
RESUBMIT_ANSWERS = (RESUBMIT_NEW_BATCH, RESUBMIT_SAME_BATCH, RESUBMIT_FAILED_BATCH)


@dataclass
class FaultPlan:
    """All faults of a scenario. Reproducible: every random choice uses ``random.Random(seed)``."""

    runs: list[RunFault] = field(default_factory=list)
    submissions: list[SubmissionFault] = field(default_factory=list)
    batches: list[BatchFault] = field(default_factory=list)
    throttle: dict[str, float] = field(default_factory=dict)  # operation name or "*" -> probability
    events: EventFaults = field(default_factory=EventFaults)
    start_run_tps: float = 5.0  # batch submission pace (StartRun quota, runs per virtual second)
    batch_resubmission: str = RESUBMIT_NEW_BATCH  # one of RESUBMIT_ANSWERS
    batch_fault_hits: dict[int, int] = field(default_factory=dict, repr=False)  # BatchFault index -> failures
    seed: int | None = None  # defaults to the emulator's seed

    def rng(self, fallback_seed: int) -> random.Random:
        return random.Random(self.seed if self.seed is not None else fallback_seed)

    def run_fault_for(self, run: RunView, rng: random.Random) -> RunFault | None:
        for fault in self.runs:
            if fault.selects(run) and (fault.probability >= 1.0 or rng.random() < fault.probability):
                return fault
        return None

    def submission_fault_for(self, batch_id: str, run_setting_id: str) -> SubmissionFault | None:
        return next((f for f in self.submissions if f.selects(batch_id, run_setting_id)), None)

    def __post_init__(self) -> None:
        if self.batch_resubmission not in RESUBMIT_ANSWERS:
            raise ValueError(f"batch_resubmission must be one of {RESUBMIT_ANSWERS}, not {self.batch_resubmission!r}")

    def batch_fault_for(self, batch_id: str, batch_name: str | None) -> BatchFault | None:
        for index, fault in enumerate(self.batches):
            if not fault.selects(batch_id, batch_name):
                continue
            hits = self.batch_fault_hits.get(index, 0)
            if fault.times is not None and hits >= fault.times:
                continue
            self.batch_fault_hits[index] = hits + 1
            return fault
        return None

    def should_throttle(self, operation: str, rng: random.Random) -> bool:
        p = self.throttle.get(operation, self.throttle.get("*", 0.0))
        return p > 0 and rng.random() < p
