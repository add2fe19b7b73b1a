"""The reconciler: a scheduled sweep that heals provenance when HealthOmics events went missing.

EventBridge Scheduler (rate from config `reconcileSchedule`) --invoke--> reconciler Lambda
  reads the table's `active` index, asks HealthOmics (GetRun / ListRuns / GetBatch, plus the recorder's
  enrichment calls GetRun / ListRunTasks / ListRunsInBatch), writes through the recorder's code path.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of
from stacks.components.event_routing import OMICS_SOURCE, EventRouting
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import acknowledge, wildcard_arn
from stacks.components.permissions import NO_RESOURCE_TYPE, grant_omics

RECONCILER_HANDLER = "reconciler.handler.lambda_handler"
# GetRun / ListRunTasks on run (the sweep and the recorder's terminal enrichment);
# GetBatch / ListRunsInBatch on runBatch; ListRuns (more than 25 stale runs) supports no resource-level
# permission, so it is granted on "*".
RECONCILER_OMICS_ACTIONS = {
    "run": ("omics:GetRun", "omics:ListRunTasks"),
    "runBatch": ("omics:GetBatch", "omics:ListRunsInBatch"),
    NO_RESOURCE_TYPE: ("omics:ListRuns",),
}
ENV_STALE_MINUTES = "RECONCILE_STALE_MINUTES"
ENV_LIST_RUNS_ABOVE = "RECONCILE_LIST_RUNS_ABOVE"
ENV_FORWARD_ROUTES = "RECONCILE_FORWARD_ROUTES"


class Reconciler(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        schedule_expression: str,
        stale_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id, context)
        self.function = self.table_function(
            "Reconciler",
            FunctionSpec(
                capability="reconciler",
                handler=RECONCILER_HANDLER,
                description="Heals provenance of runs and batches whose events went missing (scheduled sweep)",
                timeout=cdk.Duration.minutes(5),
                memory_mb=512,
                # One sweep per schedule tick; reserved (with reservedConcurrency) so a duplicated tick
                # cannot double the HealthOmics calls. Heals are claimed, so an overlap is only extra reads.
                reserved_concurrency=1,
                environment={ENV_STALE_MINUTES: str(stale_minutes), ENV_LIST_RUNS_ABOVE: "25"},
            ),
            index_use="The sweep queries the provenance table's `active` and `unresolved` GSIs",
        )
        grant_omics(self.function, RECONCILER_OMICS_ACTIONS)

        self.scheduled = self.invoke_on_schedule(
            self.function,
            expression=schedule_expression,
            description="Reconcile provenance with HealthOmics (stale non-terminal runs and batches)",
            what="reconciler",
            max_event_age=cdk.Duration.minutes(30),
        )

        acknowledge(
            role_of(self.function),
            "HealthOmics run and batch ids are assigned by the service at run time, so the read-only actions "
            "(GetRun, ListRunTasks on run; GetBatch, ListRunsInBatch on runBatch) are scoped to this "
            "account and region's run/* and runBatch/* resources; no write action is granted. ListRuns "
            "supports no resource-level permission (IAM Service Authorization Reference), so it is granted "
            "on * (besides X-Ray's resource-less actions).",
            wildcard_arn("omics", "run/*"),
            wildcard_arn("omics", "runBatch/*"),
            "AwsSolutions-IAM5[Resource::*]",
        )

    def forward_routes_of(self, routing: EventRouting, except_consumers: Sequence[str] = ("recorder",)) -> None:
        """Every other consumer routed aws.omics events gets a healed observation its rule would have
        matched (a lost Run FAILED still reaches the re-runner). Call after every capability is routed."""
        from reconciler.logic import matches  # the runtime's own matcher validates each pattern at synthesis

        from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on the import path)

        stack = cdk.Stack.of(self)
        routes = []
        for rule, consumer in self.routing.routes:
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
