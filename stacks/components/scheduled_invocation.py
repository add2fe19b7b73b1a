"""A function invoked on a schedule by EventBridge Scheduler: the one way the stack does it.

EventBridge Scheduler invokes Lambda asynchronously: its dead-letter queue only receives invocations
it could not deliver. A function *error* is handled by Lambda's asynchronous invocation instead, so the
function gets an async invoke configuration (2 retries, the schedule's maximum event age) whose
on-failure destination is the same dead-letter queue: whatever goes wrong, a message lands in one
alarmed queue. An Errors alarm reports each failed attempt as it happens. The scheduler gets a role of
its own that may invoke this one function and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.nag import INLINE_POLICY, INLINE_POLICY_REASON, acknowledge, wildcard_action
from stacks.components.queue_consumer import encrypted_dead_letter_queue


@dataclass(frozen=True)
class ScheduledInvocation:
    dead_letter_queue: sqs.Queue
    role: iam.Role
    schedule: scheduler.Schedule
    dead_letter_alarm: cloudwatch.Alarm
    errors_alarm: cloudwatch.Alarm


def schedule_invocation(
    scope: Construct,
    *,
    function: lambda_.Function,
    expression: str,
    description: str,
    what: str,
    key: kms.IKey,
    notifications: AlarmNotifications,
    max_event_age: cdk.Duration,
) -> ScheduledInvocation:
    """Invoke `function` on `expression` with {"scheduledTime": <the schedule's time>} as its event
    (a stable key: a duplicated invocation of the same tick can be recognised)."""
    stack = cdk.Stack.of(scope)
    dead_letter_queue = encrypted_dead_letter_queue(scope, "ScheduleDeadLetterQueue", key=key)
    role = iam.Role(
        scope,
        "ScheduleRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description=f"EventBridge Scheduler: invoke the {what}",
    )
    # Sending to the KMS-encrypted dead-letter queue needs the key too: grant both, to this role only.
    dead_letter_queue.grant_send_messages(role)
    schedule = scheduler.Schedule(
        scope,
        "Schedule",
        description=description,
        schedule=scheduler.ScheduleExpression.expression(expression),
        target=scheduler_targets.LambdaInvoke(
            function,
            role=role,
            input=scheduler.ScheduleTargetInput.from_object(
                {"scheduledTime": scheduler.ContextAttribute.scheduled_time}
            ),
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2,
            max_event_age=max_event_age,
        ),
    )
    # Function errors (after Lambda's own retries) go to the same queue: the on-failure destination.
    function.configure_async_invoke(
        on_failure=destinations.SqsDestination(dead_letter_queue),
        retry_attempts=2,
        max_event_age=max_event_age,
    )
    alarm = notifications.when_any(
        scope,
        "ScheduleDeadLetterQueueNotEmpty",
        description=f"{what}: scheduled invocations failed or could not be delivered",
        metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=cdk.Duration.minutes(5), statistic="Maximum"
        ),
    )

    errors_alarm = notifications.when_any(
        scope,
        "FunctionErrors",
        description=f"{what}: a scheduled invocation failed",
        metric=function.metric_errors(period=cdk.Duration.minutes(5), statistic="Sum"),
    )

    acknowledge(dead_letter_queue, f"This queue is itself a dead-letter queue (of the {what}'s schedule).",
                "AwsSolutions-SQS3")
    cfn_function = function.node.default_child
    assert isinstance(cfn_function, lambda_.CfnFunction)
    acknowledge(
        role,
        f"CDK's grant_invoke covers the {what} function and its versions (<function ARN>:*); the role can "
        "invoke nothing else.",
        f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(cfn_function)}.Arn>:*]",
    )
    acknowledge(role, INLINE_POLICY_REASON, INLINE_POLICY)
    acknowledge(
        role,
        "kms:GenerateDataKey*/ReEncrypt* come from CDK's grant to send to the schedule's dead-letter queue, "
        "encrypted with the stack's single customer-managed key; they apply to that key only.",
        wildcard_action("kms:GenerateDataKey*"),
        wildcard_action("kms:ReEncrypt*"),
    )
    acknowledge(
        function,
        "The function's asynchronous invocations have an on-failure destination (the schedule's alarmed "
        "dead-letter queue), the successor of a Lambda DLQ; the schedule target delivers there too.",
        "HIPAA.Security-LambdaDLQ",
    )
    return ScheduledInvocation(dead_letter_queue, role, schedule, alarm, errors_alarm)
