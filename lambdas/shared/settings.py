"""Runtime settings read from the Lambda environment (set by the stack, or by the sandbox)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.omics import RateLimits

# Environment variable names: the stack sets them, the sandbox sets them, nothing else reads os.environ.
ENV_TABLE = "PROVENANCE_TABLE"
ENV_OMICS_RATE_LIMITS = "OMICS_RATE_LIMITS"  # JSON: quota group -> calls/s of one instance
ENV_RUN_CACHE_ID = "RUN_CACHE_ID"
ENV_OMICS_ROLE_ARN = "OMICS_ROLE_ARN"
ENV_ALARM_TOPIC_ARN = "ALARM_TOPIC_ARN"
ENV_CONTINUATION_QUEUE_URL = "CONTINUATION_QUEUE_URL"  # the recorder's own queue: work resumed from a checkpoint


class Settings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    table_name: str = Field(min_length=1)
    # The stack's per-instance share of each HealthOmics quota (stacks/components/omics_budgets.py).
    omics_rate_limits: str = ""
    run_cache_id: str | None = None
    omics_role_arn: str | None = None
    alarm_topic_arn: str | None = None
    continuation_queue_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=os.environ.get(ENV_TABLE, ""),
            omics_rate_limits=os.environ.get(ENV_OMICS_RATE_LIMITS, ""),
            run_cache_id=os.environ.get(ENV_RUN_CACHE_ID) or None,
            omics_role_arn=os.environ.get(ENV_OMICS_ROLE_ARN) or None,
            alarm_topic_arn=os.environ.get(ENV_ALARM_TOPIC_ARN) or None,
            continuation_queue_url=os.environ.get(ENV_CONTINUATION_QUEUE_URL) or None,
        )

    @field_validator("omics_rate_limits")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        RateLimits.from_json(value)  # fail at start-up, not at the first call
        return value

    @property
    def omics_limits(self) -> RateLimits:
        return RateLimits.from_json(self.omics_rate_limits)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; read lazily so importing a handler never touches the environment."""
    return Settings.from_env()
