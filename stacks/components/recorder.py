"""The provenance recorder: Run/Task/RunBatch status changes -> provenance queue -> recorder -> table."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of
from stacks.components.event_routing import (
    RUN_STATUS_CHANGE,
    RUNBATCH_STATUS_CHANGE,
    TASK_STATUS_CHANGE,
)
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import acknowledge, wildcard_arn
from stacks.components.permissions import grant_omics
from stacks.components.queue_consumer import QueueConsumer
from stacks.runtime_contract import ENV_CONTINUATION_QUEUE_URL

RECORDER_HANDLER = "recorder.handler.lambda_handler"
# The only HealthOmics actions the recorder calls, and the resource type each one authorizes on.
RECORDER_OMICS_RUN_ACTIONS = ("omics:GetRun", "omics:ListRunTasks")
RECORDER_OMICS_BATCH_ACTIONS = ("omics:ListRunsInBatch",)


class ProvenanceRecorder(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id, context)
        self.function = self.table_function(
            "Recorder",
            FunctionSpec(
                capability="recorder",
                handler=RECORDER_HANDLER,
                description="Records HealthOmics run, task and batch status changes as provenance",
                timeout=cdk.Duration.seconds(60),
                memory_mb=512,
                reserved_concurrency=max_concurrency,
            ),
            index_use="The recorder queries the provenance table's GSIs (lineage, batch, sample, unresolved, active)",
        )
        grant_omics(self.function, {"run": RECORDER_OMICS_RUN_ACTIONS, "runBatch": RECORDER_OMICS_BATCH_ACTIONS})

        self.consumer = QueueConsumer(
            self,
            "Provenance",
            consumer="recorder",
            function=self.function,
            key=self.key,
            notifications=self.notifications,
            batch_size=100,
            max_batching_window=cdk.Duration.seconds(5),
            # The mapping bounds the recorder's concurrency (and so its HealthOmics call rate); with
            # reservedConcurrency the same number is reserved, never fewer: excess batches would be
            # throttled and burn receive counts towards the DLQ.
            max_concurrency=max_concurrency,
        )
        # Continuations: a page loop (a huge batch's members, a run's thousands of tasks) that stops for time saves
        # its cursor and sends its event again to this queue, as a new message, so progress never counts towards
        # the DLQ. SendMessage on this queue alone (its key's data-key grant: the KMS-encrypted queue needs it).
        queue = self.consumer.queue
        self.function.add_environment(ENV_CONTINUATION_QUEUE_URL, queue.queue_url)
        queue.grant(self.function, "sqs:SendMessage")
        self.key.grant(self.function, "kms:GenerateDataKey")
        self.rule = self.routing.route(
            "ProvenanceRule",
            detail_types=[RUN_STATUS_CHANGE, TASK_STATUS_CHANGE, RUNBATCH_STATUS_CHANGE],
            consumer=self.consumer,
            description="HealthOmics run, task and batch status changes -> provenance recorder queue",
        )
        acknowledge(
            role_of(self.function),
            "HealthOmics run and batch ids are assigned by the service at run time, so the three read "
            "actions (GetRun, ListRunTasks on run; ListRunsInBatch on runBatch) are scoped to this "
            "account and region's run/* and runBatch/* resources; no write action is granted.",
            wildcard_arn("omics", "run/*"),
            wildcard_arn("omics", "runBatch/*"),
        )
