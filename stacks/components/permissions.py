"""IAM statements every capability needs in the same shape, written once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

# The "resource type" of HealthOmics actions that support no resource-level permission (ListRuns,
# ListRunCaches...): IAM only matches them with `"Resource": "*"`; any ARN there is AccessDenied.
NO_RESOURCE_TYPE = "*"


def grant_omics(function: lambda_.IFunction, actions_by_resource: Mapping[str, Sequence[str]],
                names: Mapping[str, str] | None = None) -> None:
    """One statement per HealthOmics resource type (run, runBatch, workflow...): the actions on
    `arn:...:omics:<region>:<account>:<type>/<name>` of this account and region only. Ids are mostly assigned
    by the service at run time, so the name is a wildcard (each capability's nag suppression says so) unless
    `names` gives the one resource of that type the function may use (e.g. the stack's run cache). Actions
    listed under NO_RESOURCE_TYPE are granted on `*` (the IAM Service Authorization Reference lists no resource
    type for them; tests check every grant against it)."""
    stack = cdk.Stack.of(function)
    for resource_type, actions in actions_by_resource.items():
        if resource_type == NO_RESOURCE_TYPE:
            sid, resources = "OmicsNoResourceLevel", ["*"]
        else:
            sid = f"Omics{resource_type[0].upper()}{resource_type[1:]}"
            name = (names or {}).get(resource_type, "*")
            resources = [stack.format_arn(service="omics", resource=resource_type, resource_name=name)]
        function.add_to_role_policy(iam.PolicyStatement(sid=sid, actions=list(actions), resources=resources))


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
