"""cdk-nag 3 acknowledgments, always scoped to one construct and justified in words."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

# Plugin names of the cdk-nag packs app.py registers (the prefix of their rule ids).
NAG_PACKS = ("AwsSolutions", "HIPAA.Security")


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge rule findings on `scope` (and its children) with one written justification.

    cdk-nag 3 reads CDK's native `Validations.of(...).acknowledge(...)`; a finding id is the rule id,
    optionally with the finding in brackets (``AwsSolutions-IAM5[Resource::*]``). Acknowledgments
    apply to the construct's subtree, so pass the narrowest construct that owns the finding.
    """
    if not rule_ids:
        raise ValueError("acknowledge() needs at least one rule id")
    cdk.Validations.of(scope).acknowledge(
        *(cdk.Acknowledgment(id=qualified(rule), reason=reason) for rule in rule_ids)
    )


def qualified(rule_id: str) -> str:
    """`<plugin>::<rule>`, the id form CDK's validation report asks for.

    An id without a plugin prefix would be recorded as an `Annotation::` acknowledgment; cdk-nag
    happens to honour those too, but the plugin-qualified form is the documented one.
    """
    if "::" in rule_id.split("[", 1)[0]:
        return rule_id
    for pack in NAG_PACKS:
        if rule_id.startswith(f"{pack}-"):
            return f"{pack}::{rule_id}"
    raise ValueError(f"{rule_id!r} is not a rule of {', '.join(NAG_PACKS)}")


def wildcard_under(resource: IConstruct, suffix: str) -> str:
    """The AwsSolutions-IAM5 finding id for `<resource ARN><suffix>` (e.g. a bucket's ``/*``).

    cdk-nag names the finding after the resource's logical id, so the id is derived from the construct
    rather than copied from a report (it follows renames of the construct path).
    """
    cfn = resource if isinstance(resource, cdk.CfnElement) else resource.node.default_child
    if not isinstance(cfn, cdk.CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    logical_id = cdk.Stack.of(cfn).get_logical_id(cfn)
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>{suffix}]"


def wildcard_arn(service: str, resource: str) -> str:
    """The AwsSolutions-IAM5 finding id for ``Stack.format_arn(service=..., resource=...)`` with a ``*``."""
    arn = f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"
    return f"AwsSolutions-IAM5[Resource::{arn}]"


def wildcard_action(action: str) -> str:
    return f"AwsSolutions-IAM5[Action::{action}]"


INLINE_POLICY = "HIPAA.Security-IAMNoInlinePolicy"
INLINE_POLICY_REASON = (
    "The policy is the role's own CDK-generated AWS::IAM::Policy (grant_* / add_to_policy), attached to "
    "exactly this one role and created and deleted with it: the same scope as a single-attachment "
    "customer-managed policy, generated from resource grants for least privilege."
)
