"""The synthesized per-instance HealthOmics budgets respect the account quotas.

Recomputed here from the template alone (IAM policies, event source mappings, schedules, reserved
concurrency), not from the stack's own bookkeeping: for every quota group, the sum over the functions
granted one of its APIs of (maximum concurrency x OMICS_RATE_LIMITS[group]) is at most the quota.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.omics_quotas import DEFAULT_QUOTAS, groups_called
from stacks.components.omics_budgets import OmicsBudgetError, function_budgets
from tests.infrastructure.cfn import as_list, props, resources


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def _concurrency_and_groups(template: dict[str, Any]) -> dict[str, tuple[int, set[str]]]:
    functions = resources(template, "AWS::Lambda::Function")
    actions: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        granted = {a.split(":", 1)[1] for s in policy["Properties"]["PolicyDocument"]["Statement"]
                   for a in as_list(s["Action"]) if a.startswith("omics:")}
        for role in _refs(policy["Properties"]["Roles"]):
            actions.setdefault(role, set()).update(granted)
    sources: dict[str, list[int]] = {lid: [] for lid in functions}
    for esm in resources(template, "AWS::Lambda::EventSourceMapping").values():
        for lid in _refs(esm["Properties"]["FunctionName"]) & sources.keys():
            sources[lid].append(esm["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    for schedule in resources(template, "AWS::Scheduler::Schedule").values():
        for lid in _refs(schedule["Properties"]["Target"]["Arn"]) & sources.keys():
            sources[lid].append(1)
    result = {}
    for lid, function in functions.items():
        groups = groups_called(set().union(*(actions.get(r, set()) for r in _refs(function["Properties"]["Role"]))))
        if groups:
            bounds = [sum(sources[lid])] if sources[lid] else []
            if "ReservedConcurrentExecutions" in function["Properties"]:
                bounds.append(function["Properties"]["ReservedConcurrentExecutions"])
            result[lid] = (min(bounds), groups)
    return result


def _assert_within_quotas(template: dict[str, Any], quotas: dict[str, float]) -> dict[str, float]:
    used = dict.fromkeys(quotas, 0.0)
    for lid, (concurrency, groups) in _concurrency_and_groups(template).items():
        limits = json.loads(props(template, lid)["Environment"]["Variables"]["OMICS_RATE_LIMITS"])
        assert set(limits) == groups, lid  # a budget for every group it may call, and only those
        for group in groups:
            assert limits[group] > 0
            used[group] += concurrency * limits[group]
    for group, quota in quotas.items():
        assert used[group] <= quota, f"{group}: {used[group]} calls/s > quota {quota}"
    return used


def test_synthesized_budgets_respect_the_guides_quotas(template_dict) -> None:
    used = _assert_within_quotas(template_dict, DEFAULT_QUOTAS)
    # Every quota shared by the functions that use it, with little left on the table.
    for group in ("StartRun", "StartRunBatch", "batch", "run", "runCache"):
        assert used[group] >= 0.99 * DEFAULT_QUOTAS[group], group


def test_a_raised_quota_is_shared_too(byo_template_dict) -> None:
    """The bring-your-own deployment sets omicsQuotas {"run": 20}."""
    used = _assert_within_quotas(byo_template_dict, {**DEFAULT_QUOTAS, "run": 20})
    assert used["run"] > 10


def test_a_function_without_a_concurrency_bound_stops_synthesis() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_

    stack = cdk.Stack(cdk.App(), "Unbounded")
    function = lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_13, handler="x.handler",
                                code=lambda_.Code.from_inline("def handler(e, c): pass"))
    function.add_to_role_policy(iam.PolicyStatement(actions=["omics:GetRun"], resources=["*"]))
    with pytest.raises(OmicsBudgetError, match="nothing bounds how many instances"):
        function_budgets(stack, DEFAULT_QUOTAS)
