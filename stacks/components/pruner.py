"""The run-cache pruner: scheduled, fan-out by run prefix, resumable.

EventBridge Scheduler (config `pruneSchedule`) --invoke--> planner Lambda (pruner.handler.lambda_handler)
  per cache: lease, floor, key ranges of run prefixes --SQS--> prune queue --ESM--> worker Lambda
  (pruner.handler.worker_handler): LIST / GET manifests / DeleteObjects of entry-shaped keys only,
  checkpoints + continuation messages, audit records in the provenance table, reports in the run
  outputs bucket under prune-reports/ (outside every cache prefix).

Object permissions are scoped by the cache's key prefix, the only scope IAM can express (`*` in a resource
matches any characters, `/` included, so no pattern means "entry depth"): the worker may read
`<prefix>*.json` (manifests) and delete `<prefix>*`: the stack's cache is under `cache/` of its bucket,
an external one where `pruneCacheBuckets` says (a bare bucket name: the whole bucket is the cache).
Which keys under the prefix are entries is decided by the pruner's rules (lambdas/pruner/rules.py).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.capability import Capability, CapabilityContext, role_of, service_metric
from stacks.components.lambda_factory import FunctionSpec
from stacks.components.nag import (
    acknowledge,
    wildcard_action,
    wildcard_arn,
    wildcard_under,
)
from stacks.components.omics_resources import RUN_CACHE_PREFIX
from stacks.components.queue_consumer import QueueConsumer
from stacks.config import AutopilotConfig
from stacks.runtime_contract import LAMBDAS_DIR  # noqa: F401  (puts lambdas/ on sys.path)

# isort: off
from launcher.policy import PRUNE_REPORTS_PREFIX
from pruner.config import (
    ENV_ALLOW_UNVERSIONED,
    FLOOR_JUMP_METRIC,
    ENV_CACHE_IDS,
    ENV_INVENTORIES,
    ENV_ITEM_LEASE_SECONDS,
    ENV_MAX_AGE_DAYS,
    ENV_MIN_VERSION,
    ENV_MODE,
    ENV_QUEUE_URL,
    ENV_REPORT_BUCKET,
    ENV_REPORT_PREFIX,
    NONE_OF_THIS_CACHE_METRIC,
    PLANNER_TIMEOUT_SECONDS,
    REFUSED_METRIC,
)
# isort: on

PLANNER_HANDLER = "pruner.handler.lambda_handler"
WORKER_HANDLER = "pruner.handler.worker_handler"
REPORT_PREFIX = PRUNE_REPORTS_PREFIX  # the launcher refuses run outputs there
CACHE_KEYS = "*"  # under the cache prefix
MANIFEST_KEYS = "*.json"
WORKER_TIMEOUT = cdk.Duration.minutes(15)


class CachePruner(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        context: CapabilityContext,
        *,
        cache_bucket: s3.IBucket,
        reports_bucket: s3.IBucket,
        config: AutopilotConfig,
    ) -> None:
        super().__init__(scope, construct_id, context)
        stack = cdk.Stack.of(self)
        environment = {
            ENV_MODE: config.prune_mode,
            ENV_CACHE_IDS: config.prune_cache_ids or "",
            ENV_MIN_VERSION: str(config.prune_min_version or ""),
            ENV_MAX_AGE_DAYS: str(config.prune_max_age_days or ""),
            ENV_ALLOW_UNVERSIONED: ",".join(config.prune_allow_unversioned_buckets),
            ENV_INVENTORIES: config.prune_inventories_json if config.prune_inventories else "",
            ENV_REPORT_BUCKET: reports_bucket.bucket_name,
            ENV_REPORT_PREFIX: REPORT_PREFIX,
            # An item lease outlives one worker invocation, so a crashed one is taken over after it.
            ENV_ITEM_LEASE_SECONDS: str(int(WORKER_TIMEOUT.to_seconds()) + 60),
        }
        self.worker = self.factory.create(
            self,
            "Worker",
            FunctionSpec(
                capability="pruner",
                handler=WORKER_HANDLER,
                description="Prunes one key range of a HealthOmics run cache (stale manifest versions)",
                timeout=WORKER_TIMEOUT,
                memory_mb=1024,
                reserved_concurrency=config.prune_worker_concurrency,
                environment=environment,
            ),
        )
        self.consumer = QueueConsumer(
            self,
            "Prune",
            consumer="pruner",
            function=self.worker,
            key=self.key,
            notifications=self.notifications,
            batch_size=1,  # one key range per invocation: each may use most of the 15 minutes
            max_concurrency=config.prune_worker_concurrency,
            max_message_age=cdk.Duration.hours(6),
        )
        queue_url = self.consumer.queue.queue_url
        self.worker.add_environment(ENV_QUEUE_URL, queue_url)
        self.planner = self.factory.create(
            self,
            "Planner",
            FunctionSpec(
                capability="pruner",
                handler=PLANNER_HANDLER,
                description="Starts a prune pass per run cache: lease, version floor, key ranges to the queue",
                timeout=cdk.Duration.seconds(PLANNER_TIMEOUT_SECONDS),
                memory_mb=512,
                reserved_concurrency=1,
                environment={**environment, ENV_QUEUE_URL: queue_url},
            ),
        )

        for function in (self.planner, self.worker):
            self.grant_table(function, index_use="The pruner queries the provenance table's `active` GSI")
            self.consumer.queue.grant_send_messages(function)  # fan-out, continuations, catch-up rounds
        # S3: listing the cache bucket (planner: run prefixes; worker: entries), the bucket's versioning
        # (planner: enforce needs undo), reading manifests and deleting keys at entry depth (worker only),
        # writing reports outside any cache prefix (worker only).
        cache_locations: list[tuple[s3.IBucket, str]] = [
            (cache_bucket, RUN_CACHE_PREFIX),
            *(
                (s3.Bucket.from_bucket_name(self, f"CacheBucket{i}", name), prefix)
                for i, (name, prefix) in enumerate(config.prune_cache_locations)
            ),
        ]
        for bucket, prefix in cache_locations:
            for function in (self.planner, self.worker):
                function.add_to_role_policy(
                    iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
                )
            self.planner.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:GetBucketVersioning"], resources=[bucket.bucket_arn])
            )
            self.worker.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[bucket.arn_for_objects(prefix + MANIFEST_KEYS)]
                )
            )
            self.worker.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:DeleteObject"], resources=[bucket.arn_for_objects(prefix + CACHE_KEYS)]
                )
            )
        # S3 Inventory reports (pruneInventories): S3 publishes them under
        # <destination prefix><source bucket>/<configId>/; the source bucket of an external cache is known only
        # at run time, hence `*` for it. The planner lists the report directories and reads manifest.json and
        # manifest.checksum, the worker reads its data file; nothing else of the destination bucket.
        inventory_grants = sorted(
            {(_split_s3(source.destination), source.config_id) for source in config.prune_inventories.values()}
        )
        for (name, prefix), config_id in inventory_grants:
            pattern = f"{prefix}*/{config_id}/*"
            self.planner.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[f"arn:{stack.partition}:s3:::{name}"],
                    conditions={"StringLike": {"s3:prefix": [pattern]}},
                )
            )
            objects = f"arn:{stack.partition}:s3:::{name}/{pattern}"
            for function in (self.planner, self.worker):
                function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]))
        self.key.grant_decrypt(self.worker)  # manifests are SSE-KMS objects
        # Reports: the worker's parts and summaries; the planner's summary of a pass it settles (pruner/settle.py).
        for function in (self.planner, self.worker):
            reports_bucket.grant_put(function, f"{REPORT_PREFIX}*")

        # HealthOmics: where each cache's data lives (GetRunCache), or every cache (ListRunCaches).
        cache_arns = stack.format_arn(service="omics", resource="runCache", resource_name="*")
        self.planner.add_to_role_policy(
            iam.PolicyStatement(sid="ReadRunCaches", actions=["omics:GetRunCache"], resources=[cache_arns])
        )
        if config.prune_cache_ids == "*":
            self.planner.add_to_role_policy(
                iam.PolicyStatement(sid="ListRunCaches", actions=["omics:ListRunCaches"], resources=["*"])
            )

        self.scheduled = self.invoke_on_schedule(
            self.planner,
            expression=config.prune_schedule,
            description=f"Prune stale run-cache entries ({config.prune_mode})",
            what="run-cache prune planner",
            max_event_age=cdk.Duration.hours(1),
        )

        # One alarm per condition a pass cannot settle alone; one dimension (no cache id): every cache.
        alarmed = {
            "FloorJumpHeld": (
                FLOOR_JUMP_METRIC,
                "pruner: a manifest of a run cache claims a version more than one above the recorded floor; it "
                "was not applied (see the pass report's held_version; confirm with pruneMinVersion if the "
                "service really moved, else look for a forged manifest)",
            ),
            "NoEntryOfThisCache": (
                NONE_OF_THIS_CACHE_METRIC,
                "pruner: a pass found manifests in a run cache's location but none of that cache (wrong cache, "
                "moved or copied data): it prunes nothing (see the pass report's none_of_this_cache)",
            ),
            "PassRefused": (
                REFUSED_METRIC,
                "pruner: an enforce pass was refused: the cache bucket is not versioned, so deletions could not "
                "be undone (enable versioning, or allow the bucket in pruneAllowUnversionedBuckets)",
            ),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for alarm_id, (metric_name, description) in alarmed.items():
            self.alarms[alarm_id] = self.notifications.when_any(
                self,
                alarm_id,
                description=description,
                metric=service_metric("pruner", metric_name, period=cdk.Duration.hours(1)),
            )
        self.floor_jump_alarm = self.alarms["FloorJumpHeld"]

        for function in (self.planner, self.worker):
            acknowledge(
                role_of(function),
                "Run caches are created and named by HealthOmics at run time, so GetRunCache is scoped to this "
                "account and region's runCache/*. Cache entries are objects whose keys (cache uuid, run, task, "
                "entry uuid) are chosen by the service: reads are granted on <cache prefix>*.json (manifests), "
                "deletes on <cache prefix>* (the stack's cache is under cache/ of its bucket; external caches "
                "where pruneCacheBuckets says), reports only on prune-reports/* of the outputs bucket. "
                "ListRunCaches supports no resource-level permission (granted only when pruneCacheIds is '*').",
                wildcard_arn("omics", "runCache/*"),
                "AwsSolutions-IAM5[Resource::*]",
                wildcard_under(cache_bucket, f"/{RUN_CACHE_PREFIX}{MANIFEST_KEYS}"),
                wildcard_under(cache_bucket, f"/{RUN_CACHE_PREFIX}{CACHE_KEYS}"),
                wildcard_under(reports_bucket, f"/{REPORT_PREFIX}*"),
                *(
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{name}/{prefix}{keys}]"
                    for name, prefix in config.prune_cache_locations
                    for keys in (MANIFEST_KEYS, CACHE_KEYS)
                ),
                *(
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{name}/{prefix}*/{config_id}/*]"
                    for (name, prefix), config_id in inventory_grants
                ),
            )
        for function in (self.planner, self.worker):
            acknowledge(
                role_of(function),
                "s3:Abort* comes from CDK's grant_put on the reports prefix (prune-reports/*) of the outputs bucket: "
                "aborting the function's own multipart uploads of reports.",
                wildcard_action("s3:Abort*"),
            )


def _split_s3(uri: str) -> tuple[str, str]:
    """s3://bucket/prefix/ -> ("bucket", "prefix/")."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix
