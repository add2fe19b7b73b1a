"""The launcher's deploy configuration, read from its Lambda environment (set by the stack / sandbox).

These are the batch-level settings a sheet falls back to, plus where settings files go.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from launcher.policy import DEFAULT_MAX_SHEET_BYTES, DEFAULT_MAX_STORAGE_GIB, SheetPolicy, as_prefix
from shared.settings import ENV_OMICS_ROLE_ARN, ENV_RUN_CACHE_ID

ENV_WORKFLOW_ID = "WORKFLOW_ID"
ENV_WORKFLOW_VERSION = "WORKFLOW_VERSION_NAME"
ENV_OUTPUT_URI = "RUN_OUTPUT_URI"
ENV_CACHE_BEHAVIOR = "RUN_CACHE_BEHAVIOR"
ENV_STORAGE_TYPE = "RUN_STORAGE_TYPE"
ENV_STORAGE_CAPACITY = "RUN_STORAGE_CAPACITY"
ENV_RUN_GROUP_ID = "RUN_GROUP_ID"
ENV_RETENTION_MODE = "RUN_RETENTION_MODE"
ENV_LOG_LEVEL = "RUN_LOG_LEVEL"
ENV_SUBMISSIONS_BUCKET = "SUBMISSIONS_BUCKET"
ENV_SUBMISSIONS_PREFIX = "SUBMISSIONS_PREFIX"
ENV_SETTINGS_PREFIX = "BATCH_SETTINGS_PREFIX"
# The deployer's allow-lists (launcher/policy.py); lists are comma-separated.
ENV_SHEET_WORKFLOWS = "SHEET_WORKFLOWS"  # id or id:version
ENV_SHEET_OUTPUT_PREFIXES = "SHEET_OUTPUT_PREFIXES"
ENV_SHEET_RUN_GROUP_IDS = "SHEET_RUN_GROUP_IDS"
ENV_SHEET_MAX_STORAGE_GIB = "SHEET_MAX_STORAGE_GIB"
ENV_SHEET_ALLOW_DYNAMIC_STORAGE = "SHEET_ALLOW_DYNAMIC_STORAGE"  # "true" | "false" (the default)
ENV_SHEET_MAX_BYTES = "SHEET_MAX_BYTES"
ENV_RUN_CACHE_BUCKETS = "RUN_CACHE_BUCKETS"  # never an output location

DEFAULT_SUBMISSIONS_PREFIX = "submissions/"
DEFAULT_SETTINGS_PREFIX = "batch-settings/"
ERRORS_SUFFIX = ".errors.json"


class LauncherConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflow_id: str | None = None
    workflow_version_name: str | None = None
    role_arn: str | None = None
    output_uri: str | None = None
    cache_id: str | None = None
    cache_behavior: str = "CACHE_ON_FAILURE"
    storage_type: str | None = None
    storage_capacity: int | None = Field(default=None, ge=0)
    run_group_id: str | None = None
    retention_mode: str | None = None
    log_level: str | None = None
    submissions_bucket: str | None = None
    submissions_prefix: str = DEFAULT_SUBMISSIONS_PREFIX
    settings_prefix: str = DEFAULT_SETTINGS_PREFIX
    allowed_workflows: list[str] = Field(default_factory=list)
    allowed_output_prefixes: list[str] = Field(default_factory=list)
    allowed_run_group_ids: list[str] = Field(default_factory=list)
    max_storage_gib: int = Field(default=DEFAULT_MAX_STORAGE_GIB, ge=0)
    allow_dynamic_storage: bool = False
    max_sheet_bytes: int = Field(default=DEFAULT_MAX_SHEET_BYTES, ge=1)
    run_cache_buckets: list[str] = Field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LauncherConfig:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name) or None

        def listed(name: str) -> list[str]:
            return [part.strip() for part in (get(name) or "").split(",") if part.strip()]

        capacity = get(ENV_STORAGE_CAPACITY)
        max_storage, max_bytes = get(ENV_SHEET_MAX_STORAGE_GIB), get(ENV_SHEET_MAX_BYTES)
        return cls(
            workflow_id=get(ENV_WORKFLOW_ID), workflow_version_name=get(ENV_WORKFLOW_VERSION),
            role_arn=get(ENV_OMICS_ROLE_ARN), output_uri=get(ENV_OUTPUT_URI), cache_id=get(ENV_RUN_CACHE_ID),
            cache_behavior=get(ENV_CACHE_BEHAVIOR) or "CACHE_ON_FAILURE", storage_type=get(ENV_STORAGE_TYPE),
            storage_capacity=int(capacity) if capacity else None, run_group_id=get(ENV_RUN_GROUP_ID),
            retention_mode=get(ENV_RETENTION_MODE), log_level=get(ENV_LOG_LEVEL),
            submissions_bucket=get(ENV_SUBMISSIONS_BUCKET),
            submissions_prefix=get(ENV_SUBMISSIONS_PREFIX) or DEFAULT_SUBMISSIONS_PREFIX,
            settings_prefix=get(ENV_SETTINGS_PREFIX) or DEFAULT_SETTINGS_PREFIX,
            allowed_workflows=listed(ENV_SHEET_WORKFLOWS), allowed_output_prefixes=listed(ENV_SHEET_OUTPUT_PREFIXES),
            allowed_run_group_ids=listed(ENV_SHEET_RUN_GROUP_IDS), run_cache_buckets=listed(ENV_RUN_CACHE_BUCKETS),
            max_storage_gib=int(max_storage) if max_storage else DEFAULT_MAX_STORAGE_GIB,
            allow_dynamic_storage=(get(ENV_SHEET_ALLOW_DYNAMIC_STORAGE) or "").strip().lower() == "true",
            max_sheet_bytes=int(max_bytes) if max_bytes else DEFAULT_MAX_SHEET_BYTES,
        )

    def policy(self) -> SheetPolicy:
        """The allow-lists; the deployment's own defaults (workflow, output location, run group, storage type)
        are always allowed, since a sheet that sets nothing runs with them."""
        workflows = {(wid, version or None) for wid, _, version in (w.partition(":") for w in self.allowed_workflows)}
        if self.workflow_id:
            # with no list, every version of the default workflow; with one, the default exactly ("" = none named)
            workflows.add((self.workflow_id, self.workflow_version_name or "" if self.allowed_workflows else None))
        prefixes = [as_prefix(uri) for uri in self.allowed_output_prefixes]
        if self.output_uri:
            prefixes.append(as_prefix(self.output_uri))
        groups = set(self.allowed_run_group_ids) | ({self.run_group_id} if self.run_group_id else set())
        dynamic = self.allow_dynamic_storage or self.storage_type == "DYNAMIC"
        return SheetPolicy(frozenset(workflows), tuple(prefixes), frozenset(groups), self.max_storage_gib, dynamic,
                           self.cache_id, frozenset(self.run_cache_buckets))

    def default_run_setting(self) -> dict[str, Any]:
        """The deployment's defaultRunSetting (API field names), without unset values."""
        values: dict[str, Any] = {
            "workflowId": self.workflow_id, "workflowVersionName": self.workflow_version_name,
            "roleArn": self.role_arn, "outputUri": self.output_uri, "cacheId": self.cache_id,
            "cacheBehavior": self.cache_behavior if self.cache_id else None, "storageType": self.storage_type,
            "storageCapacity": self.storage_capacity, "runGroupId": self.run_group_id,
            "retentionMode": self.retention_mode, "logLevel": self.log_level,
        }
        return {key: value for key, value in values.items() if value is not None}


@lru_cache(maxsize=1)
def get_config() -> LauncherConfig:
    return LauncherConfig.from_env()
