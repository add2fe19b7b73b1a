"""The pruner's runtime configuration and wire models (schedule/CLI payload, fan-out work item).

Environment variables are set by the stack (stacks/components/pruner.py imports these names) or by the
sandbox; `PrunerConfig.from_env()` is the only reader.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pruner.rules import Rules, version_ceiling

ENV_MODE = "PRUNE_MODE"
ENV_CACHE_IDS = "PRUNE_CACHE_IDS"  # "*" = every run cache of the account; comma list; empty = RUN_CACHE_ID
ENV_MIN_VERSION = "PRUNE_MIN_VERSION"
ENV_MAX_AGE_DAYS = "PRUNE_MAX_AGE_DAYS"
ENV_QUEUE_URL = "PRUNE_QUEUE_URL"
ENV_REPORT_BUCKET = "PRUNE_REPORT_BUCKET"
ENV_REPORT_PREFIX = "PRUNE_REPORT_PREFIX"
ENV_RUNS_PER_ITEM = "PRUNE_RUNS_PER_ITEM"
ENV_LEASE_SECONDS = "PRUNE_LEASE_SECONDS"
ENV_ITEM_LEASE_SECONDS = "PRUNE_ITEM_LEASE_SECONDS"
# Cache buckets an enforce pass may delete in although they are not versioned (no undo): comma list.
ENV_ALLOW_UNVERSIONED = "PRUNE_ALLOW_UNVERSIONED_BUCKETS"
# Caches whose pass takes its listing from an S3 Inventory report: JSON {cacheId: {location, frequency}}.
ENV_INVENTORIES = "PRUNE_INVENTORIES"
STACK_CACHE = "runCache"  # a PRUNE_INVENTORIES key: the stack's own run cache (its id is known only once deployed)

FLOOR_JUMP_METRIC = "PruneFloorJumpHeld"  # emitted by a pass that held a version jump; alarmed by the stack
# Emitted by a pass that found manifests but none of this cache (it would prune nothing, forever); alarmed.
NONE_OF_THIS_CACHE_METRIC = "PruneNoEntryOfThisCache"
# Emitted when an enforce pass is refused (unversioned bucket without consent); alarmed.
REFUSED_METRIC = "PrunePassRefused"

Mode = Literal["dry-run", "enforce"]
ALL_CACHES = "*"

# The planner function's timeout (the stack sets it from here): a planner that started a pass holds its
# planning lease (service.Pruner.start_pass) this long and a minute more, so it never loses it while alive.
PLANNER_TIMEOUT_SECONDS = 300
PLAN_LEASE_SECONDS = PLANNER_TIMEOUT_SECONDS + 60


PERIODS = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}  # S3 Inventory frequencies


class InventorySource(BaseModel):
    """A cache bucket's S3 Inventory configuration, as the pruner reads its reports: `destination` is its
    destination bucket and prefix (s3://bucket/prefix/), `configId` its id; S3 publishes the reports under
    <destination>/<source bucket>/<configId>/ (S3 User Guide, "Locating your inventory list"). A report older
    than its `frequency` (Daily or Weekly) is not used (pruner/inventory.py)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)

    destination: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9!_.'()=-][A-Za-z0-9!_.'()=/-]*/)?$")
    config_id: str = Field(alias="configId", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    frequency: Literal["Daily", "Weekly"] = "Daily"

    def location(self, cache_bucket: str) -> str:
        """Where the reports of `cache_bucket` are: s3://bucket/prefix/<cache bucket>/<configId>/."""
        return f"{self.destination}{cache_bucket}/{self.config_id}/"


class InventoryFile(BaseModel):
    """One data file of an inventory report: the listing of one work item."""

    model_config = ConfigDict(defer_build=True)

    bucket: str
    key: str
    md5: str
    columns: list[str]
    created: str  # the report's creationTimestamp (ISO): when S3 began listing the bucket


class RulesModel(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    min_version: int | None = Field(default=None, ge=1)
    max_age_days: int | None = Field(default=None, ge=1)

    def rules(self) -> Rules:
        return Rules(self.min_version, self.max_age_days)


class PrunerConfig(BaseModel):
    model_config = ConfigDict(defer_build=True)

    default_mode: Mode = "dry-run"
    cache_ids: list[str] = Field(default_factory=list)  # [] = the stack's cache; ["*"] = all
    rules: RulesModel = Field(default_factory=RulesModel)
    queue_url: str | None = None
    report_bucket: str | None = None
    report_prefix: str = "prune-reports/"
    runs_per_item: int = Field(default=2000, ge=1)
    lease_seconds: int = Field(default=6 * 3600, ge=60)
    item_lease_seconds: int = Field(default=960, ge=60)
    max_rounds: int = Field(default=3, ge=1)
    allow_unversioned_buckets: list[str] = Field(default_factory=list)
    inventories: dict[str, InventorySource] = Field(default_factory=dict)

    @classmethod
    def from_env(cls, default_cache_id: str | None = None) -> PrunerConfig:
        env = os.environ

        def optional_int(name: str) -> int | None:
            value = env.get(name, "").strip()
            return int(value) if value else None

        ids = [part.strip() for part in env.get(ENV_CACHE_IDS, "").split(",") if part.strip()]
        return cls(
            default_mode=env.get(ENV_MODE) or "dry-run",  # type: ignore[arg-type]
            cache_ids=ids or ([default_cache_id] if default_cache_id else []),
            rules=RulesModel(
                min_version=optional_int(ENV_MIN_VERSION),
                max_age_days=optional_int(ENV_MAX_AGE_DAYS),
            ),
            queue_url=env.get(ENV_QUEUE_URL) or None,
            report_bucket=env.get(ENV_REPORT_BUCKET) or None,
            report_prefix=env.get(ENV_REPORT_PREFIX) or "prune-reports/",
            runs_per_item=optional_int(ENV_RUNS_PER_ITEM) or 2000,
            lease_seconds=optional_int(ENV_LEASE_SECONDS) or 6 * 3600,
            item_lease_seconds=optional_int(ENV_ITEM_LEASE_SECONDS) or 960,
            allow_unversioned_buckets=[b.strip() for b in env.get(ENV_ALLOW_UNVERSIONED, "").split(",") if b.strip()],
            inventories={
                (default_cache_id or STACK_CACHE) if cache == STACK_CACHE else cache: source
                for cache, source in json.loads(env.get(ENV_INVENTORIES) or "{}").items()
            },
        )


class PruneRequest(BaseModel):
    """What EventBridge Scheduler (or the CLI) sends: everything optional."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    mode: Mode | None = None
    cacheIds: list[str] | None = None
    # Scheduler's <aws.scheduler.scheduled-time>: makes the pass id deterministic, so a duplicated
    # scheduler invocation starts nothing twice.
    scheduledTime: str | None = None
    # Re-read every manifest even when an earlier clean pass allows an incremental one.
    full: bool = False
    # On demand (`autopilot cache prune`): the request's idempotency token. The pass id derives from it (and the
    # cache and mode), so the same request sent again after a failed attempt continues the pass that attempt
    # recorded, as Lambda's retry of a scheduled invocation does with scheduledTime.
    requestId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    # `autopilot cache settle`: settle pass `passId` of the one cache in cacheIds instead of starting a pass. Done
    # here, not by the CLI, so that the leases of the pass's workers are judged by AWS's clock, not a laptop's.
    action: Literal["prune", "settle"] = "prune"
    passId: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("cacheIds", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class WorkItem(BaseModel):
    """One key range of one cache in one round of a pass: the fan-out unit (an SQS message)."""

    model_config = ConfigDict(defer_build=True)

    cache_id: str
    pass_id: str
    pass_sk: str
    round: int = 1
    item_id: str
    bucket: str
    cache_prefix: str
    start: str | None = None
    end: str | None = None
    floor: int
    ceiling: int  # highest version the floor may rise to (rules.version_ceiling)
    unchanged_before: str | None = None  # incremental: manifests modified before this are not re-read
    inventory: InventoryFile | None = None  # the listing is this inventory data file, not a LIST of start..end
    previous_floor: int | None = None
    mode: Mode
    rules: RulesModel
    started_at: str

    @model_validator(mode="before")
    @classmethod
    def _ceiling_of_earlier_releases(cls, data: Any) -> Any:
        """Messages queued by a release without `ceiling`: the ceiling follows from the item's floor (the
        recorded floor when the pass started), as a pass of this release would have computed it."""
        if isinstance(data, dict) and data.get("ceiling") is None and "floor" in data:
            data = {**data, "ceiling": ceiling_from(data.get("rules"), data["floor"])}
        return data


def ceiling_from(rules: Any, floor: Any) -> int:
    """rules.version_ceiling for a recorded floor (0: none recorded) and rules as stored (dict or model)."""
    model = rules if isinstance(rules, RulesModel) else RulesModel.model_validate(rules or {})
    return version_ceiling(model.rules(), int(floor) or None)
