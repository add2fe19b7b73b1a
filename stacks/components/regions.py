"""Where the stack can be deployed: the regions where HealthOmics (and AWS::Omics::RunCache) exists.

The list is botocore's endpoint data for the `omics` service (every partition), not ours: a region
botocore knows no HealthOmics endpoint for cannot run the stack's calls. A stack synthesized for a
concrete region outside it fails synthesis; a region-agnostic stack (the default: the region is the
deploy-time `AWS::Region`) carries a CloudFormation rule that fails the deployment before any resource
is created, with the same message.
"""

from __future__ import annotations

from functools import cache

import aws_cdk as cdk
import boto3
from constructs import Construct

from stacks.config import ConfigError

SERVICE = "omics"


@cache
def supported_regions() -> tuple[str, ...]:
    session = boto3.session.Session()
    regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(SERVICE, partition_name=partition)
    }
    return tuple(sorted(regions))


def unsupported_region_message(region: str) -> str:
    return (
        f"AWS HealthOmics (and its run cache, AWS::Omics::RunCache) is not available in {region}; "
        f"deploy into one of: {', '.join(supported_regions())}"
    )


def require_supported_region(scope: Construct) -> cdk.CfnRule | None:
    """Fail synthesis for a concrete unsupported region; for an unresolved one, add a deploy-time rule."""
    stack = cdk.Stack.of(scope)
    if not cdk.Token.is_unresolved(stack.region):
        if stack.region not in supported_regions():
            raise ConfigError(f"Invalid configuration: region: {unsupported_region_message(stack.region)}")
        return None
    return cdk.CfnRule(
        scope,
        "HealthOmicsRegion",
        assertions=[
            cdk.CfnRuleAssertion(
                assert_=cdk.Fn.condition_contains(list(supported_regions()), cdk.Aws.REGION),
                assert_description=unsupported_region_message("this region"),
            )
        ],
    )
