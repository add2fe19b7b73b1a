"""What the re-runner's decisions share: the records and ids they write, the lineage a next attempt
carries, and `RerunnerCore`, the state and the steps (decide, claim, delay) every decision goes through."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rerunner.dal import AwsAccess
from rerunner.policy import MAX_RUN_TAGS, SQS_MAX_DELAY_SECONDS, Decision, RerunPolicy
from rerunner.work import Work
from shared.clock import utc_now
from shared.errors import PermanentError, RetryableError
from shared.lineage import TAG_STACK, Lineage, stack_tags
from shared.provenance import keys
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceRepository
from shared.status import RUN_TERMINAL, RunStatus, from_iso_time, iso_time

CLAIM_TTL_DAYS = 400


class Decided:
    """Decision record values (the `decision` attribute)."""

    STARTED = "STARTED"
    DELAYED = "DELAYED"
    BRAKED = "BRAKED"
    NEVER = "NEVER"
    EXHAUSTED = "EXHAUSTED"
    SUPERSEDED = "SUPERSEDED"
    REJECTED = "REJECTED"
    GONE = "GONE"
    FOREIGN = "FOREIGN"  # not started by this stack, and rerunForeignRuns is off


NOT_STARTED_HERE = "not started by this stack"


@dataclass
class Outcome:
    """What handling one piece of work did (for metrics, logs and tests)."""

    work: Work
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    started: list[str] = field(default_factory=list)  # new run or batch ids
    skipped: str | None = None  # why nothing was decided (not failed, batch member, duplicate...)
    brake_engaged: bool = False

    def count(self, decision: str, n: int = 1) -> None:
        self.decisions[decision] += n


@dataclass(frozen=True)
class Config:
    policy: RerunPolicy
    run_cache_id: str | None = None
    omics_role_arn: str | None = None
    queue_url: str | None = None
    queue_arn: str | None = None
    scheduler_role_arn: str | None = None
    schedule_group: str = "default"
    settings_bucket: str | None = None
    dead_letter_arn: str | None = None
    rerun_foreign_runs: bool = False  # act on runs and batches this stack did not start (docs/RERUN_POLICY.md)
    stack_id: str | None = None  # this stack's identity (autopilot:stack tag): what "started here" means


def decision_sk(attempt: int) -> str:
    return keys.rerun_sk(attempt)  # the recorder reads it too: one spelling (shared/supersede.py)


def rerun_cache_behavior(current: str | None) -> str:
    # CACHE_ALWAYS also saves on failure; anything else becomes the guide's CACHE_ON_FAILURE.
    return "CACHE_ALWAYS" if current == "CACHE_ALWAYS" else "CACHE_ON_FAILURE"


def with_lineage(tags: dict[str, str], lineage: dict[str, str]) -> dict[str, str]:
    merged = {**tags, **lineage}
    if len(merged) > MAX_RUN_TAGS:  # lineage wins over the owner's tags when the 50-tag limit bites
        extra = [k for k in tags if k not in lineage][: len(merged) - MAX_RUN_TAGS]
        merged = {k: v for k, v in merged.items() if k not in extra}
    return merged


def next_lineage(failed: RunDetails, decision: Decision, root_batch_id: str | None = None) -> Lineage:
    return Lineage(
        root_run_id=failed.root_run_id,
        root_run_uuid=failed.root_run_uuid,
        parent_run_id=failed.run_id,
        parent_run_uuid=failed.uuid,
        attempt=decision.attempt,
        sample=failed.sample,
        root_batch_id=root_batch_id or failed.root_batch_id,
        submission_id=failed.submission_id,
        rerun_reason=decision.reason,
        remediation=decision.remediation,
    )


class RerunnerCore:
    """The re-runner's state and the steps every decision shares; `logic.Rerunner` combines the decisions."""

    def __init__(
        self,
        repository: ProvenanceRepository,
        aws: AwsAccess,
        config: Config,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.repository = repository
        self.aws = aws
        self.config = config
        self.now = now

    @property
    def policy(self) -> RerunPolicy:
        return self.config.policy

    def _stack_tags(self, ours: bool) -> dict[str, str]:
        """autopilot:stack for what this stack starts on its own behalf; never on a foreign run's re-run."""
        return stack_tags(self.config.stack_id) if ours else {}

    # ================================================================== decisions
    def _cost_estimate(self, failed: RunDetails) -> dict[str, Any]:
        """What the failed attempt cost and what resuming from its cache may avoid (recorded figures)."""
        # Imported here: the cost modules serve decisions only, not the events skipped before one (batch
        # members, runs no longer failed, duplicates), so they are not part of the cold start (issue 13).
        from shared.provenance.cost_repository import CostRepository, attempt_estimate

        return attempt_estimate(CostRepository(self.repository), failed.run_id, str(failed.uuid)) if failed.uuid else {}

    def _decide(
        self, outcome: Outcome, pk: str, sk: str, record: dict[str, Any], decision: str, count: bool = True
    ) -> None:
        self.repository.record_decision(pk, sk, {**record, "decision": decision})
        if count:
            outcome.count(decision)

    def _claim(self, pk: str, sk: str, request: dict[str, Any]) -> None:
        """Claim the decision at `sk` for the start `request` (its requestId), before the start is attempted."""
        self.repository.claim(
            pk,
            sk + "#CLAIM",
            {"entity": "RERUN_CLAIM", "request_id": request["requestId"], "claimed_at": iso_time(self.now())},
            int((self.now() + timedelta(days=CLAIM_TTL_DAYS)).timestamp()),
        )

    # ================================================================== delays
    def _due(self, pk: str, sk: str, delay_seconds: int) -> datetime | None:
        """None when the work may start now; else when it may (first decision time + delay)."""
        if delay_seconds <= 0:
            return None
        first = from_iso_time(self.repository.first_seen(pk, sk, iso_time(self.now())))
        due = first + timedelta(seconds=delay_seconds)
        return due if self.now() < due else None

    def _wake_later(self, work: Work, due: datetime, name: str) -> None:
        """Bring `work` back at `due`: SQS DelaySeconds up to 15 minutes, a one-time Scheduler schedule
        beyond (deletes itself after it fired). Duplicate wake-ups are harmless (claims)."""
        seconds = max(1, int((due - self.now()).total_seconds() + 0.999))
        body = work.message("wake")
        if seconds <= SQS_MAX_DELAY_SECONDS:
            if not self.config.queue_url:
                raise PermanentError("delayed re-runs need RERUN_QUEUE_URL")
            self.aws.send_delayed(self.config.queue_url, body, seconds)
            return
        if not (self.config.queue_arn and self.config.scheduler_role_arn):
            raise PermanentError("re-runs delayed beyond 15 minutes need RERUN_QUEUE_ARN and the scheduler role")
        self.aws.schedule_once(
            _schedule_name(name),
            self.config.schedule_group,
            due,
            self.config.queue_arn,
            self.config.scheduler_role_arn,
            body,
            dead_letter_arn=self.config.dead_letter_arn,
        )


def tagged_by_stack(tags: dict[str, str] | None, stack_id: str | None) -> bool:
    """Tagged by this very stack: autopilot:stack equal to its id. Any autopilot:* tag is not enough, every
    deployment in the account (dev beside prod) writes those; without a stack id nothing is ours by tag."""
    return bool(stack_id) and (tags or {}).get(TAG_STACK) == stack_id


def raise_if_lagging(run: RunDetails) -> None:
    """GetRun is eventually consistent and can still answer STOPPING (or RUNNING) after the FAILED event:
    fail this work so it comes back through the queue (bounded by its redrive policy), never drop it."""
    if run.status not in RUN_TERMINAL and run.status != RunStatus.DELETED:
        raise RetryableError(f"GetRun {run.run_id} still says {run.status} after a FAILED event; retried")


def is_enriched(summary: dict[str, Any]) -> bool:
    return bool(summary.get("details_recorded_at") and summary.get("root_run_id") and summary.get("status"))


def _schedule_name(name: str) -> str:
    """Scheduler names: 1-64 of [0-9a-zA-Z-_.]; long names keep a hash so they stay unique."""
    clean = re.sub(r"[^0-9A-Za-z_.-]", "-", f"autopilot-rerun-{name}")
    if len(clean) <= 64:
        return clean
    return clean[:51] + "-" + hashlib.sha256(clean.encode()).hexdigest()[:12]
