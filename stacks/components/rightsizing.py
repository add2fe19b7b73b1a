"""Right-sizing: Run Status Change COMPLETED or FAILED -> right-sizing queue -> manifest consumer -> provenance
table (a FAILED run's manifest is read for its DYNAMIC storage use alone, which prices it).

Off the recorder's hot path: a run of thousands of tasks is read from its manifest stream in CloudWatch
Logs (`/aws/omics/WorkflowLog`, `manifest/run/<run id>/<run uuid>`, written by HealthOmics) by its own
function, which makes no HealthOmics call.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of
from stacks.components.event_routing import RUN_STATUS_CHANGE
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import acknowledge, wildcard_arn
from stacks.components.queue_consumer import QueueConsumer
from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on the import path)

# isort: off
from rightsizer.settings import ENV_HEADROOM, ENV_MANIFEST_ATTEMPTS, SIZED_STATUSES
from shared.cost.rightsizing import LOG_GROUP
# isort: on

RIGHTSIZER_HANDLER = "rightsizer.handler.lambda_handler"
# The guide's log stream form (`manifest/run/<id>/<uuid>`); the IAM reference's log-stream ARN is
# arn:...:logs:<region>:<account>:log-group:<group>:log-stream:<stream>.
MANIFEST_STREAMS = f"log-group:{LOG_GROUP}:log-stream:manifest/run/*"
MAX_CONCURRENCY = 2  # GetLogEvents is a per-account quota shared with every other reader


class Rightsizing(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        headroom: float,
        manifest_attempts: int,
    ) -> None:
        super().__init__(scope, construct_id, context)
        stack = cdk.Stack.of(self)
        self.function = self.table_function(
            "Rightsizer",
            FunctionSpec(
                capability="rightsizer",
                handler=RIGHTSIZER_HANDLER,
                description="Right-sizes completed HealthOmics runs from their run manifest in CloudWatch Logs",
                timeout=cdk.Duration.minutes(2),
                memory_mb=512,
                reserved_concurrency=MAX_CONCURRENCY,
                environment={ENV_HEADROOM: str(headroom), ENV_MANIFEST_ATTEMPTS: str(manifest_attempts)},
            ),
            index_use="Right-sizing items are indexed on the provenance table's batch GSI",
        )
        self.manifest_streams_arn = stack.format_arn(
            service="logs", resource=MANIFEST_STREAMS.split(":", 1)[0],
            resource_name=MANIFEST_STREAMS.split(":", 1)[1], arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.function.add_to_role_policy(iam.PolicyStatement(
            sid="ReadRunManifests", actions=["logs:GetLogEvents"], resources=[self.manifest_streams_arn]))

        self.consumer = QueueConsumer(
            self,
            "Rightsizing",
            consumer="rightsizer",
            function=self.function,
            key=self.key,
            notifications=self.notifications,
            batch_size=5,
            max_concurrency=MAX_CONCURRENCY,
            # A missing manifest is retried `manifest_attempts` times and then recorded (MANIFEST_MISSING)
            # before SQS would move the message to the DLQ.
            max_receive_count=manifest_attempts + 2,
            max_message_age=cdk.Duration.hours(3),
        )
        self.rule = self.routing.route(
            "RightsizingRule",
            detail_types=[RUN_STATUS_CHANGE],
            detail={"status": list(SIZED_STATUSES)},
            consumer=self.consumer,
            description="HealthOmics runs COMPLETED or FAILED -> right-sizing queue (run manifest)",
        )
        acknowledge(
            role_of(self.function),
            "HealthOmics writes each run's manifest to its own stream manifest/run/<run id>/<run uuid> in "
            "/aws/omics/WorkflowLog (the guide); the ids are known only at run time, so GetLogEvents is scoped "
            "to that group's manifest/run/* streams and nothing else.",
            wildcard_arn("logs", MANIFEST_STREAMS),
        )
