"""The right-sizing consumer's own settings (set by stacks/components/rightsizing.py)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

ENV_HEADROOM = "RIGHTSIZING_HEADROOM"
ENV_MANIFEST_ATTEMPTS = "RIGHTSIZING_MANIFEST_ATTEMPTS"
# The run statuses the event rule routes here (and the handler takes): a COMPLETED run is right-sized; a
# FAILED one (its manifest is written too) only has its DYNAMIC storage use read, which prices it.
COMPLETED, FAILED = "COMPLETED", "FAILED"
SIZED_STATUSES = (COMPLETED, FAILED)


class RightsizingSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)  # validators built on first use, not at cold start

    headroom: float = Field(default=0.05, ge=0, le=1)
    manifest_attempts: int = Field(default=4, ge=1)

    @classmethod
    def from_env(cls) -> RightsizingSettings:
        return cls(headroom=float(os.environ.get(ENV_HEADROOM) or 0.05),
                   manifest_attempts=int(os.environ.get(ENV_MANIFEST_ATTEMPTS) or 4))
