"""IAM statements every capability needs in the same shape, written once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_


def grant_omics(function: lambda_.IFunction, actions_by_resource: Mapping[str, Sequence[str]]) -> None:
    """One statement per HealthOmics resource type (run, runBatch, workflow...): the actions on
    `arn:...:omics:<region>:<account>:<type>/*` of this account and region only. Ids are assigned by
    the service at run time, so the resource name is a wildcard (each capability's nag suppression
    says so)."""
    stack = cdk.Stack.of(function)
    for resource_type, actions in actions_by_resource.items():
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid=f"Omics{resource_type[0].upper()}{resource_type[1:]}",
                actions=list(actions),
                resources=[stack.format_arn(service="omics", resource=resource_type, resource_name="*")],
            )
        )


def grant_pass_role(function: lambda_.IFunction, role_arn: str, service: str, sid: str) -> None:
    """iam:PassRole on one role, only to `service` (e.g. omics.amazonaws.com)."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["iam:PassRole"],
            resources=[role_arn],
            conditions={"StringEquals": {"iam:PassedToService": service}},
        )
    )
