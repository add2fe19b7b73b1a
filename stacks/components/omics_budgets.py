"""Per-instance HealthOmics call budgets, computed from the synthesized stack itself.

For every function, what it may call is read from its role's IAM policies (`omics:*` actions: a
function cannot call an API it is not granted) and how many instances may run at once from its
invokers: each SQS event source's maximum concurrency, 1 per schedule, capped by reserved
concurrency. Each quota group's account quota (config `omicsQuotas`) is split evenly over every
instance of every function that may call it (shared.omics_quotas.per_instance_rates) and handed to
each function as OMICS_RATE_LIMITS. Applied by an aspect, so grants and event sources added anywhere
in the stack are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import IConstruct

from stacks.runtime_contract import ENV_OMICS_RATE_LIMITS, omics_quotas

# Resource metadata of each function: its budget inputs, so tests and operators can check the sums.
BUDGET_METADATA_KEY = "OmicsAutopilot::OmicsBudget"


@dataclass(frozen=True)
class FunctionBudget:
    logical_id: str
    max_concurrency: int
    groups: frozenset[str]
    rates: Mapping[str, float]


class OmicsBudgetError(ValueError):
    """A function may call HealthOmics with no bound on how many instances do it at once."""


def _refs(value: Any) -> set[str]:
    """Logical ids a resolved CloudFormation value refers to (Ref / Fn::GetAtt), anywhere inside it."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value and isinstance(value["Fn::GetAtt"], list):
            found.add(str(value["Fn::GetAtt"][0]))
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


def _omics_actions(document: Any) -> set[str]:
    actions: set[str] = set()
    for statement in (document or {}).get("Statement", []):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        listed = statement.get("Action", [])
        for action in [listed] if isinstance(listed, str) else listed:
            if isinstance(action, str) and action.lower().startswith("omics:"):
                actions.add(action.split(":", 1)[1])
            elif action == "*":
                actions.add("*")
    return actions


def function_budgets(stack: cdk.Stack, quotas: Mapping[str, float]) -> dict[str, FunctionBudget]:
    """Budgets of every function of `stack` that may call a budgeted HealthOmics API, by logical id."""
    resolve = stack.resolve
    nodes = stack.node.find_all()
    functions = {stack.get_logical_id(n): n for n in nodes if isinstance(n, lambda_.CfnFunction)}
    # Each resolve() is a call into Node (jsii): the values of one kind are resolved together, in one mapping
    # (an undefined value leaves its key out, as it would resolve alone to None).
    roles = resolve({logical_id: fn.role for logical_id, fn in functions.items()})
    role_of = {logical_id: _refs(roles.get(logical_id)) for logical_id in functions}

    actions_of_role: dict[str, set[str]] = {}
    policies = [node for node in nodes if isinstance(node, iam.CfnPolicy)]
    attached = resolve([{"roles": node.roles, "document": node.policy_document} for node in policies])
    for policy in attached:
        for role in _refs(policy.get("roles")):
            actions_of_role.setdefault(role, set()).update(_omics_actions(policy.get("document")))
    inline_policies = resolve({stack.get_logical_id(node): node.policies
                               for node in nodes if isinstance(node, iam.CfnRole)})
    for role, inline_policies_of_role in inline_policies.items():
        for inline in inline_policies_of_role or []:
            actions_of_role.setdefault(role, set()).update(_omics_actions(inline.get("PolicyDocument")))

    invokers: dict[str, list[int | None]] = {logical_id: [] for logical_id in functions}
    for node in nodes:
        if isinstance(node, lambda_.CfnEventSourceMapping):
            scaling = resolve(node.scaling_config) or {}
            for target in _refs(resolve(node.function_name)) & invokers.keys():
                # resolve() of the L1 struct gives jsii property names (maximumConcurrency)
                invokers[target].append(scaling.get("maximumConcurrency", scaling.get("MaximumConcurrency")))
        elif isinstance(node, scheduler.CfnSchedule):
            for target in _refs(resolve(node.target)) & invokers.keys():
                invokers[target].append(1)  # a schedule invokes once per tick

    callers: dict[str, tuple[int, Iterable[str]]] = {}
    for logical_id, fn in functions.items():
        actions = set().union(*(actions_of_role.get(role, set()) for role in role_of[logical_id]))
        groups = omics_quotas.groups_called(actions)
        if not groups:
            continue
        reserved = resolve(fn.reserved_concurrent_executions)
        sources = invokers[logical_id]
        bounds = [] if not sources or None in sources else [sum(s for s in sources if s is not None)]
        if isinstance(reserved, int):
            bounds.append(reserved)
        if not bounds:
            raise OmicsBudgetError(
                f"{fn.node.path} may call HealthOmics ({', '.join(sorted(groups))}) but nothing bounds how many "
                "instances run at once: give its event source a maximum concurrency, or reserve concurrency")
        callers[logical_id] = (min(bounds), groups)

    rates = omics_quotas.per_instance_rates(quotas, callers)
    return {logical_id: FunctionBudget(logical_id, concurrency, frozenset(groups), rates[logical_id])
            for logical_id, (concurrency, groups) in callers.items()}


@jsii.implements(cdk.IAspect)
class OmicsBudgets:
    """Sets OMICS_RATE_LIMITS on every function of `stack`, once, on its first visit: add it to a construct of
    the stack with no children (an aspect visits every construct under the one it is added to)."""

    def __init__(self, stack: cdk.Stack, quotas: Mapping[str, float]) -> None:
        self._stack = stack
        self._quotas = dict(quotas)
        self._applied = False

    def visit(self, node: IConstruct) -> None:
        if self._applied:
            return
        self._applied = True
        stack = self._stack
        budgets = function_budgets(stack, self._quotas)
        for fn in stack.node.find_all():
            if isinstance(fn, lambda_.Function):
                cfn = fn.node.default_child
                assert isinstance(cfn, lambda_.CfnFunction)
                budget = budgets.get(stack.get_logical_id(cfn))
                # A function granted no budgeted API gets an empty budget: any such call it made would
                # not be limited here, and IAM denies it anyway.
                rates = dict(budget.rates) if budget else {}
                fn.add_environment(ENV_OMICS_RATE_LIMITS, json.dumps(rates, sort_keys=True, separators=(",", ":")))
                if budget:
                    cfn.add_metadata(BUDGET_METADATA_KEY, {"maxConcurrency": budget.max_concurrency,
                                                           "groups": sorted(budget.groups)})
