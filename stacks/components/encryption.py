"""One customer-managed KMS key for the stack's data at rest (table, queues, buckets, logs, topic)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class EncryptionKey(Construct):
    """A rotating CMK whose key policy lets the AWS services that write into our resources use it:

    - EventBridge, to deliver events to the encrypted queues (below) and to encrypt the event archive
      (added by CDK: `events.Archive(kms_key=...)`);
    - CloudWatch Logs, to encrypt the function log groups (scoped by encryption context);
    - CloudWatch, to publish alarm notifications to the encrypted SNS topic.
    Identity principals (function roles, the HealthOmics service role) get access through grant_*.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias_prefix: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{alias_prefix}: data at rest of the HealthOmics autopilot",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,  # the retained table and logs stay readable
        )
        self.key.add_alias(f"alias/{alias_prefix}")
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        # EventBridge encrypts what it delivers to the consumer queues (the SQS guide's two actions). Only on
        # aws:SourceAccount: naming the rules here would be a cycle (key -> rule -> queue -> key: the key policy
        # is part of the key, CDK issue #11158). The gate is each queue's policy, which admits only its own rules
        # (event_routing.ConsumerQueueTarget); this key serves no queue of another's.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToDeliverToEncryptedQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
