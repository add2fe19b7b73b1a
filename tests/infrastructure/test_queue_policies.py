"""Each consumer queue a rule targets admits EventBridge only for that queue's own rules (aws:SourceArn).

Regression (review G, MEDIUM): the queues are KMS-encrypted, so CDK's `targets.SqsQueue` admitted
events.amazonaws.com on `aws:SourceAccount` alone: any EventBridge rule of the account (e.g. one with a
constant `Input`, made by a principal holding only events:PutRule/PutTargets) could put forged
HealthOmics-looking bodies on the launch, re-run, right-sizing and provenance queues (a forged RunBatch
FAILED reopening a launched sheet). Now stacks/components/event_routing.py `ConsumerQueueTarget` names
the rule in each queue's policy, as CDK already did for the DLQs. The stack key still lets EventBridge
encrypt on aws:SourceAccount (naming the rules there is a cycle: stacks/components/encryption.py).
"""

from __future__ import annotations

from typing import Any

from tests.infrastructure.cfn import as_list, resources


def _rule_targets(template: dict[str, Any]) -> dict[str, set[str]]:
    """queue logical id -> the logical ids of the rules that target it."""
    targets: dict[str, set[str]] = {}
    for rule_id, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            arn = target.get("Arn")
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                targets.setdefault(arn["Fn::GetAtt"][0], set()).add(rule_id)
    return targets


def test_event_rule_queues_admit_only_their_own_rules(template_dict: dict[str, Any]) -> None:
    loose = {}
    for queue_id, rules in sorted(_rule_targets(template_dict).items()):
        for policy in resources(template_dict, "AWS::SQS::QueuePolicy").values():
            if {"Ref": queue_id} not in policy["Properties"]["Queues"]:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                principal = statement.get("Principal", {})
                if statement["Effect"] != "Allow" or "events.amazonaws.com" not in as_list(
                        principal.get("Service", [])):
                    continue
                condition = statement.get("Condition", {})
                source_arns = [v for op in ("ArnEquals", "ArnLike") for v in
                               as_list(condition.get(op, {}).get("aws:SourceArn", []))]
                named = [arn["Fn::GetAtt"][0] for arn in source_arns if isinstance(arn, dict) and "Fn::GetAtt" in arn]
                if not source_arns or len(named) != len(source_arns) or not set(named) <= rules:  # only its rules
                    loose[queue_id] = condition
    assert not loose, (
        "queues any EventBridge rule of the account may send to (no aws:SourceArn of their rules): "
        + "; ".join(f"{q}: {c}" for q, c in loose.items()))
