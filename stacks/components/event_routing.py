"""HealthOmics events on the account's default bus: routing rules to consumer queues, and an archive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.queue_consumer import QueueConsumer

OMICS_SOURCE = "aws.omics"
RUN_STATUS_CHANGE = "Run Status Change"
TASK_STATUS_CHANGE = "Task Status Change"
RUNBATCH_STATUS_CHANGE = "RunBatch Status Change"
RULE_METADATA_KEY = "OmicsAutopilot::Rule"
EVENTS_PRINCIPAL = "events.amazonaws.com"


def admit_rule(queue: sqs.IQueue, rule: events.IRule) -> None:
    """Lets EventBridge send to `queue` on behalf of `rule` only (aws:SourceArn), as CDK does for a DLQ."""
    queue.add_to_resource_policy(iam.PolicyStatement(
        sid=f"AllowEventRule{cdk.Names.node_unique_id(rule.node)}",
        principals=[iam.ServicePrincipal(EVENTS_PRINCIPAL)],
        actions=["sqs:SendMessage"],
        resources=[queue.queue_arn],
        conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
    ))


@jsii.implements(events.IRuleTarget)
class ConsumerQueueTarget:
    """A rule target for a consumer's KMS-encrypted queue. CDK's `targets.SqsQueue` admits EventBridge on
    aws:SourceAccount alone for an encrypted queue (its key policy would otherwise need the rule: a cycle), so
    any rule of the account could put forged events on it; here the queue policy names the rule itself. The
    key statement EventBridge needs is the stack key's (stacks/components/encryption.py)."""

    def __init__(self, consumer: QueueConsumer) -> None:
        self.consumer = consumer

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        admit_rule(self.consumer.queue, rule)
        admit_rule(self.consumer.dead_letter_queue, rule)  # events EventBridge cannot deliver
        return events.RuleTargetConfig(
            arn=self.consumer.queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.consumer.dead_letter_queue.queue_arn),
            target_resource=self.consumer.queue,
        )


def consumer_queue_target(consumer: QueueConsumer) -> events.IRuleTarget:
    """`ConsumerQueueTarget` as the rule target it is (jsii.implements declares it to jsii, not to type checkers)."""
    return cast(events.IRuleTarget, ConsumerQueueTarget(consumer))


class EventRouting(Construct):
    """Rules live on the default bus (HealthOmics publishes nowhere else). Each rule targets one
    consumer queue; events EventBridge cannot deliver go to that consumer's DLQ, so a redrive of the
    DLQ replays them like any failed message. The archive keeps every aws.omics event for replay."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, archive_retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        # Archived events are encrypted with the stack CMK; CDK adds the key-policy statements for
        # EventBridge, scoped by the encryption context to this (default) bus.
        self.archive = events.Archive(
            self,
            "OmicsArchive",
            source_event_bus=self.bus,
            description="Every aws.omics event, for replay (rebuilds provenance idempotently)",
            event_pattern=events.EventPattern(source=[OMICS_SOURCE]),
            retention=cdk.Duration.days(archive_retention_days) if archive_retention_days > 0 else None,
            kms_key=key,
        )
        self.routes: list[tuple[events.Rule, QueueConsumer]] = []

    def route(
        self,
        construct_id: str,
        *,
        detail_types: Sequence[str],
        consumer: QueueConsumer,
        detail: Mapping[str, Any] | None = None,
        description: str,
    ) -> events.Rule:
        rule = events.Rule(
            self,
            construct_id,
            event_bus=self.bus,
            description=description,
            event_pattern=events.EventPattern(
                source=[OMICS_SOURCE],
                detail_type=list(detail_types),
                detail=dict(detail) if detail else None,
            ),
        )
        rule.add_target(consumer_queue_target(consumer))
        cfn_rule = rule.node.default_child
        assert isinstance(cfn_rule, events.CfnRule)
        cfn_rule.add_metadata(RULE_METADATA_KEY, {"consumer": consumer.consumer, "route": construct_id})
        self.routes.append((rule, consumer))
        return rule
