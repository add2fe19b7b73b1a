"""HealthOmics call budgets: quota groups from botocore's model, the split of each quota over every
function instance, and the rate limits a function reads from its environment."""

from __future__ import annotations

import json
from fractions import Fraction

import botocore.session
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.omics import RateLimits, TokenBucket
from shared.omics_quotas import (
    DEFAULT_QUOTAS,
    GROUP_PATTERNS,
    RATE_DECIMALS,
    group_of,
    groups_called,
    operations_by_group,
    per_instance_rates,
)

MODEL = botocore.session.get_session().get_service_model("omics")

# The guide's quota table (HEALTHOMICS.md §5 "Quotas that shape the design"), row by row.
GUIDE_TABLE = {
    "StartRun": ["StartRun"],
    "StartRunBatch": ["StartRunBatch"],
    "batch": ["GetBatch", "CancelRunBatch", "ListRunsInBatch"],
    "run": ["GetRun", "GetRunTask", "ListRunTasks", "ListRuns", "CancelRun", "DeleteRun"],
}


def test_every_api_of_the_guides_quota_table_is_a_botocore_operation_in_its_group() -> None:
    """Guide §5: each API named in the quota table exists in botocore's omics model and falls in the
    table's row; every "run cache API" of the model is in the run-cache group."""
    for group, operations in GUIDE_TABLE.items():
        for operation in operations:
            assert operation in MODEL.operation_names
            assert group_of(operation) == group, operation
    run_cache_apis = {op for op in MODEL.operation_names if "RunCache" in op}
    assert run_cache_apis and set(operations_by_group()["runCache"]) == run_cache_apis
    assert set(DEFAULT_QUOTAS) == set(GROUP_PATTERNS)
    assert DEFAULT_QUOTAS == {"StartRun": 1, "StartRunBatch": 1, "batch": 10, "run": 10, "runCache": 10}


def test_apis_outside_the_table_are_not_budgeted() -> None:
    for operation in ("TagResource", "ListTagsForResource", "GetWorkflow", "StartReadSetImportJob",
                      "GetRunGroup", "CreateRunGroup"):
        assert operation in MODEL.operation_names
        assert group_of(operation) is None, operation


def test_iam_action_names_and_wildcards_map_to_groups() -> None:
    assert groups_called(["GetRun", "ListRunTasks", "TagResource"]) == {"run"}
    assert groups_called(["Start*"]) >= {"StartRun", "StartRunBatch"}
    assert groups_called(["*"]) == set(GROUP_PATTERNS)
    assert groups_called(["GetWorkflow"]) == set()


callers_strategy = st.dictionaries(
    keys=st.text(alphabet="abcdefgh", min_size=1, max_size=6),
    values=st.tuples(st.integers(min_value=1, max_value=200),
                     st.sets(st.sampled_from(sorted(DEFAULT_QUOTAS)), min_size=1)),
    min_size=1, max_size=8,
)
quotas_strategy = st.fixed_dictionaries(
    {group: st.floats(min_value=0.5, max_value=1000) for group in DEFAULT_QUOTAS})


@given(callers=callers_strategy, quotas=quotas_strategy)
@example(callers={"a": (185, {"StartRun"})},  # found by hypothesis: 185 x floor(999 / 185) > 999 in floats
         quotas={**{group: 1.0 for group in DEFAULT_QUOTAS}, "StartRun": 999.0})
@example(callers={"a": (9, {"StartRun"}), "aa": (191, {"StartRun"})},  # found by hypothesis: in floats, 200 x
         quotas={**{group: 1.0 for group in DEFAULT_QUOTAS}, "StartRun": 39.0})  # 0.195 is 39 but 9 x + 191 x is not
@example(callers={"f": (10_000, {"StartRun"})},  # the smallest share there is, exactly: 1/s over 10,000 instances
         quotas={**{group: 1.0 for group in DEFAULT_QUOTAS}})
def test_shares_never_add_up_to_more_than_the_quota(callers, quotas) -> None:
    """Property: for every group, sum over its callers of max concurrency x per-instance rate <= quota,
    every caller gets a positive rate for every group it calls, and little of the quota is left unused."""
    rates = per_instance_rates(quotas, callers)
    scale = 10**RATE_DECIMALS
    for group, quota in quotas.items():
        users = [(concurrency, rates[name][group]) for name, (concurrency, groups) in callers.items()
                 if group in groups]
        if not users:
            continue
        # Exactly, on the decimals the functions get (RATE_DECIMALS places): a float sum of the products
        # rounds either way (9 x 0.195 + 191 x 0.195 is 39.00000000000001 in floats, 39 in decimals).
        units = [round(rate * scale) for _, rate in users]
        assert all(rate == unit / scale for (_, rate), unit in zip(users, units, strict=True))
        used = sum(Fraction(concurrency * unit, scale) for (concurrency, _), unit in zip(users, units, strict=True))
        instances = sum(concurrency for concurrency, _ in users)
        assert used <= Fraction(quota)
        assert all(rate > 0 for _, rate in users)
        assert Fraction(quota) - used < Fraction(instances, scale)  # only rounding is held back
    for name, (_, groups) in callers.items():
        assert set(rates[name]) == set(groups)


def test_a_quota_too_small_to_share_stops_synthesis_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"StartRun quota .* too small to share over 100000 function instances"):
        per_instance_rates({"StartRun": 1}, {"f": (100_000, {"StartRun"})})


def test_rate_limits_from_the_environment() -> None:
    assert RateLimits.from_json("").rates == DEFAULT_QUOTAS  # unset: the guide's quotas
    limits = RateLimits.from_json(json.dumps({"run": 1.25, "StartRun": 0.25}))
    assert limits.rate("run") == 1.25 and limits.rate("StartRun") == 0.25
    assert limits.rate("runCache") is None  # not granted: not limited here (IAM denies it)
    sandbox = RateLimits.from_json('{"*": 100000}')
    assert sandbox.rate("StartRunBatch") == 100000
    assert RateLimits.from_json(limits.to_json()).rates == limits.rates
    for bad in ('[1]', '{"run": 0}', '{"run": "fast"}', '{"*": -1}'):
        with pytest.raises(ValueError):
            RateLimits.from_json(bad)


def test_a_token_due_too_late_is_not_taken() -> None:
    now = [0.0]
    slept: list[float] = []
    bucket = TokenBucket(0.25, clock=lambda: now[0], sleep=slept.append)
    assert bucket.acquire(max_wait=0) == 0.0  # the burst token
    assert bucket.acquire(max_wait=3.9) is None  # next one is due in 4 s: refused, nothing slept
    assert slept == []
    now[0] = 4.0
    assert bucket.acquire(max_wait=0) == 0.0  # the refusal did not spend the token
