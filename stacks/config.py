"""Deploy-time configuration: read from cdk.json context (or `-c key=value`), validated by pydantic.

A bad value stops synthesis with ``Invalid configuration: <key>: <what is wrong>`` so the operator
sees the exact context key to fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from aws_cdk import aws_logs as logs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stacks.runtime_contract import omics_quotas

# isort: off
from pruner.config import STACK_CACHE, InventorySource  # lambdas/ is on sys.path once runtime_contract is imported
# isort: on

# Retention values CloudWatch Logs accepts (RetentionInDays), each with its CDK enum member.
# "Never expire" is deliberately not offered: HIPAA checks require a retention period.
_RETENTION = logs.RetentionDays
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: _RETENTION.ONE_DAY, 3: _RETENTION.THREE_DAYS, 5: _RETENTION.FIVE_DAYS, 7: _RETENTION.ONE_WEEK,
    14: _RETENTION.TWO_WEEKS, 30: _RETENTION.ONE_MONTH, 60: _RETENTION.TWO_MONTHS,
    90: _RETENTION.THREE_MONTHS, 120: _RETENTION.FOUR_MONTHS, 150: _RETENTION.FIVE_MONTHS,
    180: _RETENTION.SIX_MONTHS, 365: _RETENTION.ONE_YEAR, 400: _RETENTION.THIRTEEN_MONTHS,
    545: _RETENTION.EIGHTEEN_MONTHS, 731: _RETENTION.TWO_YEARS, 1096: _RETENTION.THREE_YEARS,
    1827: _RETENTION.FIVE_YEARS, 2192: _RETENTION.SIX_YEARS, 2557: _RETENTION.SEVEN_YEARS,
    2922: _RETENTION.EIGHT_YEARS, 3288: _RETENTION.NINE_YEARS, 3653: _RETENTION.TEN_YEARS,
}  # fmt: skip
LOG_RETENTION_DAYS = tuple(LOG_RETENTION)

# The context keys this app reads, camelCase as they appear in cdk.json / `-c`.
CONTEXT_KEYS = (
    "namePrefix",
    "omicsServiceRoleArn",
    "runCacheId",
    "logRetentionDays",
    "eventArchiveRetentionDays",
    "alarmEmail",
    "omicsQuotas",
    "reservedConcurrency",
    "recorderMaxConcurrency",
    "rerunPolicy",
    "rerunnerMaxConcurrency",
    "rerunForeignRuns",
    "reconcileSchedule",
    "reconcileStaleMinutes",
    # right-sizing from run manifests
    "rightsizingHeadroom",
    "rightsizingManifestAttempts",
    # prices and cost allocation
    "priceRefreshSchedule",
    "priceListEndpointRegion",
    "costTagSample",
    # launcher: batch-level defaults a sample sheet falls back to
    "workflowId",
    "workflowVersionName",
    "runOutputUri",
    "runCacheBehavior",
    "runStorageType",
    "runStorageCapacity",
    "runGroupId",
    "runRetentionMode",
    "runLogLevel",
    "launcherMaxConcurrency",
    # launcher: what the deployer allows a sample sheet to do
    "sheetWorkflows",
    "sheetOutputPrefixes",
    "sheetRunGroupIds",
    "sheetMaxStorageGib",
    "sheetAllowDynamicStorage",
    "sheetMaxBytes",
    # pruner: scheduled run-cache cleanup
    "pruneSchedule",
    "pruneMode",
    "pruneCacheIds",
    "pruneCacheBuckets",
    "pruneMinVersion",
    "pruneMaxAgeDays",
    "pruneAllowUnversionedBuckets",
    "pruneUndoRetentionDays",
    "pruneWorkerConcurrency",
    "pruneInventories",
    # data the created HealthOmics service role may read and write (beyond the stack's own buckets)
    "serviceRoleReadLocations",
    "serviceRoleWriteLocations",
    "serviceRoleKmsKeyArns",
)

# HealthOmics quota groups and the guide's default quotas ('HealthOmics service quotas'), from the Lambda code.
DEFAULT_QUOTAS = omics_quotas.DEFAULT_QUOTAS
MAX_QUOTA = 1000  # calls/s: far above any HealthOmics quota, catches a typo'd extra digit or two
# Keys of earlier releases: naming one stops synthesis with what replaced it, instead of ignoring it.
RENAMED_KEYS = {
    "recorderReservedConcurrency": "recorderMaxConcurrency (and reservedConcurrency=true to reserve it)",
    "rerunnerReservedConcurrency": "rerunnerMaxConcurrency (and reservedConcurrency=true to reserve it)",
    "launcherReservedConcurrency": "launcherMaxConcurrency (and reservedConcurrency=true to reserve it)",
}

_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# An S3 location the created service role may use: a bucket, or a key prefix in it (no IAM wildcards).
_S3_LOCATION = r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^*?]*)?"
_KMS_KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+"


class ConfigError(ValueError):
    """Raised when the context holds a value the stack cannot be built from."""


def _to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _blank_to_none(value: Any) -> Any:
    # `-c alarmEmail=` (or "null" from a CLI) means "not configured".
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
        return None
    return value


def _list_value(value: Any) -> list[Any]:
    """A list key as cdk.json (a JSON list) or `-c key=a,b` (a comma-separated string) gives it; blank: []."""
    value = _blank_to_none(value)
    if value is None:
        return []
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("must be a list or a comma-separated string")
    return items


_BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"


class AutopilotConfig(BaseModel):
    """The deploy-time configuration of the autopilot stack."""

    model_config = ConfigDict(alias_generator=_to_camel, populate_by_name=True, extra="forbid", frozen=True)

    name_prefix: str = Field(
        default="omics-autopilot",
        min_length=3,
        max_length=32,
        pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
        description="Lowercase letters, digits and single hyphens; prefixes names, tags and metrics.",
    )
    omics_service_role_arn: str | None = Field(
        default=None,
        pattern=_ROLE_ARN,
        max_length=2048,
        description="Existing HealthOmics service role; when absent the stack creates one.",
    )
    run_cache_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,18}$",
        description="Existing HealthOmics run cache id; when absent the stack creates one.",
    )
    log_retention_days: int = Field(default=365, description="CloudWatch Logs retention of every log group.")
    event_archive_retention_days: int = Field(
        default=365, ge=0, description="Retention of the aws.omics event archive; 0 keeps events forever."
    )
    alarm_email: str | None = Field(default=None, pattern=_EMAIL, max_length=254)
    omics_quotas: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_QUOTAS),
        description="Account HealthOmics quotas (calls/s) by quota group, merged over the guide's defaults; "
                    "shared by every function instance that may call the group's APIs.",
    )
    # Reserved concurrency is opt-in: Lambda keeps a minimum unreserved (100 units; 10 in an account whose
    # quota is 10), so an account with the smallest quota can reserve none. By default consumers are
    # bounded by their event source mapping's maximum concurrency (at least 2, AWS's minimum) instead.
    reserved_concurrency: bool = Field(
        default=False,
        description="Reserve each function's concurrency bound (consumers: their maximum concurrency; "
                    "scheduled functions: 1). Needs that many units of account concurrency.",
    )
    recorder_max_concurrency: int = Field(default=5, ge=2, le=1000)
    reconcile_schedule: str = Field(
        default="rate(15 minutes)",
        pattern=r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$",
        description="EventBridge Scheduler expression of the reconciler's sweep.",
    )
    reconcile_stale_minutes: int = Field(
        default=30, ge=5, le=10080,
        description="A run or batch whose last recorded event is older than this is checked with HealthOmics.",
    )

    rerun_policy: dict[str, Any] = Field(
        default_factory=dict,
        description="Re-run policy overrides (docs/RERUN_POLICY.md): a JSON object, merged over the defaults.",
    )
    rerunner_max_concurrency: int = Field(default=2, ge=2, le=100)
    rerun_foreign_runs: bool = Field(
        default=False,
        description="Also re-run failed runs and batches this stack did not start (docs/RERUN_POLICY.md).",
    )

    rightsizing_headroom: float = Field(
        default=0.05, ge=0, le=1,
        description="Right-sizing: fraction added to a task's peak vCPUs and memory before fitting a type "
                    "(the guide: at least 5 %).",
    )
    rightsizing_manifest_attempts: int = Field(
        default=4, ge=1, le=10,
        description="Right-sizing: receives of a COMPLETED run whose manifest stream is missing before it is "
                    "recorded as MANIFEST_MISSING.",
    )

    # prices (docs in README, "Cost")
    price_refresh_schedule: str = Field(
        default="rate(1 day)",
        pattern=r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$",
        description="EventBridge Scheduler expression of the price refresh (AWS Price List API).",
    )
    price_list_endpoint_region: str | None = Field(
        default=None,
        description="Price List API endpoint to read prices from; absent: the stack's region if it has one, "
                    "else one on the same continent (botocore's endpoint data).",
    )
    cost_tag_sample: bool = Field(
        default=True,
        description="Tag runs with autopilot:sample (the sample id). false leaves it out of run tags, and so "
                    "out of billing data, for teams that consider sample ids sensitive.",
    )

    @field_validator("price_list_endpoint_region", mode="before")
    @classmethod
    def _price_list_endpoint(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        # isort: off
        from stacks import runtime_contract  # noqa: F401  (puts lambdas/ on sys.path)
        from shared.cost.prices import all_price_list_endpoints

        # isort: on
        endpoints = all_price_list_endpoints()
        if value not in endpoints:
            raise ValueError(f"{value!r} is not a Price List API endpoint region (one of {', '.join(endpoints)})")
        return value

    # launcher: batch-level defaults of every sample sheet (a JSON sheet may override all but the role)
    workflow_id: str | None = Field(default=None, pattern=r"^[0-9]{1,18}$",
                                    description="HealthOmics workflow id sheets run by default.")
    workflow_version_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-._]{0,63}$")
    run_output_uri: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", max_length=750,
        description="Default run output location; when absent, runs/ in the stack's run outputs bucket.",
    )
    run_cache_behavior: Literal["CACHE_ON_FAILURE", "CACHE_ALWAYS"] = "CACHE_ON_FAILURE"
    run_storage_type: Literal["STATIC", "DYNAMIC"] | None = None
    run_storage_capacity: int | None = Field(default=None, ge=0, le=100_000, validate_default=True,
                                             description="GiB (STATIC)")
    run_group_id: str | None = Field(default=None, pattern=r"^[0-9]{1,18}$")
    run_retention_mode: Literal["RETAIN", "REMOVE"] | None = None
    run_log_level: Literal["OFF", "FATAL", "ERROR", "ALL"] | None = None
    launcher_max_concurrency: int = Field(default=2, ge=2, le=100)
    # launcher allow-lists (lambdas/launcher/policy.py): whoever may upload a sheet acts through the service
    # role, so a sheet may only choose what these allow; the run cache is always the stack's.
    sheet_workflows: list[str] = Field(
        default_factory=list,
        description="Workflows sheets may run: 'id' (any version), 'id:version', or '*' (every workflow, an "
                    "explicit opt-in); empty = workflowId only.",
    )
    sheet_output_prefixes: list[str] = Field(
        default_factory=list,
        description="s3:// locations run outputs may go to; empty = the stack's outputs bucket. Never a "
                    "run-cache bucket.",
    )
    sheet_run_group_ids: list[str] = Field(
        default_factory=list, description="Run groups sheets may use; empty = runGroupId only (or none)."
    )
    sheet_max_storage_gib: int = Field(default=4_800, ge=0, le=100_000,
                                       description="Cap of storageCapacity (GiB) a sheet may ask for.")
    sheet_allow_dynamic_storage: bool = Field(
        default=False,
        description="Let sheets choose DYNAMIC run storage, which grows with use past sheetMaxStorageGib; "
                    "false: only when runStorageType is DYNAMIC.",
    )
    sheet_max_bytes: int = Field(default=64 << 20, ge=1024, le=512 << 20,
                                 description="Largest sample sheet read; larger ones are rejected unread.")

    @field_validator("sheet_workflows", "sheet_output_prefixes", "sheet_run_group_ids", mode="before")
    @classmethod
    def _sheet_lists(cls, value: Any, info: ValidationInfo) -> Any:
        items = _list_value(value)
        items = [str(item) if type(item) is int else item for item in items]
        pattern = {"sheet_workflows": r"\*|[0-9]{1,18}(:[A-Za-z0-9][A-Za-z0-9\-._]{0,63})?",
                   "sheet_output_prefixes": r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\x00-\x1f]*)?",
                   "sheet_run_group_ids": r"[0-9]{1,18}"}[str(info.field_name)]
        for item in items:
            if not isinstance(item, str) or not re.fullmatch(pattern, item) or len(item) > 750:
                raise ValueError(f"{item!r} does not match {pattern}")
        return items

    @model_validator(mode="after")
    def _sheet_limits_agree(self) -> AutopilotConfig:
        # The stack's own run-cache bucket is refused by the launcher itself (its name is known at deploy).
        for uri in self.sheet_output_prefixes:
            if uri.removeprefix("s3://").split("/", 1)[0] in self.prune_cache_bucket_names:
                raise ValueError(f"sheetOutputPrefixes: {uri} is in a run-cache bucket (pruneCacheBuckets); "
                                 "run outputs never go there")
        capacity = self.run_storage_capacity
        if capacity is not None and capacity > self.sheet_max_storage_gib:
            raise ValueError(f"runStorageCapacity: {capacity} GiB is over sheetMaxStorageGib "
                             f"({self.sheet_max_storage_gib} GiB)")
        return self


    # pruner: scheduled cleanup of stale run-cache entries (docs in README, "Run-cache pruner")
    prune_schedule: str = Field(
        default="rate(1 day)",
        pattern=r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$",
        description="EventBridge Scheduler expression of the prune pass.",
    )
    prune_mode: Literal["dry-run", "enforce"] = Field(
        default="dry-run", description="dry-run reports what would be deleted; enforce deletes it."
    )
    prune_cache_ids: str | None = Field(
        default=None, pattern=r"^(\*|[0-9]{1,18}(,[0-9]{1,18})*)$",
        description="Run caches to prune: '*' = every cache of the account, or comma-separated ids; "
                    "absent = the stack's run cache.",
    )
    prune_cache_buckets: list[str] = Field(
        default_factory=list,
        description="Locations of caches outside the stack's run-cache bucket the pruner may list and delete in: "
                    "s3://bucket/prefix/ (deletes only under the prefix), or a bare bucket name (the whole bucket "
                    "is a cache).",
    )
    prune_min_version: int | None = Field(default=None, ge=1, le=1_000_000)
    prune_max_age_days: int | None = Field(default=None, ge=1, le=36_500)
    prune_allow_unversioned_buckets: list[str] = Field(
        default_factory=list,
        description="Cache buckets (of pruneCacheBuckets) an enforce pass may delete in although they are not "
                    "versioned, so its deletions cannot be undone; any other unversioned bucket is refused.",
    )
    prune_undo_retention_days: int = Field(
        default=7, ge=1, le=365,
        description="Days the run-cache bucket keeps noncurrent versions: the window of `autopilot cache restore`.",
    )
    prune_worker_concurrency: int = Field(default=2, ge=2, le=50)
    prune_inventories: dict[str, InventorySource] = Field(
        default_factory=dict,
        description="Caches whose passes take their listing from an S3 Inventory report: cache id (or runCache, "
                    "the stack's own) -> {destination: s3://bucket/prefix/, configId, frequency: Daily|Weekly}.",
    )

    @field_validator("prune_inventories", mode="before")
    @classmethod
    def _inventories(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of cache id -> inventory") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of cache id -> inventory")
        for cache in value:
            if cache != STACK_CACHE and not re.fullmatch(r"[0-9]{1,18}", str(cache)):
                raise ValueError(f"{cache!r} is not a run cache id or {STACK_CACHE!r}")
        return value

    @property
    def prune_inventories_json(self) -> str:
        return json.dumps(
            {cache: source.model_dump(by_alias=True) for cache, source in self.prune_inventories.items()},
            sort_keys=True, separators=(",", ":"),
        )

    @field_validator("prune_cache_ids", "prune_min_version", "prune_max_age_days", mode="before")
    @classmethod
    def _optional_prune_setting(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        return ",".join(str(v) for v in value) if isinstance(value, list) else value

    @field_validator("prune_allow_unversioned_buckets", mode="before")
    @classmethod
    def _bucket_names(cls, value: Any) -> Any:
        names = _list_value(value)
        for name in names:
            if not isinstance(name, str) or not re.fullmatch(_BUCKET_NAME, name):
                raise ValueError(f"{name!r} is not an S3 bucket name")
        return names

    @field_validator("prune_cache_buckets", mode="before")
    @classmethod
    def _cache_locations(cls, value: Any) -> Any:
        """s3://bucket/prefix or a bare bucket name (the cache is the whole bucket), as s3://bucket/prefix/."""
        items = _list_value(value)
        locations = []
        for item in items:
            if isinstance(item, str) and re.fullmatch(_BUCKET_NAME, item):
                item = f"s3://{item}/"
            match = re.fullmatch(rf"s3://({_BUCKET_NAME})(/[A-Za-z0-9!_.*'()/-]*)?", item) \
                if isinstance(item, str) else None
            if match is None:
                raise ValueError(f"{item!r} is not s3://bucket/prefix or an S3 bucket name")
            prefix = (match[2] or "").strip("/")
            locations.append(f"s3://{match[1]}/{prefix}/" if prefix else f"s3://{match[1]}/")
        return locations

    @model_validator(mode="after")
    def _allowed_unversioned_are_cache_buckets(self) -> AutopilotConfig:
        unknown = sorted(set(self.prune_allow_unversioned_buckets) - set(self.prune_cache_bucket_names))
        if unknown:
            raise ValueError(f"pruneAllowUnversionedBuckets: {', '.join(unknown)} not in pruneCacheBuckets")
        return self
    # data the created HealthOmics service role may use, beyond the stack's own buckets and key
    service_role_read_locations: list[str] = Field(
        default_factory=list,
        description="s3://bucket or s3://bucket/prefix/ the created service role may read (run inputs).",
    )
    service_role_write_locations: list[str] = Field(
        default_factory=list,
        description="s3://bucket or s3://bucket/prefix/ the created service role may write (run outputs); "
                    "runOutputUri is added by itself.",
    )
    service_role_kms_key_arns: list[str] = Field(
        default_factory=list,
        description="KMS keys (key ARNs) that encrypt those locations: Decrypt and GenerateDataKey.",
    )

    @field_validator("service_role_read_locations", "service_role_write_locations", "service_role_kms_key_arns",
                     mode="before")
    @classmethod
    def _service_role_data(cls, value: Any, info: ValidationInfo) -> Any:
        items = _list_value(value)
        kms = info.field_name == "service_role_kms_key_arns"
        pattern, what = (_KMS_KEY_ARN, "a KMS key ARN") if kms else (_S3_LOCATION, "s3://bucket[/prefix]")
        for item in items:
            if not isinstance(item, str) or not re.fullmatch(pattern, item):
                raise ValueError(f"{item!r} is not {what}")
        return items

    @property
    def service_role_writes(self) -> list[str]:
        """Where the created service role writes: the configured locations plus runOutputUri, if set."""
        extra = [self.run_output_uri] if self.run_output_uri else []
        return list(dict.fromkeys([*self.service_role_write_locations, *extra]))

    @property
    def prune_cache_locations(self) -> list[tuple[str, str]]:
        """(bucket, key prefix) of each pruneCacheBuckets entry; "" is the whole bucket."""
        return [(uri[5:].split("/", 1)[0], uri[5:].split("/", 1)[1]) for uri in self.prune_cache_buckets]

    @property
    def prune_cache_bucket_names(self) -> list[str]:
        return list(dict.fromkeys(bucket for bucket, _ in self.prune_cache_locations))

    @field_validator("workflow_id", "workflow_version_name", "run_output_uri", "run_storage_type",
                     "run_storage_capacity", "run_group_id", "run_retention_mode", "run_log_level", mode="before")
    @classmethod
    def _optional_run_setting(cls, value: Any, info: ValidationInfo) -> Any:
        value = _blank_to_none(value)
        if info.field_name in ("workflow_id", "run_group_id") and type(value) is int:
            return str(value)  # ids written as JSON numbers in cdk.json
        return value

    @field_validator("run_storage_capacity", mode="after")
    @classmethod
    def _static_storage_needs_capacity(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("run_storage_type") == "STATIC" and value is None:
            raise ValueError("STATIC run storage (runStorageType) needs a capacity in GiB")
        return value

    @field_validator("rerun_policy", mode="before")
    @classmethod
    def _rerun_policy(cls, value: Any) -> Any:
        # Validated by the very models the function uses (lambdas/rerunner/policy.py).
        # isort: off
        from stacks import runtime_contract  # noqa: F401  (puts lambdas/ on sys.path)
        from rerunner.policy import PolicyError, load_policy

        # isort: on

        value = _blank_to_none(value)
        if value is None:
            return {}
        if not isinstance(value, str | dict):
            raise ValueError("must be a JSON object")
        try:
            load_policy(value)
        except PolicyError as error:
            raise ValueError(str(error)) from None
        return json.loads(value) if isinstance(value, str) else value

    @property
    def rerun_policy_json(self) -> str:
        return json.dumps(self.rerun_policy, sort_keys=True, separators=(",", ":"))

    @field_validator("omics_quotas", mode="before")
    @classmethod
    def _quotas(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return dict(DEFAULT_QUOTAS)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of quota group -> calls per second") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of quota group -> calls per second")
        merged = dict(DEFAULT_QUOTAS)
        for group, quota in value.items():
            if group not in DEFAULT_QUOTAS:
                raise ValueError(f"unknown quota group {group!r} (one of {', '.join(DEFAULT_QUOTAS)})")
            if isinstance(quota, bool) or not isinstance(quota, int | float) or not math.isfinite(quota) \
                    or not 0 < quota <= MAX_QUOTA:
                raise ValueError(f"{group}: {quota!r} is not a number of calls per second in (0, {MAX_QUOTA}]")
            merged[group] = float(quota)
        return merged

    @field_validator("omics_service_role_arn", "run_cache_id", "alarm_email", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION[self.log_retention_days]

    @property
    def creates_service_role(self) -> bool:
        return self.omics_service_role_arn is None

    @property
    def creates_run_cache(self) -> bool:
        return self.run_cache_id is None

    @classmethod
    def from_context(cls, get: Callable[[str], Any] | Mapping[str, Any]) -> AutopilotConfig:
        """Build from a context getter (``app.node.try_get_context``) or a plain mapping.

        Values given with ``-c key=value`` arrive as strings; numbers are coerced by pydantic, and a
        JSON literal (``-c omicsQuotas='{"run": 20}'``) is accepted as such.
        """
        getter = get.get if isinstance(get, Mapping) else get
        renamed = [f"{old}: renamed to {new}" for old, new in RENAMED_KEYS.items() if getter(old) is not None]
        if renamed:
            raise ConfigError("Invalid configuration: " + "; ".join(renamed))
        raw: dict[str, Any] = {}
        for key in CONTEXT_KEYS:
            value = getter(key)
            if value is not None:
                raw[key] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "<context>"
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            message = f"{json.dumps(error.get('input'))} does not match {error['ctx']['pattern']}"
        problems.append(f"{key}: {message}")
    return "Invalid configuration: " + "; ".join(problems)
