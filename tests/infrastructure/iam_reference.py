"""The IAM Service Authorization Reference as the installed cfn-lint ships it (read from the package).

cfn-lint bundles AWS's action -> resource-type table (`cfnlint/data/AdditionalSpecs/Policies.json`):
for each service prefix, each action (lowercase) lists the resource types it authorizes on (an empty
entry means the action supports no resource-level permission, so only `"Resource": "*"` grants it), and
each resource type its ARN formats (regular expressions over `${Partition}`, `${Region}`, `${Account}`).
It is data we did not write: a grant that disagrees with it is AccessDenied in a real account.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Placeholders a synthesized ARN carries (pseudo parameters) and what they stand for in a real account.
_PSEUDO = {"<AWS::Partition>": "aws", "<AWS::Region>": "us-east-1", "<AWS::AccountId>": "123456789012"}
# Sample ARNs for `<LogicalId.Arn>` of the resource types the stack grants on (by CloudFormation type).
_SAMPLE_ARN = {
    "AWS::S3::Bucket": "arn:aws:s3:::bucket-name",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:us-east-1:123456789012:table/table-name",
    "AWS::SQS::Queue": "arn:aws:sqs:us-east-1:123456789012:queue-name",
    "AWS::KMS::Key": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AWS::Logs::LogGroup": "arn:aws:logs:us-east-1:123456789012:log-group:group-name:*",
    "AWS::Lambda::Function": "arn:aws:lambda:us-east-1:123456789012:function:function-name",
    "AWS::IAM::Role": "arn:aws:iam::123456789012:role/role-name",
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:topic-name",
}
# Sample ids for `<LogicalId.Id>`: a run cache id matches botocore's RunCacheId pattern (digits).
_SAMPLE_ID = {"AWS::Omics::RunCache": "1234567"}
# `Ref` of these types is an ARN as well (SNS topic); of a bucket, its name (used inside `arn:...:s3:::`).
_REF_ARN = {"AWS::SNS::Topic"}


@cache
def policies() -> dict[str, Any]:
    text = resources.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@dataclass(frozen=True)
class ActionInfo:
    action: str  # as written in the policy, e.g. omics:ListRuns
    resource_types: tuple[str, ...]  # empty: no resource-level permission (only "*" grants it)
    arn_patterns: tuple[re.Pattern[str], ...]


def expand(action: str) -> list[ActionInfo]:
    """The reference's entries for `action` (a wildcard like `kms:GenerateDataKey*` expands to several).

    Raises KeyError for a service or action the reference does not know: a typo is AccessDenied too.
    """
    service, _, name = action.partition(":")
    entry = policies()[service.lower()]
    names = [n for n in entry["Actions"] if fnmatch.fnmatchcase(n, name.lower())]
    if not names:
        raise KeyError(action)
    found = []
    for matched in names:
        types = tuple(entry["Actions"][matched].get("Resources", ()))
        patterns = tuple(
            re.compile(
                fmt.replace("${Partition}", "aws[a-z-]*").replace("${Region}", "[a-z0-9-]*")
                .replace("${Account}", "[0-9]{12}")
            )
            for kind in types
            for fmt in entry["Resources"].get(kind.lower(), {}).get("ARNFormats", [])
        )
        found.append(ActionInfo(f"{service}:{matched}", types, patterns))
    return found


def render_arn(value: Any, template: dict[str, Any]) -> str:
    """A synthesized Resource value as one concrete ARN (pseudo parameters and GetAtt/Ref filled in)."""
    if isinstance(value, str):
        text = value
        for placeholder, concrete in _PSEUDO.items():
            text = text.replace(placeholder, concrete)
        return text
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render_arn(part, template) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        if name.startswith("AWS::"):
            return _PSEUDO[f"<{name}>"]
        kind = template["Resources"][name]["Type"]
        return _SAMPLE_ARN[kind] if kind in _REF_ARN else f"{name.lower()}-name"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        name, attribute = value["Fn::GetAtt"]
        kind = template["Resources"][name]["Type"]
        if attribute == "Id":  # a resource name inside an ARN the statement builds (the stack's run cache)
            return _SAMPLE_ID[kind]
        assert attribute == "Arn", value
        return _SAMPLE_ARN[kind]
    raise ValueError(f"unsupported Resource value: {value!r}")


def authorizes(info: ActionInfo, arn: str) -> bool:
    """Whether a statement granting `info.action` on `arn` can ever match a request for it."""
    if arn == "*":
        return True
    return any(pattern.fullmatch(arn) for pattern in info.arn_patterns)
