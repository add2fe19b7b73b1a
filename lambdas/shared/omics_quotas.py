"""HealthOmics API quotas as call budgets: which operation counts against which quota, and how an
account's quota is shared by every function instance that may call it.

Quota groups follow the guide's quota table ('HealthOmics service quotas'): StartRun 1 TPS, StartRunBatch 1 TPS,
the batch APIs (GetBatch, CancelRunBatch, ListRunsInBatch) 10, the run APIs (GetRun, GetRunTask,
ListRunTasks, ListRuns, CancelRun, DeleteRun) 10, the run-cache APIs 10. The operations of each group
are derived from botocore's `omics` service model by name, so an operation botocore adds to a family
(e.g. a new run-cache API) lands in its group without a hand-kept list. Operations of one group share
one budget: the conservative reading of a table that lists several APIs against one figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from functools import lru_cache

# group -> how its operation names look in botocore's model; checked in this order (first match wins).
GROUP_PATTERNS: dict[str, re.Pattern[str]] = {
    "StartRun": re.compile(r"StartRun"),
    "StartRunBatch": re.compile(r"StartRunBatch"),
    "batch": re.compile(r"(Get|List|Cancel|Delete)(Run)?Batch|ListRunsInBatch"),
    "run": re.compile(r"(Get|List|Cancel|Delete)Runs?(Task|Tasks)?"),
    "runCache": re.compile(r"[A-Z][a-z]+RunCaches?"),
}

# The guide's default account quotas (calls per second), the default of config `omicsQuotas`.
DEFAULT_QUOTAS: dict[str, float] = {"StartRun": 1, "StartRunBatch": 1, "batch": 10, "run": 10, "runCache": 10}

# Per-instance rates are rounded down to this many decimals, so rounding never adds up over a quota.
RATE_DECIMALS = 4


@lru_cache(maxsize=1)
def omics_operations() -> tuple[str, ...]:
    """Every operation of the installed botocore's `omics` model."""
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("omics").operation_names)


def group_of(operation: str) -> str | None:
    """The quota group of a HealthOmics operation (its botocore name), or None for APIs outside the
    guide's table (tagging, stores, workflows...), which are not budgeted."""
    for group, pattern in GROUP_PATTERNS.items():
        if pattern.fullmatch(operation):
            return group
    return None


@lru_cache(maxsize=1)
def operations_by_group() -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {group: [] for group in GROUP_PATTERNS}
    for operation in omics_operations():
        group = group_of(operation)
        if group:
            groups[group].append(operation)
    return {group: tuple(sorted(ops)) for group, ops in groups.items()}


def groups_called(operations: Iterable[str]) -> set[str]:
    """The quota groups of operations (IAM action names without the `omics:` prefix are the same
    names as botocore's operations); wildcards (`Get*`, `*`) match against botocore's model."""
    groups: set[str] = set()
    known = omics_operations()
    for name in operations:
        matches = [op for op in known if re.fullmatch(re.escape(name).replace(r"\*", ".*"), op)]
        groups.update(g for g in map(group_of, matches) if g)
    return groups


def _share(quota: float, count: int, scale: int) -> float:
    """quota / count rounded down to 1/scale, computed exactly: count x share <= quota holds for the share as
    deployed, a decimal of RATE_DECIMALS places (999 / 185 is 5.4, and 185 x 5.4 is 999). Float arithmetic
    would round either way (185 x 5.4 is 999.0000000000001 in floats; 9 x 0.195 + 191 x 0.195 is
    39.00000000000001 where 200 x 0.195 is 39.0)."""
    return math.floor(Fraction(quota) * scale / count) / scale


def per_instance_rates(
    quotas: Mapping[str, float], callers: Mapping[str, tuple[int, Iterable[str]]]
) -> dict[str, dict[str, float]]:
    """Split each group's account quota evenly over every instance that may call it.

    `callers` maps a function to (its maximum concurrency, the quota groups it calls). Returns
    function -> group -> calls per second for one instance, such that for every group
    sum(concurrency x rate) over its callers <= quota.
    """
    instances: dict[str, int] = {}
    for concurrency, groups in callers.values():
        if concurrency < 1:
            raise ValueError(f"a maximum concurrency must be at least 1, not {concurrency}")
        for group in set(groups):
            instances[group] = instances.get(group, 0) + concurrency
    scale = 10**RATE_DECIMALS
    share = {group: _share(quotas[group], count, scale) for group, count in instances.items()}
    for group, rate in share.items():
        if rate <= 0:
            raise ValueError(f"the {group} quota ({quotas[group]:g}/s) is too small to share over {instances[group]} "
                             "function instances: raise it (omicsQuotas) or lower the functions' concurrency")
    return {function: {group: share[group] for group in sorted(set(groups))}
            for function, (_, groups) in callers.items()}
