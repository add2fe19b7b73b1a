"""The reconciler: a scheduled sweep that heals provenance when HealthOmics events went missing.

EventBridge Scheduler (rate from config `reconcileSchedule`) --invoke--> reconciler Lambda
  reads the table's `active` index, asks HealthOmics (GetRun / ListRuns / GetBatch, plus the recorder's
  enrichment calls GetRun / ListRunTasks / ListRunsInBatch), writes through the recorder's code path.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.event_routing import OMICS_SOURCE, EventRouting
from stacks.components.lambda_factory import FunctionSpec, LambdaFactory
from stacks.components.nag import (
    INLINE_POLICY,
    INLINE_POLICY_REASON,
    acknowledge,
    wildcard_action,
    wildcard_arn,
    wildcard_under,
)

RECONCILER_HANDLER = "reconciler.handler.lambda_handler"
# GetRun / ListRunTasks on run (the sweep and the recorder's terminal enrichment);
# GetBatch / ListRunsInBatch on runBatch. ListRuns authorizes on run/* as well.
RECONCILER_OMICS_RUN_ACTIONS = ("omics:GetRun", "omics:ListRuns", "omics:ListRunTasks")
RECONCILER_OMICS_BATCH_ACTIONS = ("omics:GetBatch", "omics:ListRunsInBatch")
ENV_STALE_MINUTES = "RECONCILE_STALE_MINUTES"
ENV_LIST_RUNS_ABOVE = "RECONCILE_LIST_RUNS_ABOVE"
ENV_FORWARD_ROUTES = "RECONCILE_FORWARD_ROUTES"


class Reconciler(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.ITable,
        key: kms.IKey,
        notifications: AlarmNotifications,
        schedule_expression: str,
        stale_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.function = factory.create(
            self,
            "Reconciler",
            FunctionSpec(
                capability="reconciler",
                handler=RECONCILER_HANDLER,
                description="Heals provenance of runs and batches whose events went missing (scheduled sweep)",
                timeout=cdk.Duration.minutes(5),
                memory_mb=512,
                # One sweep at a time: two concurrent sweeps would ask HealthOmics the same questions.
                reserved_concurrency=1,
                environment={ENV_STALE_MINUTES: str(stale_minutes), ENV_LIST_RUNS_ABOVE: "25"},
            ),
        )
        table.grant_read_write_data(self.function)
        run_arns = stack.format_arn(service="omics", resource="run", resource_name="*")
        batch_arns = stack.format_arn(service="omics", resource="runBatch", resource_name="*")
        self.function.add_to_role_policy(
            iam.PolicyStatement(sid="ReadRuns", actions=list(RECONCILER_OMICS_RUN_ACTIONS), resources=[run_arns])
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadBatches", actions=list(RECONCILER_OMICS_BATCH_ACTIONS), resources=[batch_arns]
            )
        )

        # A failed asynchronous invocation (after Lambda's own retries) lands here instead of vanishing.
        self.dead_letter_queue = sqs.Queue(
            self,
            "ScheduleDeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        # The scheduler's own role, in this construct: it may invoke this one function and nothing else.
        self.scheduler_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="EventBridge Scheduler: invoke the reconciler",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="Reconcile provenance with HealthOmics (stale non-terminal runs and batches)",
            schedule=scheduler.ScheduleExpression.expression(schedule_expression),
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=self.scheduler_role,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"scheduledTime": scheduler.ContextAttribute.scheduled_time}
                ),
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=2,
                max_event_age=cdk.Duration.minutes(30),
            ),
        )

        self.errors_alarm = notifications.notify(
            cloudwatch.Alarm(
                self,
                "SweepErrors",
                alarm_description="reconciler: a sweep failed",
                metric=self.function.metric_errors(period=cdk.Duration.minutes(15), statistic="Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        self.dlq_alarm = notifications.notify(
            cloudwatch.Alarm(
                self,
                "ScheduleDeadLetterQueueNotEmpty",
                alarm_description="reconciler: scheduled invocations could not be delivered",
                metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(5), statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )

        acknowledge(
            self.dead_letter_queue,
            "This queue is itself a dead-letter queue (of the reconciler's schedule target).",
            "AwsSolutions-SQS3",
        )
        acknowledge(
            self.scheduler_role,
            "CDK's grant_invoke covers the reconciler function and its versions/aliases (<function ARN>:*); "
            "the role can invoke nothing else.",
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(self._cfn_function())}.Arn>:*]",
        )
        acknowledge(self.scheduler_role, INLINE_POLICY_REASON, INLINE_POLICY)
        role = self.function.role
        assert role is not None
        acknowledge(
            role,
            "HealthOmics run and batch ids are assigned by the service at run time, so the read-only actions "
            "(GetRun, ListRuns, ListRunTasks on run; GetBatch, ListRunsInBatch on runBatch) are scoped to this "
            "account and region's run/* and runBatch/* resources; no write action is granted.",
            wildcard_arn("omics", "run/*"),
            wildcard_arn("omics", "runBatch/*"),
        )
        acknowledge(
            role,
            "The sweep queries the provenance table's `active` and `unresolved` GSIs, which needs "
            "<table>/index/*; access is limited to this one table (grant_read_write_data).",
            wildcard_under(table, "/index/*"),
        )
        acknowledge(
            role,
            "kms:GenerateDataKey*/ReEncrypt* come from CDK's grant on the table's customer-managed key "
            "and apply to that single key only.",
            wildcard_action("kms:GenerateDataKey*"),
            wildcard_action("kms:ReEncrypt*"),
        )
        acknowledge(
            self.function,
            "The function is invoked by EventBridge Scheduler, whose target has its own dead-letter queue "
            "(ScheduleDeadLetterQueue) and retry policy; a Lambda-level DLQ would duplicate it.",
            "HIPAA.Security-LambdaDLQ",
        )

    def forward_routes_of(self, routing: EventRouting, except_consumers: Sequence[str] = ("recorder",)) -> None:
        """Every other consumer routed aws.omics events gets a healed observation its rule would have
        matched (a lost Run FAILED still reaches the re-runner). Call after every capability is routed."""
        from reconciler.logic import matches  # the runtime's own matcher validates each pattern at synthesis

        from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on the import path)

        stack = cdk.Stack.of(self)
        routes = []
        for rule, consumer in routing.routes:
            if consumer.consumer in except_consumers:
                continue
            cfn_rule = rule.node.default_child
            assert isinstance(cfn_rule, events.CfnRule)
            pattern = stack.resolve(cfn_rule.event_pattern)
            if pattern.get("source") != [OMICS_SOURCE]:
                continue  # e.g. S3 uploads: nothing the reconciler heals
            matches(pattern, {})  # fails synthesis on a pattern operator the runtime matcher cannot evaluate
            routes.append({"queueUrl": consumer.queue.queue_url, "pattern": pattern})
            consumer.queue.grant_send_messages(self.function)
        self.function.add_environment(ENV_FORWARD_ROUTES, stack.to_json_string(routes))

    def _cfn_function(self) -> lambda_.CfnFunction:
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        return cfn
