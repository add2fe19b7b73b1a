"""Runtime settings read from the Lambda environment (set by the stack, or by the sandbox)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

# Environment variable names: the stack sets them, the sandbox sets them, nothing else reads os.environ.
ENV_TABLE = "PROVENANCE_TABLE"
ENV_OMICS_TPS = "OMICS_MAX_TPS"
ENV_RUN_CACHE_ID = "RUN_CACHE_ID"
ENV_OMICS_ROLE_ARN = "OMICS_ROLE_ARN"
ENV_ALARM_TOPIC_ARN = "ALARM_TOPIC_ARN"


class Settings(BaseModel):
    table_name: str = Field(min_length=1)
    omics_max_tps: float = Field(default=5.0, gt=0)
    run_cache_id: str | None = None
    omics_role_arn: str | None = None
    alarm_topic_arn: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            table_name=os.environ.get(ENV_TABLE, ""),
            omics_max_tps=float(os.environ.get(ENV_OMICS_TPS, "5")),
            run_cache_id=os.environ.get(ENV_RUN_CACHE_ID) or None,
            omics_role_arn=os.environ.get(ENV_OMICS_ROLE_ARN) or None,
            alarm_topic_arn=os.environ.get(ENV_ALARM_TOPIC_ARN) or None,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; read lazily so importing a handler never touches the environment."""
    return Settings.from_env()
