"""The re-runner's own runtime settings (environment set by its construct, or by the sandbox).

Shared settings (table, HealthOmics rate, run cache, service role) come from `shared.settings`.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from rerunner.policy import RerunPolicy, load_policy
from shared.lineage import stack_id_from_env

ENV_RERUN_POLICY = "RERUN_POLICY"
ENV_RERUN_QUEUE_URL = "RERUN_QUEUE_URL"
ENV_RERUN_QUEUE_ARN = "RERUN_QUEUE_ARN"
ENV_SCHEDULER_ROLE_ARN = "RERUN_SCHEDULER_ROLE_ARN"
ENV_SCHEDULE_GROUP = "RERUN_SCHEDULE_GROUP"
ENV_SETTINGS_BUCKET = "RERUN_SETTINGS_BUCKET"
ENV_DEAD_LETTER_ARN = "RERUN_DEAD_LETTER_ARN"
ENV_FOREIGN_RUNS = "RERUN_FOREIGN_RUNS"
ENV_NAMES = (
    ENV_DEAD_LETTER_ARN,
    ENV_FOREIGN_RUNS,
    ENV_RERUN_POLICY,
    ENV_RERUN_QUEUE_URL,
    ENV_RERUN_QUEUE_ARN,
    ENV_SCHEDULER_ROLE_ARN,
    ENV_SCHEDULE_GROUP,
    ENV_SETTINGS_BUCKET,
)


class RerunnerSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    policy: RerunPolicy = Field(default_factory=RerunPolicy)  # built on first use, not at import (cold start)
    queue_url: str | None = None  # the re-run queue: delayed work (SQS DelaySeconds) and released work
    queue_arn: str | None = None  # the same queue, as the target of one-time Scheduler schedules
    scheduler_role_arn: str | None = None  # the role EventBridge Scheduler assumes to send to the queue
    schedule_group: str = "default"
    settings_bucket: str | None = None  # where follow-up batches with > 100 runs get their settings file
    dead_letter_arn: str | None = None  # where a one-time schedule's undeliverable wake-up lands (alarmed)
    rerun_foreign_runs: bool = False  # also act on runs and batches this stack did not start
    stack_id: str | None = None  # this stack (shared.lineage.ENV_STACK_ID): what "started here" means

    @classmethod
    def from_env(cls) -> RerunnerSettings:
        return cls(
            policy=load_policy(os.environ.get(ENV_RERUN_POLICY)),
            queue_url=os.environ.get(ENV_RERUN_QUEUE_URL) or None,
            queue_arn=os.environ.get(ENV_RERUN_QUEUE_ARN) or None,
            scheduler_role_arn=os.environ.get(ENV_SCHEDULER_ROLE_ARN) or None,
            schedule_group=os.environ.get(ENV_SCHEDULE_GROUP) or "default",
            settings_bucket=os.environ.get(ENV_SETTINGS_BUCKET) or None,
            dead_letter_arn=os.environ.get(ENV_DEAD_LETTER_ARN) or None,
            rerun_foreign_runs=_flag(os.environ.get(ENV_FOREIGN_RUNS)),
            stack_id=stack_id_from_env(),
        )


def _flag(raw: str | None) -> bool:
    """The construct writes "true" or "false"; anything else is a misconfiguration, refused at cold start."""
    value = (raw or "false").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{ENV_FOREIGN_RUNS} must be true or false, not {raw!r}")
    return value == "true"
