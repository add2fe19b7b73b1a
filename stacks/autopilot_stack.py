"""The autopilot stack: one construct per concern, composed here."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct, IConstruct

from stacks.components.alarms import AlarmNotifications
from stacks.components.bundling import lambda_code
from stacks.components.capability import CapabilityContext
from stacks.components.dashboard import OperationsDashboard
from stacks.components.encryption import EncryptionKey
from stacks.components.event_routing import EventRouting
from stacks.components.lambda_factory import LambdaFactory
from stacks.components.launcher import SheetLauncher
from stacks.components.omics_alarms import omics_call_alarms
from stacks.components.omics_budgets import OmicsBudgets
from stacks.components.omics_resources import OmicsResources
from stacks.components.pricing import PriceRefresh
from stacks.components.provenance_table import ProvenanceTable
from stacks.components.pruner import CachePruner
from stacks.components.queue_consumer import QueueConsumer
from stacks.components.reconciler import Reconciler
from stacks.components.recorder import ProvenanceRecorder
from stacks.components.rerunner import Rerunner
from stacks.components.rightsizing import Rightsizing
from stacks.components.storage import Storage
from stacks.config import AutopilotConfig
from stacks.runtime_contract import (
    ENV_ALARM_TOPIC_ARN,
    ENV_OMICS_ROLE_ARN,
    ENV_RUN_CACHE_ID,
    ENV_STACK_ID,
    ENV_TABLE,
    ENV_TAG_SAMPLE,
)

# Template-level metadata: logical ids of what the sandbox builds from the template.
WIRING_METADATA_KEY = "OmicsAutopilot::Wiring"
WIRING_VERSION = 1


class AutopilotStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutopilotConfig,
        bundle_lambdas: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        cdk.Tags.of(self).add("application", config.name_prefix)

        self.encryption = EncryptionKey(self, "Encryption", alias_prefix=config.name_prefix)
        key = self.encryption.key
        self.storage = Storage(self, "Storage", key=key, undo_retention_days=config.prune_undo_retention_days)
        self.provenance = ProvenanceTable(self, "ProvenanceTable", key=key)
        self.omics = OmicsResources(self, "Omics", config=config, storage=self.storage, key=key)
        self.notifications = AlarmNotifications(self, "Alarms", key=key, email=config.alarm_email)
        self.routing = EventRouting(
            self, "EventRouting", key=key, archive_retention_days=config.event_archive_retention_days
        )

        factory = LambdaFactory(
            code=lambda_code(bundle_lambdas),
            key=key,
            log_retention=config.log_retention,
            common_environment={
                ENV_TABLE: self.provenance.table.table_name,
                ENV_RUN_CACHE_ID: self.omics.run_cache_id,
                ENV_OMICS_ROLE_ARN: self.omics.service_role_arn,
                ENV_ALARM_TOPIC_ARN: self.notifications.topic.topic_arn,
                ENV_STACK_ID: cdk.Aws.STACK_NAME,  # as deployed: tags what this stack starts (autopilot:stack)
                ENV_TAG_SAMPLE: "true" if config.cost_tag_sample else "false",  # autopilot:sample on runs
            },
            reserve_concurrency=config.reserved_concurrency,
        )
        # What every capability builds with; each one below states only what differs.
        context = CapabilityContext(factory=factory, table=self.provenance.table, key=key,
                                    notifications=self.notifications, routing=self.routing)
        self.recorder = ProvenanceRecorder(self, "Recorder", context, max_concurrency=config.recorder_max_concurrency)

        self.rerunner = Rerunner(
            self,
            "Rerunner",
            context,
            settings_bucket=self.storage.submissions,
            omics_service_role_arn=self.omics.service_role_arn,
            policy_json=config.rerun_policy_json,
            max_concurrency=config.rerunner_max_concurrency,
            run_cache_id=self.omics.run_cache_id,
            rerun_foreign_runs=config.rerun_foreign_runs,
        )

        self.reconciler = Reconciler(
            self, "Reconciler", context,
            schedule_expression=config.reconcile_schedule, stale_minutes=config.reconcile_stale_minutes,
        )

        self.launcher = SheetLauncher(
            self,
            "Launcher",
            context,
            submissions=self.storage.submissions,
            default_output_uri=self.storage.outputs.s3_url_for_object("runs/"),
            omics_service_role_arn=self.omics.service_role_arn,
            config=config,
            outputs=self.storage.outputs,
            run_cache_bucket=self.storage.run_cache,
            run_cache_id=self.omics.run_cache_id,
        )

        self.rightsizing = Rightsizing(
            self, "Rightsizing", context,
            headroom=config.rightsizing_headroom, manifest_attempts=config.rightsizing_manifest_attempts,
        )

        cdk.CfnOutput(self, "ProvenanceTableName", value=self.provenance.table.table_name)
        cdk.CfnOutput(self, "SubmissionsBucketName", value=self.storage.submissions.bucket_name)
        cdk.CfnOutput(self, "RunOutputsBucketName", value=self.storage.outputs.bucket_name)
        cdk.CfnOutput(self, "RunCacheId", value=self.omics.run_cache_id)
        cdk.CfnOutput(self, "OmicsServiceRoleArn", value=self.omics.service_role_arn)
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.notifications.topic.topic_arn)
        cdk.CfnOutput(self, "LauncherFunctionName", value=self.launcher.function.function_name)
        cdk.CfnOutput(self, "RerunnerFunctionName", value=self.rerunner.function.function_name)
        cdk.CfnOutput(self, "ProvenanceQueueUrl", value=self.recorder.consumer.queue.queue_url)
        cdk.CfnOutput(
            self, "ProvenanceDeadLetterQueueUrl", value=self.recorder.consumer.dead_letter_queue.queue_url
        )

        self.pruner = CachePruner(
            self,
            "Pruner",
            context,
            cache_bucket=self.storage.run_cache,
            reports_bucket=self.storage.outputs,
            config=config,
        )
        cdk.CfnOutput(self, "PrunerFunctionName", value=self.pruner.planner.function_name)

        self.prices = PriceRefresh(self, "Prices", context, config=config)

        # Keep last (with the dashboard): healed observations reach every consumer routed above.
        self.reconciler.forward_routes_of(self.routing)
        # Keep last: graphs every function and dead-letter queue defined above.
        self.dashboard = self._operations_dashboard()
        # Keep last too: alarms on the HealthOmics calls of every function granted them above.
        self.omics_call_alarms = omics_call_alarms(self, self.notifications, config.omics_quotas)

        # Both at synthesis, by aspects, so every capability added to this stack is counted. The aspects sit on a
        # construct with no children: an aspect visits every construct under the one it is added to, and each
        # visit is a call from Node into Python (on the stack: 2 x 321 of a synthesis's 2,700 jsii round trips).
        at_synthesis = Construct(self, "AtSynthesis")
        # Each function's share of the HealthOmics quotas, from every grant and invoker.
        cdk.Aspects.of(at_synthesis).add(OmicsBudgets(self, config.omics_quotas), priority=cdk.AspectPriority.MUTATING)
        # The index of what the sandbox builds from the template.
        cdk.Aspects.of(at_synthesis).add(_WriteWiring(self))

    def _operations_dashboard(self) -> OperationsDashboard:
        functions = [(f.node.scope.node.id if f.node.scope else f.node.id, f)
                     for f in self.node.find_all() if isinstance(f, lambda_.Function)]
        queues = [(f"{c.consumer} DLQ", c.dead_letter_queue) for c in self.queue_consumers()]
        queues.append(("reconciler schedule DLQ", self.reconciler.scheduled.dead_letter_queue))
        queues.append(("pruner schedule DLQ", self.pruner.scheduled.dead_letter_queue))
        queues.append(("price refresh schedule DLQ", self.prices.scheduled.dead_letter_queue))
        return OperationsDashboard(self, "Operations", functions=functions, dead_letter_queues=queues,
                                   price_refresh=self.prices)

    def _logical_id(self, construct: IConstruct) -> str:
        cfn = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        assert isinstance(cfn, cdk.CfnElement), construct.node.path
        return self.get_logical_id(cfn)

    @staticmethod
    def _handler(function: lambda_.Function) -> str:
        cfn = function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        return str(cfn.handler)

    def _wiring(self) -> dict[str, Any]:
        """Where the sandbox finds things: logical ids by role, plus each consumer's ESM settings.

        The same facts are on the resources themselves (OmicsAutopilot::* resource metadata); this
        index just saves a search.
        """
        rules_by_consumer: dict[str, list[str]] = {}
        for rule, consumer in self.routing.routes:
            rules_by_consumer.setdefault(consumer.consumer, []).append(self._logical_id(rule))
        consumers = {}
        for consumer in self.queue_consumers():
            name = consumer.consumer
            window = consumer.max_batching_window
            consumers[name] = {
                "function": self._logical_id(consumer.function),
                "handler": self._handler(consumer.function),
                "queue": self._logical_id(consumer.queue),
                "deadLetterQueue": self._logical_id(consumer.dead_letter_queue),
                "eventSourceMapping": self._logical_id(consumer.event_source_mapping),
                "rules": rules_by_consumer.get(name, []),
                "batchSize": consumer.batch_size,
                "maximumBatchingWindowInSeconds": int(window.to_seconds()) if window else 0,
            }
        return {
            "version": WIRING_VERSION,
            "table": self._logical_id(self.provenance.table),
            "archive": self._logical_id(self.routing.archive),
            "alarmTopic": self._logical_id(self.notifications.topic),
            "key": self._logical_id(self.encryption.key),
            "buckets": {
                "submissions": self._logical_id(self.storage.submissions),
                "outputs": self._logical_id(self.storage.outputs),
                "runCache": self._logical_id(self.storage.run_cache),
                "accessLogs": self._logical_id(self.storage.access_logs),
            },
            "runCache": self._logical_id(self.omics.run_cache) if self.omics.run_cache else None,
            "serviceRole": self._logical_id(self.omics.service_role) if self.omics.service_role else None,
            "consumers": consumers,
            "schedules": sorted(
                self._logical_id(node)
                for node in self.node.find_all()
                if isinstance(node, scheduler.CfnSchedule)
            ),
        }

    def queue_consumers(self) -> list[QueueConsumer]:
        """Every SQS-fed capability in the stack, in construction order."""
        return [node for node in self.node.find_all() if isinstance(node, QueueConsumer)]


@jsii.implements(cdk.IAspect)
class _WriteWiring:
    """Writes the stack's wiring into its template's metadata, whatever construct it visits."""

    def __init__(self, stack: AutopilotStack) -> None:
        self._stack = stack

    def visit(self, node: IConstruct) -> None:
        self._stack.template_options.metadata = {WIRING_METADATA_KEY: self._stack._wiring()}
