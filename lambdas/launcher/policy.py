"""What the deployer allows a sample sheet to do (the allow-lists of the deploy configuration).

Whoever may upload a sheet acts through the HealthOmics service role; these lists bound what they can make
it do: which workflows (and versions) run, where outputs go, which run groups and how much static storage
are used, and whether dynamic storage (which no capacity bounds) may be chosen. The run cache is always the
stack's, and run outputs never go into a run-cache bucket, whatever the lists say (the pruner would take them
for cache entries).

Every refusal names the deploy setting to change (the cdk.json context key), so the sheet's author knows
whom to ask and the deployer knows what to edit.
"""

from __future__ import annotations

from dataclasses import dataclass

# The deploy settings (cdk.json context keys, stacks/config.py) a refusal points at.
SETTING_WORKFLOWS = "sheetWorkflows"
SETTING_OUTPUT_PREFIXES = "sheetOutputPrefixes"
SETTING_RUN_GROUPS = "sheetRunGroupIds"
SETTING_MAX_STORAGE = "sheetMaxStorageGib"
SETTING_DYNAMIC_STORAGE = "sheetAllowDynamicStorage"
SETTING_MAX_BYTES = "sheetMaxBytes"
SETTING_RUN_CACHE = "runCacheId"

ANY_WORKFLOW = "*"  # sheetWorkflows=* : the deployer opts in to every workflow the service role can run
DEFAULT_MAX_STORAGE_GIB = 4_800
DEFAULT_MAX_SHEET_BYTES = 64 << 20
# Where the pruner writes its pass reports (in the outputs bucket): `autopilot cache restore` acts on them,
# so no run may write there, whatever sheetOutputPrefixes allows.
PRUNE_REPORTS_PREFIX = "prune-reports/"


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def as_prefix(uri: str) -> tuple[str, str]:
    """An allowed output location as (bucket, key prefix); a key prefix is a folder (ends with "/") so that
    s3://lab/runs allows s3://lab/runs/x but not s3://lab/runs-other/x."""
    bucket, key = split_uri(uri.strip())
    if key and not key.endswith("/"):
        key += "/"
    return bucket, key


@dataclass(frozen=True)
class SheetPolicy:
    # (workflow id, version name); None: every version; "": only when the sheet names no version
    workflows: frozenset[tuple[str, str | None]] = frozenset()
    output_prefixes: tuple[tuple[str, str], ...] = ()
    run_group_ids: frozenset[str] = frozenset()
    max_storage_gib: int = DEFAULT_MAX_STORAGE_GIB
    dynamic_storage: bool = False  # sheets may choose DYNAMIC storage (unbounded by max_storage_gib)
    cache_id: str | None = None
    cache_buckets: frozenset[str] = frozenset()

    def workflow_problem(self, workflow_id: str, version: str | None) -> str | None:
        if (ANY_WORKFLOW, None) in self.workflows or (workflow_id, None) in self.workflows \
                or (workflow_id, version or "") in self.workflows:
            return None
        what = f"workflow {workflow_id}" + (f" version {version}" if version else " (no version named)")
        return f"{what} is not one the deployment allows sheets to run ({SETTING_WORKFLOWS})"

    def output_problem(self, uri: str) -> str | None:
        bucket, key = split_uri(uri)
        if bucket in self.cache_buckets:
            return (f"outputUri is in a run-cache bucket ({bucket}); run outputs never go there, whatever "
                    f"{SETTING_OUTPUT_PREFIXES} says")
        if not key.endswith("/"):
            key += "/"  # s3://lab/runs names the folder runs/
        if key.startswith(PRUNE_REPORTS_PREFIX):
            return f"outputUri is under {PRUNE_REPORTS_PREFIX} (the pruner's reports); run outputs never go there"
        if any(bucket == allowed and key.startswith(prefix) for allowed, prefix in self.output_prefixes):
            return None
        return f"outputUri is outside the output locations the deployment allows ({SETTING_OUTPUT_PREFIXES})"

    def run_group_problem(self, run_group_id: str) -> str | None:
        if run_group_id in self.run_group_ids:
            return None
        return f"run group {run_group_id} is not one the deployment allows sheets to use ({SETTING_RUN_GROUPS})"

    def storage_problem(self, capacity: int) -> str | None:
        if capacity <= self.max_storage_gib:
            return None
        return (f"storageCapacity {capacity} GiB is over the deployment's cap of {self.max_storage_gib} GiB "
                f"({SETTING_MAX_STORAGE})")

    def storage_type_problem(self, storage_type: str) -> str | None:
        # DYNAMIC storage takes no capacity and grows with use (the guide): max_storage_gib cannot bound it.
        if storage_type != "DYNAMIC" or self.dynamic_storage:
            return None
        return (f"storageType DYNAMIC grows with the run's use, past the deployment's cap of "
                f"{self.max_storage_gib} GiB ({SETTING_MAX_STORAGE}): the deployment does not let sheets choose it "
                f"({SETTING_DYNAMIC_STORAGE})")

    def cache_problem(self, cache_id: str) -> str | None:
        if cache_id == self.cache_id:
            return None
        return f"cacheId {cache_id}: runs always use this stack's run cache ({SETTING_RUN_CACHE})"
