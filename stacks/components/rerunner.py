"""The re-runner: Run FAILED / RunBatch PROCESSED -> re-run queue -> re-runner -> StartRun / StartRunBatch.

Also: a role EventBridge Scheduler assumes to bring delayed re-runs back to the queue (one-time `at(...)`
schedules named `autopilot-rerun-*` in the default group), and an alarm when the brake pauses a workflow.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of, service_metric
from stacks.components.event_routing import RUN_STATUS_CHANGE, RUNBATCH_STATUS_CHANGE
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import (
    INLINE_POLICY,
    INLINE_POLICY_REASON,
    acknowledge,
    wildcard_action,
    wildcard_arn,
    wildcard_under,
)
from stacks.components.permissions import NO_RESOURCE_TYPE, grant_omics, grant_pass_role
from stacks.components.queue_consumer import QueueConsumer

# isort: off
# The runtime contract (imported above) puts lambdas/ on sys.path: the names come from the code itself.
from rerunner.settings import (
    ENV_RERUN_POLICY,
    ENV_RERUN_QUEUE_ARN,
    ENV_RERUN_QUEUE_URL,
    ENV_SCHEDULE_GROUP,
    ENV_DEAD_LETTER_ARN,
    ENV_FOREIGN_RUNS,
    ENV_SCHEDULER_ROLE_ARN,
    ENV_SETTINGS_BUCKET,
)
from launcher.config import DEFAULT_SETTINGS_PREFIX as LAUNCHER_SETTINGS_PREFIX
# isort: on

RERUNNER_HANDLER = "rerunner.handler.lambda_handler"
SCHEDULE_GROUP = "default"
SCHEDULE_NAME_PREFIX = "autopilot-rerun-"
SETTINGS_PREFIX = "reruns/"
# HealthOmics actions the re-runner calls, by the resource type each one authorizes on.
RERUNNER_OMICS_ACTIONS = {
    # ListRuns(batchId=...) supports no resource-level permission: granted on "*".
    NO_RESOURCE_TYPE: ("omics:ListRuns",),
    "run": ("omics:GetRun", "omics:StartRun", "omics:TagResource"),
    "runBatch": ("omics:GetBatch", "omics:ListRunsInBatch", "omics:StartRunBatch", "omics:TagResource"),
    "workflow": ("omics:StartRun",),
    "runGroup": ("omics:StartRun",),
    "runCache": ("omics:StartRun",),
}
BRAKE_METRIC = "RerunBrakeEngaged"


class Rerunner(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        settings_bucket: s3.IBucket,
        omics_service_role_arn: str,
        policy_json: str,
        max_concurrency: int,
        run_cache_id: str,
        rerun_foreign_runs: bool = False,
    ) -> None:
        super().__init__(scope, construct_id, context)
        stack = cdk.Stack.of(self)
        self.function = self.table_function(
            "Rerunner",
            FunctionSpec(
                capability="rerunner",
                handler=RERUNNER_HANDLER,
                description="Re-runs failed HealthOmics runs from the run cache, by failure reason",
                timeout=cdk.Duration.minutes(5),
                memory_mb=1024,
                reserved_concurrency=max_concurrency,
                environment={
                    ENV_RERUN_POLICY: policy_json,
                    ENV_SCHEDULE_GROUP: SCHEDULE_GROUP,
                    ENV_SETTINGS_BUCKET: settings_bucket.bucket_name,
                    # Off: only runs and batches this stack started are re-run (docs/RERUN_POLICY.md).
                    ENV_FOREIGN_RUNS: "true" if rerun_foreign_runs else "false",
                },
            ),
            index_use="The re-runner queries the provenance table's GSIs (lineage chain, batch view)",
        )

        self.consumer = QueueConsumer(
            self,
            "Rerun",
            consumer="rerunner",
            function=self.function,
            key=self.key,
            notifications=self.notifications,
            batch_size=5,
            # StartRun's default quota is 1 TPS per account (the guide's quota table): two pollers at most.
            max_concurrency=max_concurrency,
            # A re-run's delay can be up to a week (EventBridge Scheduler); the queue only holds work
            # that is due (SQS delays are at most 15 minutes), so the default retention is enough.
            max_message_age=cdk.Duration.hours(2),
        )
        queue = self.consumer.queue
        self.function.add_environment(ENV_RERUN_QUEUE_URL, queue.queue_url)
        self.function.add_environment(ENV_RERUN_QUEUE_ARN, queue.queue_arn)
        queue.grant_send_messages(self.function)  # delayed and released work comes back on its own queue

        # EventBridge Scheduler's role for the one-time schedules: send to the re-run queue, nothing else.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description="EventBridge Scheduler: deliver delayed HealthOmics re-runs to the re-run queue",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        queue.grant_send_messages(self.scheduler_role)
        self.consumer.dead_letter_queue.grant_send_messages(self.scheduler_role)  # undeliverable wake-ups
        self.function.add_environment(ENV_SCHEDULER_ROLE_ARN, self.scheduler_role.role_arn)
        self.function.add_environment(ENV_DEAD_LETTER_ARN, self.consumer.dead_letter_queue.queue_arn)
        schedules = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{SCHEDULE_GROUP}/{SCHEDULE_NAME_PREFIX}*"
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CreateOneTimeSchedules", actions=["scheduler:CreateSchedule"], resources=[schedules]
            )
        )
        grant_pass_role(self.function, self.scheduler_role.role_arn, "scheduler.amazonaws.com", "PassSchedulerRole")
        # The launcher's rule (stacks/components/launcher.py): runs this stack started carry its cache only, so
        # StartRun on that cache by id; a foreign run (rerunForeignRuns) keeps its own cache: then any.
        grant_omics(self.function, RERUNNER_OMICS_ACTIONS,
                    names={"runCache": "*" if rerun_foreign_runs else run_cache_id})
        grant_pass_role(self.function, omics_service_role_arn, "omics.amazonaws.com", "PassOmicsServiceRole")
        # Settings files only: the launcher's (a batch's recorded s3UriSettings) and the follow-ups' (> 100 runs,
        # written under reruns/, where the HealthOmics service role reads settings). Never the sheets beside
        # them, which name samples. By key only (rerunner/dal.py: GetObject, conditional PutObject): no List or
        # GetBucket*, which grant_read adds on the bucket itself and would list the sheets' keys.
        self.function.add_to_role_policy(iam.PolicyStatement(
            sid="ReadSettingsFiles",
            actions=["s3:GetObject"],
            resources=[settings_bucket.arn_for_objects(f"{prefix}*")
                       for prefix in (LAUNCHER_SETTINGS_PREFIX, SETTINGS_PREFIX)],
        ))
        self.function.add_to_role_policy(iam.PolicyStatement(
            sid="WriteFollowUpSettings", actions=["s3:PutObject"],
            resources=[settings_bucket.arn_for_objects(f"{SETTINGS_PREFIX}*")],
        ))
        if settings_bucket.encryption_key:  # SSE-KMS objects: decrypt to read, a data key to write
            settings_bucket.encryption_key.grant(self.function, "kms:Decrypt", "kms:GenerateDataKey")

        # A CANCELLED run was stopped by a person: never routed. A batch-level FAILED batch created no runs
        # (the launcher resubmits it): not routed either.
        self.run_rule = self.routing.route(
            "RerunFailedRunRule",
            detail_types=[RUN_STATUS_CHANGE],
            detail={"status": ["FAILED"]},
            consumer=self.consumer,
            description="Failed HealthOmics runs -> re-run queue",
        )
        self.batch_rule = self.routing.route(
            "RerunProcessedBatchRule",
            detail_types=[RUNBATCH_STATUS_CHANGE],
            detail={"status": ["PROCESSED"]},
            consumer=self.consumer,
            description="Processed HealthOmics batches (failed members re-run as one follow-up batch) -> re-run queue",
        )

        self.brake_alarm = self.notifications.when_any(
            self,
            "BrakeEngaged",
            description="rerunner: automatic re-runs of a workflow were paused by the failure brake "
            "(see BRAKE#<workflowId> in the provenance table; release with "
            '{"action": "release-brake", "workflowId": ...})',
            metric=service_metric("rerunner", BRAKE_METRIC, period=cdk.Duration.minutes(5)),
        )

        role = role_of(self.function)
        acknowledge(
            role,
            "HealthOmics run, batch, workflow and run group ids are chosen at run time (the failed run's, its "
            "batch's, the workflow it used), so the re-runner's actions are scoped to this account and region's "
            "run/*, runBatch/*, workflow/* and runGroup/* resources: reads of one run or batch, "
            "StartRun/StartRunBatch (which need StartRun on each resource they use) and tagging at start; the run "
            "cache is the stack's own, by its id, or under rerunForeignRuns any (a foreign run keeps its cache). "
            "ListRuns supports no resource-level permission (IAM Service Authorization Reference), so it is "
            "granted on * (besides X-Ray's resource-less actions).",
            *(wildcard_arn("omics", f"{t}/*") for t in RERUNNER_OMICS_ACTIONS
              if t != NO_RESOURCE_TYPE and (t != "runCache" or rerun_foreign_runs)),
            "AwsSolutions-IAM5[Resource::*]",
        )
        acknowledge(
            role,
            "One-time schedules are created per delayed re-run with names derived from the failed run "
            "(autopilot-rerun-*), only in the default schedule group.",
            wildcard_arn("scheduler", f"schedule/{SCHEDULE_GROUP}/{SCHEDULE_NAME_PREFIX}*"),
        )
        acknowledge(
            role,
            f"Settings files only: the launcher's under {LAUNCHER_SETTINGS_PREFIX} (content-addressed keys) are "
            f"read, the follow-ups' under {SETTINGS_PREFIX} read and written; never the submitted sheets.",
            wildcard_under(settings_bucket, f"/{LAUNCHER_SETTINGS_PREFIX}*"),
            wildcard_under(settings_bucket, f"/{SETTINGS_PREFIX}*"),
        )
        acknowledge(
            self.scheduler_role,
            "kms:GenerateDataKey* comes from CDK's grant to send to the KMS-encrypted re-run queue and applies "
            "to the stack's single customer-managed key.",
            wildcard_action("kms:GenerateDataKey*"),
            wildcard_action("kms:ReEncrypt*"),
        )
        acknowledge(self.scheduler_role, INLINE_POLICY_REASON, INLINE_POLICY)
