"""The launcher: sample sheets -> HealthOmics batches.

S3 Object Created (submissions bucket, key prefix submissions/, via EventBridge) and aws.omics
RunBatch Status Change FAILED -> launch queue -> launcher function -> StartRunBatch. The CLI invokes the
same function directly ({"sheet": ...}).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of
from stacks.components.event_routing import RULE_METADATA_KEY, RUNBATCH_STATUS_CHANGE, consumer_queue_target
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import acknowledge, wildcard_action, wildcard_arn, wildcard_under
from stacks.components.permissions import grant_omics, grant_pass_role
from stacks.components.queue_consumer import QueueConsumer
from stacks.config import AutopilotConfig
from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on sys.path)

# isort: off
# The names come from the code itself (lambdas/launcher/config.py).
from launcher.config import (
    DEFAULT_SETTINGS_PREFIX,
    DEFAULT_SUBMISSIONS_PREFIX,
    ENV_CACHE_BEHAVIOR,
    ENV_LOG_LEVEL,
    ENV_OUTPUT_URI,
    ENV_RETENTION_MODE,
    ENV_RUN_CACHE_BUCKETS,
    ENV_RUN_GROUP_ID,
    ENV_SETTINGS_PREFIX,
    ENV_SHEET_ALLOW_DYNAMIC_STORAGE,
    ENV_SHEET_MAX_BYTES,
    ENV_SHEET_MAX_STORAGE_GIB,
    ENV_SHEET_OUTPUT_PREFIXES,
    ENV_SHEET_RUN_GROUP_IDS,
    ENV_SHEET_WORKFLOWS,
    ENV_STORAGE_CAPACITY,
    ENV_STORAGE_TYPE,
    ENV_SUBMISSIONS_BUCKET,
    ENV_SUBMISSIONS_PREFIX,
    ENV_WORKFLOW_ID,
    ENV_WORKFLOW_VERSION,
    ERRORS_SUFFIX,
)
# isort: on

LAUNCHER_HANDLER = "launcher.handler.lambda_handler"
S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"
# What the launcher calls, by the resource type each action authorizes on. StartRunBatch needs
# StartRunBatch on the batch AND StartRun on the runs, workflow and run group it creates runs with
# (the guide's dual authorization) and the run cache every run attaches (the stack's: granted by its id);
# TagResource because batches and runs are tagged at creation; GetBatch only when a FAILED event carries no
# failure reason; GetWorkflow(Version) for the default storage type of a sheet that names none (both authorize
# on workflow/..., a version's ARN being workflow/<id>/version/<name>).
LAUNCHER_OMICS_ACTIONS = {
    "runBatch": ("omics:StartRunBatch", "omics:GetBatch", "omics:TagResource"),
    "run": ("omics:StartRun", "omics:TagResource"),
    "workflow": ("omics:StartRun", "omics:GetWorkflow", "omics:GetWorkflowVersion"),
    "runGroup": ("omics:StartRun",),
    "runCache": ("omics:StartRun",),
}


class SheetLauncher(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        submissions: s3.Bucket,
        default_output_uri: str,
        omics_service_role_arn: str,
        config: AutopilotConfig,
        outputs: s3.IBucket | None = None,
        run_cache_id: str,
        run_cache_bucket: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id, context)
        # The deployer's allow-lists (launcher/policy.py). Outputs default to the stack's outputs bucket;
        # run-cache buckets (the stack's and pruneCacheBuckets) are refused as output locations at run time.
        output_prefixes = config.sheet_output_prefixes or ([f"s3://{outputs.bucket_name}/"] if outputs else [])
        cache_buckets = [
            *([run_cache_bucket.bucket_name] if run_cache_bucket else []), *config.prune_cache_bucket_names
        ]
        environment = {
            ENV_SUBMISSIONS_BUCKET: submissions.bucket_name,
            ENV_SUBMISSIONS_PREFIX: DEFAULT_SUBMISSIONS_PREFIX,
            ENV_SETTINGS_PREFIX: DEFAULT_SETTINGS_PREFIX,
            ENV_OUTPUT_URI: config.run_output_uri or default_output_uri,
            ENV_CACHE_BEHAVIOR: config.run_cache_behavior,
            ENV_SHEET_OUTPUT_PREFIXES: cdk.Fn.join(",", output_prefixes) if output_prefixes else "",
            ENV_RUN_CACHE_BUCKETS: cdk.Fn.join(",", cache_buckets) if cache_buckets else "",
            ENV_SHEET_MAX_STORAGE_GIB: str(config.sheet_max_storage_gib),
            ENV_SHEET_ALLOW_DYNAMIC_STORAGE: "true" if config.sheet_allow_dynamic_storage else "false",
            ENV_SHEET_MAX_BYTES: str(config.sheet_max_bytes),
        }
        optional = {
            ENV_WORKFLOW_ID: config.workflow_id,
            ENV_WORKFLOW_VERSION: config.workflow_version_name,
            ENV_STORAGE_TYPE: config.run_storage_type,
            ENV_STORAGE_CAPACITY: None if config.run_storage_capacity is None else str(config.run_storage_capacity),
            ENV_RUN_GROUP_ID: config.run_group_id,
            ENV_RETENTION_MODE: config.run_retention_mode,
            ENV_LOG_LEVEL: config.run_log_level,
            ENV_SHEET_WORKFLOWS: ",".join(config.sheet_workflows) or None,
            ENV_SHEET_RUN_GROUP_IDS: ",".join(config.sheet_run_group_ids) or None,
        }
        environment.update({name: value for name, value in optional.items() if value is not None})
        environment = {name: value for name, value in environment.items() if value != ""}
        self.function = self.table_function(
            "Launcher",
            FunctionSpec(
                capability="launcher",
                handler=LAUNCHER_HANDLER,
                description="Turns sample sheets into HealthOmics batch runs (StartRunBatch)",
                # A 100,000-row sheet takes seconds; the budget covers a throttled StartRunBatch's retries.
                timeout=cdk.Duration.minutes(5),
                memory_mb=1024,
                reserved_concurrency=config.launcher_max_concurrency,
                environment=environment,
            ),
            index_use="The launcher reads the provenance table's GSIs for the batch view",
        )
        self.notifications.topic.grant_publish(self.function)

        self.consumer = QueueConsumer(
            self,
            "Launch",
            consumer="launcher",
            function=self.function,
            key=self.key,
            notifications=self.notifications,
            batch_size=1,  # one sheet per invocation: each gets the whole time and memory budget
            max_concurrency=config.launcher_max_concurrency,
        )

        # S3 -> EventBridge for the submissions bucket (native property: no custom resource).
        cfn_bucket = submissions.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        self.sheet_rule = events.Rule(
            self,
            "SheetUploadedRule",
            event_bus=self.routing.bus,
            description=f"Sample sheets uploaded under {DEFAULT_SUBMISSIONS_PREFIX} -> launch queue "
            f"(the launcher skips its own *{ERRORS_SUFFIX} reports)",
            event_pattern=events.EventPattern(
                source=[S3_SOURCE],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [submissions.bucket_name]},
                    "object": {"key": [{"prefix": DEFAULT_SUBMISSIONS_PREFIX}]},
                },
            ),
        )
        self.sheet_rule.add_target(consumer_queue_target(self.consumer))
        cfn_rule = self.sheet_rule.node.default_child
        assert isinstance(cfn_rule, events.CfnRule)
        cfn_rule.add_metadata(RULE_METADATA_KEY, {"consumer": "launcher", "route": "SheetUploadedRule"})
        self.routing.routes.append((self.sheet_rule, self.consumer))

        # A batch that fails as a whole is resubmitted (transient) or recorded and alarmed.
        self.batch_failed_rule = self.routing.route(
            "LaunchBatchFailedRule",
            detail_types=[RUNBATCH_STATUS_CHANGE],
            detail={"status": ["FAILED"]},
            consumer=self.consumer,
            description="HealthOmics batches that failed as a whole -> launch queue (resubmit or alarm)",
        )

        # S3: read sheets, write their error reports beside them, write settings files once.
        submissions.grant_read(self.function, f"{DEFAULT_SUBMISSIONS_PREFIX}*")
        submissions.grant_put(self.function, f"{DEFAULT_SUBMISSIONS_PREFIX}*{ERRORS_SUFFIX}")
        submissions.grant_read(self.function, f"{DEFAULT_SETTINGS_PREFIX}*")  # HEAD before writing
        submissions.grant_put(self.function, f"{DEFAULT_SETTINGS_PREFIX}*")

        # Runs attach the stack's run cache only (policy.cache_problem refuses any other; a resubmission sends
        # the recorded request): StartRun on that cache, not on every cache of the account. Under
        # rerunForeignRuns a re-runner follow-up keeps a foreign batch's own cache, and the launcher resubmits a
        # follow-up that failed as a whole: then any cache of the account, as the re-runner has.
        cache_name = "*" if config.rerun_foreign_runs else run_cache_id
        grant_omics(self.function, LAUNCHER_OMICS_ACTIONS, names={"runCache": cache_name})
        grant_pass_role(self.function, omics_service_role_arn, "omics.amazonaws.com", "PassOmicsServiceRole")

        role = role_of(self.function)
        acknowledge(
            role,
            "Batch and run ids are created by StartRunBatch itself and the workflow / run group come from "
            "each sheet, so HealthOmics actions are scoped to this account and region's runBatch/*, run/*, "
            "workflow/* and runGroup/* (the guide's policy for StartRunBatch's dual authorization), plus "
            "GetBatch and tag-on-create on the same resources; the run cache is the stack's own, by its id, or "
            "under rerunForeignRuns any (a follow-up of a foreign batch keeps its cache and may be resubmitted).",
            *(wildcard_arn("omics", f"{t}/*") for t in LAUNCHER_OMICS_ACTIONS
              if t != "runCache" or config.rerun_foreign_runs),
        )
        acknowledge(
            role,
            "Sheets are read under submissions/ (keys chosen by submitters), their error reports written "
            "beside them (submissions/*.errors.json), and content-addressed settings files written and "
            "checked under batch-settings/ only.",
            wildcard_under(submissions, f"/{DEFAULT_SUBMISSIONS_PREFIX}*"),
            wildcard_under(submissions, f"/{DEFAULT_SUBMISSIONS_PREFIX}*{ERRORS_SUFFIX}"),
            wildcard_under(submissions, f"/{DEFAULT_SETTINGS_PREFIX}*"),
            wildcard_action("s3:GetObject*"),
            wildcard_action("s3:GetBucket*"),
            wildcard_action("s3:List*"),
            wildcard_action("s3:Abort*"),
        )
