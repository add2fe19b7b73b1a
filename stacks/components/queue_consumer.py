"""A Lambda fed by its own SQS queue: the one pattern every capability of the autopilot uses.

queue (KMS, TLS-only) --ESM (partial batch failures, batching window, max concurrency)--> function
  └─ after `max_receive_count` receives ─► DLQ (KMS, TLS-only, 14 days) ─► alarm when not empty
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.nag import acknowledge

QUEUE_METADATA_KEY = "OmicsAutopilot::Queue"
ESM_METADATA_KEY = "OmicsAutopilot::EventSourceMapping"
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance for SQS event sources: visibility >= 6x function timeout


def encrypted_dead_letter_queue(scope: Construct, construct_id: str, *, key: kms.IKey) -> sqs.Queue:
    """A dead-letter queue (of a consumer or a schedule): KMS, TLS-only, kept 14 days (SQS's maximum)."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )


class QueueConsumer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        consumer: str,
        function: lambda_.Function,
        key: kms.IKey,
        notifications: AlarmNotifications,
        batch_size: int = 10,
        max_batching_window: cdk.Duration | None = None,
        max_concurrency: int | None = None,
        max_receive_count: int = 5,
        retention: cdk.Duration | None = None,
        max_message_age: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if batch_size > 10 and max_batching_window is None:
            raise ValueError("SQS event sources with batch_size > 10 need a max_batching_window")
        function_timeout = function.timeout or cdk.Duration.seconds(3)
        self.consumer = consumer
        self.function = function
        self.batch_size = batch_size
        self.max_batching_window = max_batching_window

        self.dead_letter_queue = encrypted_dead_letter_queue(self, "DeadLetterQueue", key=key)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(
                function_timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR
            ),
            retention_period=retention or cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        self.queue.grant_consume_messages(function)
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "EventSourceMapping",
            target=function,
            event_source_arn=self.queue.queue_arn,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        # The mapping must not start before the role can read the queue.
        self.event_source_mapping.node.add_dependency(function.role or function)

        for queue, role in ((self.queue, "source"), (self.dead_letter_queue, "dead-letter")):
            cfn_queue = queue.node.default_child
            assert isinstance(cfn_queue, sqs.CfnQueue)
            cfn_queue.add_metadata(QUEUE_METADATA_KEY, {"consumer": consumer, "role": role})
        cfn_esm = self.event_source_mapping.node.default_child
        assert isinstance(cfn_esm, lambda_.CfnEventSourceMapping)
        cfn_esm.add_metadata(ESM_METADATA_KEY, {"consumer": consumer})

        self.dlq_alarm = notifications.when_any(
            self,
            "DeadLetterQueueNotEmpty",
            description=f"{consumer}: messages in the dead-letter queue "
            f"(failed {max_receive_count} receives)",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1), statistic="Maximum"
            ),
        )
        self.errors_alarm = notifications.when_any(
            self,
            "FunctionErrors",
            description=f"{consumer}: function invocations failed",
            metric=function.metric_errors(period=cdk.Duration.minutes(5), statistic="Sum"),
        )
        age = max_message_age or cdk.Duration.hours(1)
        self.backlog_alarm = notifications.notify(
            cloudwatch.Alarm(
                self,
                "OldestMessageAge",
                alarm_description=f"{consumer}: oldest queued message older than {age.to_minutes()} minutes",
                metric=self.queue.metric_approximate_age_of_oldest_message(
                    period=cdk.Duration.minutes(5), statistic="Maximum"
                ),
                threshold=age.to_seconds(),
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        acknowledge(
            function,
            "The function is invoked synchronously by an SQS event source mapping; a Lambda DLQ only "
            "applies to asynchronous invocations. Failed messages go to the source queue's DLQ.",
            "HIPAA.Security-LambdaDLQ",
        )
