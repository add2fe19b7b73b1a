"""The autopilot stack: one construct per concern, composed here."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.components.alarms import AlarmNotifications
from stacks.components.bundling import lambda_code
from stacks.components.encryption import EncryptionKey
from stacks.components.event_routing import EventRouting
from stacks.components.lambda_factory import LambdaFactory
from stacks.components.omics_resources import OmicsResources
from stacks.components.provenance_table import ProvenanceTable
from stacks.components.recorder import ProvenanceRecorder
from stacks.components.storage import Storage
from stacks.config import AutopilotConfig
from stacks.runtime_contract import (
    ENV_ALARM_TOPIC_ARN,
    ENV_OMICS_ROLE_ARN,
    ENV_OMICS_TPS,
    ENV_RUN_CACHE_ID,
    ENV_TABLE,
)

# Template-level metadata: logical ids of what the sandbox builds from the template.
WIRING_METADATA_KEY = "OmicsAutopilot::Wiring"


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
        self.storage = Storage(self, "Storage", key=key)
        self.provenance = ProvenanceTable(self, "ProvenanceTable", key=key)
        self.omics = OmicsResources(self, "Omics", config=config, storage=self.storage, key=key)
        self.notifications = AlarmNotifications(self, "Alarms", key=key, email=config.alarm_email)
        self.routing = EventRouting(
            self, "EventRouting", archive_retention_days=config.event_archive_retention_days
        )

        factory = LambdaFactory(
            code=lambda_code(bundle_lambdas),
            key=key,
            log_retention=config.log_retention,
            common_environment={
                ENV_TABLE: self.provenance.table.table_name,
                ENV_OMICS_TPS: f"{config.omics_max_tps:g}",
                ENV_RUN_CACHE_ID: self.omics.run_cache_id,
                ENV_OMICS_ROLE_ARN: self.omics.service_role_arn,
                ENV_ALARM_TOPIC_ARN: self.notifications.topic.topic_arn,
            },
        )
        self.recorder = ProvenanceRecorder(
            self,
            "Recorder",
            factory=factory,
            table=self.provenance.table,
            routing=self.routing,
            key=key,
            notifications=self.notifications,
            reserved_concurrency=config.recorder_reserved_concurrency,
        )

        cdk.CfnOutput(self, "ProvenanceTableName", value=self.provenance.table.table_name)
        cdk.CfnOutput(self, "SubmissionsBucketName", value=self.storage.submissions.bucket_name)
        cdk.CfnOutput(self, "RunOutputsBucketName", value=self.storage.outputs.bucket_name)
        cdk.CfnOutput(self, "RunCacheId", value=self.omics.run_cache_id)
        cdk.CfnOutput(self, "OmicsServiceRoleArn", value=self.omics.service_role_arn)
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.notifications.topic.topic_arn)
        cdk.CfnOutput(self, "ProvenanceQueueUrl", value=self.recorder.consumer.queue.queue_url)
        cdk.CfnOutput(
            self, "ProvenanceDeadLetterQueueUrl", value=self.recorder.consumer.dead_letter_queue.queue_url
        )
