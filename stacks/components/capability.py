"""What every capability of the autopilot builds the same way, written once.

A capability (recorder, re-runner, launcher, reconciler, right-sizer, pruner, price refresh) is one
construct whose functions come from the LambdaFactory, read and write the provenance table, are fed by
their own queue (QueueConsumer) or a schedule (schedule_invocation), and alarm through the stack's alarm
topic. Subclasses take those stack-wide pieces as one CapabilityContext and state only what differs:
their FunctionSpecs, extra grants, routes and alarms.

Everything is created under the capability itself with the ids the subclass gives, as the components
did before this class existed: construct paths, and so CloudFormation logical ids, do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.event_routing import EventRouting
from stacks.components.lambda_factory import FunctionSpec, LambdaFactory
from stacks.components.nag import acknowledge, wildcard_action, wildcard_under
from stacks.components.scheduled_invocation import ScheduledInvocation, schedule_invocation
from stacks.runtime_contract import METRICS_NAMESPACE


def role_of(function: lambda_.IFunction) -> iam.IRole:
    """The execution role LambdaFactory gave `function` (every factory function has its own)."""
    role = function.role
    assert role is not None, function.node.path
    return role


def service_metric(
    service: str, metric_name: str, *, period: cdk.Duration, statistic: str = "Sum"
) -> cloudwatch.Metric:
    """A metric a function emits through Powertools: our namespace, dimension `service` (the function's
    POWERTOOLS_SERVICE_NAME, i.e. its FunctionSpec.capability)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service},
        period=period,
        statistic=statistic,
    )


@dataclass(frozen=True)
class CapabilityContext:
    """The stack-wide pieces every capability builds with (the stack makes one and hands it to each)."""

    factory: LambdaFactory  # every function
    table: dynamodb.ITable  # the provenance table
    key: kms.IKey  # the stack's customer-managed key: queues, logs, table
    notifications: AlarmNotifications  # the alarm topic
    routing: EventRouting  # aws.omics (and S3) events -> consumer queues


class Capability(Construct):
    """A capability's construct: the context's pieces as attributes, and the helpers that use them."""

    def __init__(self, scope: Construct, construct_id: str, context: CapabilityContext) -> None:
        super().__init__(scope, construct_id)
        self.factory = context.factory
        self.table = context.table
        self.key = context.key
        self.notifications = context.notifications
        self.routing = context.routing

    def table_function(self, construct_id: str, spec: FunctionSpec, *, index_use: str | None) -> lambda_.Function:
        """A factory function (child `construct_id`) with read/write access to the provenance table."""
        function = self.factory.create(self, construct_id, spec)
        self.grant_table(function, index_use=index_use)
        return function

    def grant_table(self, function: lambda_.Function, *, index_use: str | None) -> None:
        """grant_read_write_data on the provenance table, and the cdk-nag findings that grant brings,
        acknowledged on the function's role: <table>/index/* (`index_use` says what the function does
        with the table's GSIs; None: nothing) and the KMS actions CDK grants on the stack's key.

        Every KMS grant of a capability (table, queues, buckets, topic) is on that one key, so this KMS
        acknowledgment covers them all."""
        self.table.grant_read_write_data(function)
        role = role_of(function)
        if index_use:
            index_reason = f"{index_use}: <table>/index/*, this one table only (grant_read_write_data)."
        else:
            index_reason = ("grant_read_write_data on the provenance table includes <table>/index/*; access is "
                            "limited to this one table.")
        acknowledge(role, index_reason, wildcard_under(self.table, "/index/*"))
        acknowledge(
            role,
            "kms:GenerateDataKey*/ReEncrypt* come from CDK's grants on the stack's single customer-managed key "
            "(the table's, and the queues, buckets or topic the function uses) and apply to that key only.",
            wildcard_action("kms:GenerateDataKey*"),
            wildcard_action("kms:ReEncrypt*"),
        )

    def invoke_on_schedule(
        self,
        function: lambda_.Function,
        *,
        expression: str,
        description: str,
        what: str,
        max_event_age: cdk.Duration,
    ) -> ScheduledInvocation:
        """Invoke `function` on `expression` (schedule_invocation, with the stack's key and alarm topic)."""
        return schedule_invocation(
            self,
            function=function,
            expression=expression,
            description=description,
            what=what,
            key=self.key,
            notifications=self.notifications,
            max_event_age=max_event_age,
        )
