"""Small helpers to read a synthesized CloudFormation template in tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

WIRING = "OmicsAutopilot::Wiring"


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == resource_type}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id].get("Properties", {})


def getatt(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy (AWS::IAM::Policy / ManagedPolicy / Role inline)."""
    for lid, res in template["Resources"].items():
        documents = []
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(res["Properties"]["PolicyDocument"])
        elif res["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in res["Properties"].get("Policies", []))
        for document in documents:
            for statement in document["Statement"]:
                yield lid, statement


def policies_of_role(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Statements of the identity policies attached to one role."""
    statements = []
    for res in resources(template, "AWS::IAM::Policy").values():
        if ref(role_logical_id) in res["Properties"].get("Roles", []):
            statements.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return statements


def omics_actions_by_resource(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each HealthOmics action in the statements -> every resource it is granted on (as join_text)."""
    omics: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith("omics:"):
                omics.setdefault(action, set()).update(join_text(r) for r in as_list(statement["Resource"]))
    return omics


def join_text(value: Any) -> str:
    """Render an Fn::Join / Ref / GetAtt value as text with <Ref> placeholders (for pattern checks)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(join_text(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    raise ValueError(f"unsupported value: {value!r}")
