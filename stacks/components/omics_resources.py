"""HealthOmics resources: the service role runs assume, and the run cache runs attach.

Both can be given by configuration instead (an existing role ARN / cache id); the stack then creates
neither and only passes the values to the functions.

The created role reaches the stack's own buckets and key, plus the data locations the deployment names
(`serviceRoleReadLocations`, `serviceRoleWriteLocations`, `runOutputUri`, `serviceRoleKmsKeyArns`).
Without read locations it can read run inputs only from the stack's buckets: synthesis says so with a
warning, since every run whose inputs live elsewhere would fail with AccessDenied.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_omics as omics
from constructs import Construct

from stacks.components.nag import (
    INLINE_POLICY,
    INLINE_POLICY_REASON,
    acknowledge,
    wildcard_arn,
    wildcard_under,
)
from stacks.components.regions import require_supported_region
from stacks.components.storage import Storage
from stacks.config import AutopilotConfig

OMICS_WORKFLOW_LOG_GROUP = "/aws/omics/WorkflowLog"
NO_INPUT_DATA_WARNING = "omics-autopilot:serviceRoleInputs"
# The created run cache lives under this prefix of the run-cache bucket, not at its root: IAM can scope the
# pruner's deletes to a key prefix, and nothing else (`*` matches `/`), so the cache needs a prefix of its own.
RUN_CACHE_PREFIX = "cache/"


def _s3_arns(location: str) -> tuple[str, str, str | None]:
    """(bucket ARN, object ARN pattern, key prefix or None) of `s3://bucket[/prefix]`."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    partition = cdk.Aws.PARTITION
    return (f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/{prefix}*", prefix or None)


class OmicsResources(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AutopilotConfig,
        storage: Storage,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.service_role: iam.Role | None = None
        self.run_cache: omics.CfnRunCache | None = None
        self.region_rule = require_supported_region(self)

        if config.omics_service_role_arn is None:
            self.service_role = self._service_role(storage, key, config)
            self.service_role_arn = self.service_role.role_arn
        else:
            self.service_role_arn = config.omics_service_role_arn

        if config.run_cache_id is None:
            self.run_cache = omics.CfnRunCache(
                self,
                "RunCache",
                cache_s3_location=f"s3://{storage.run_cache.bucket_name}/{RUN_CACHE_PREFIX}",
                cache_behavior="CACHE_ON_FAILURE",
                description=f"{config.name_prefix}: call cache of autopilot runs (resume after failure)",
                name=f"{config.name_prefix}-run-cache",
            )
            self.run_cache_id = self.run_cache.attr_id
        else:
            self.run_cache_id = config.run_cache_id

    def _service_role(self, storage: Storage, key: kms.IKey, config: AutopilotConfig) -> iam.Role:
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "ServiceRole",
            description="HealthOmics service role for autopilot runs (stack buckets, CMK, workflow logs)",
            assumed_by=iam.ServicePrincipal(
                "omics.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        readable = (storage.submissions, storage.outputs, storage.run_cache)
        # Runs touch the run-cache bucket only under the cache's own prefix: outputs go to the outputs bucket
        # (launcher/policy.py refuses a run-cache bucket as an output location), and the pruner's deletes and
        # inventory cover cache/ alone.
        cache_objects = storage.run_cache.arn_for_objects(f"{RUN_CACHE_PREFIX}*")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListStackBuckets",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[bucket.bucket_arn for bucket in readable],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadInputsSettingsAndCache",
                actions=["s3:GetObject"],
                resources=[storage.submissions.arn_for_objects("*"), storage.outputs.arn_for_objects("*"),
                           cache_objects],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOutputsAndCache",
                actions=["s3:PutObject"],
                resources=[storage.outputs.arn_for_objects("*"), cache_objects],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseStackKeyForBucketObjects",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )
        self._grant_data_locations(role, config)
        # The guide's service-role policy (Service roles for AWS HealthOmics): stream actions on
        # <group>:log-stream:*, CreateLogGroup on <group>:*, for the fixed /aws/omics/WorkflowLog group.
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{OMICS_WORKFLOW_LOG_GROUP}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        log_streams_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{OMICS_WORKFLOW_LOG_GROUP}:log-stream:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WorkflowLogStreams",
                actions=["logs:DescribeLogStreams", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_streams_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="WorkflowLogGroup", actions=["logs:CreateLogGroup"], resources=[log_group_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullPrivateWorkflowImages",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            )
        )
        acknowledge(
            role,
            "HealthOmics reads sample inputs and settings files and writes run outputs and cache "
            "entries under object keys chosen at run time (run ids, cache entry uuids), so object "
            "actions are granted per stack bucket on <bucket>/*, and on the run-cache bucket under its "
            f"{RUN_CACHE_PREFIX} prefix only.",
            wildcard_under(storage.submissions, "/*"),
            wildcard_under(storage.outputs, "/*"),
            wildcard_under(storage.run_cache, f"/{RUN_CACHE_PREFIX}*"),
        )
        acknowledge(
            role,
            "HealthOmics writes one log stream per run and per run cache (named by ids known only at "
            "run time) in the fixed /aws/omics/WorkflowLog group.",
            wildcard_arn("logs", f"log-group:{OMICS_WORKFLOW_LOG_GROUP}:log-stream:*"),
            wildcard_arn("logs", f"log-group:{OMICS_WORKFLOW_LOG_GROUP}:*"),
        )
        acknowledge(
            role,
            "Private workflow container images live in repositories chosen by workflow authors, not "
            "by this stack; pulls are limited to read actions in this account and region.",
            wildcard_arn("ecr", "repository/*"),
        )
        acknowledge(role, INLINE_POLICY_REASON, INLINE_POLICY)
        return role

    def _grant_data_locations(self, role: iam.Role, config: AutopilotConfig) -> None:
        """Run inputs and outputs outside the stack: the locations the deployment names, no others."""
        reads, writes = config.service_role_read_locations, config.service_role_writes
        for sid, locations, actions in (("ReadDataLocations", reads, ("s3:GetObject",)),
                                       ("WriteDataLocations", writes, ("s3:GetObject", "s3:PutObject"))):
            if not locations:
                continue
            arns = [_s3_arns(location) for location in locations]
            objects = sorted({pattern for _, pattern, _ in arns})
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=list(actions), resources=objects))
            role.add_to_policy(
                iam.PolicyStatement(sid=f"{sid}Region", actions=["s3:GetBucketLocation"],
                                    resources=sorted({bucket for bucket, _, _ in arns}))
            )
            for index, (bucket, _, prefix) in enumerate(arns):
                # Listing is limited to the prefix (HealthOmics lists input directories and the cache).
                role.add_to_policy(
                    iam.PolicyStatement(
                        sid=f"{sid}List{index}",
                        actions=["s3:ListBucket"],
                        resources=[bucket],
                        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
                    )
                )
        if config.service_role_kms_key_arns:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="UseDataLocationKeys",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=list(config.service_role_kms_key_arns),
                )
            )
        object_findings = [f"AwsSolutions-IAM5[Resource::{_finding_arn(objects)}]"
                           for objects in sorted({_s3_arns(loc)[1] for loc in (*reads, *writes)})]
        if object_findings:
            acknowledge(
                role,
                "Run inputs and outputs are objects under the data locations the deployment configured "
                "(serviceRoleReadLocations / serviceRoleWriteLocations / runOutputUri); keys below them are "
                "chosen per sample and per run.",
                *object_findings,
            )
        if not reads:
            cdk.Annotations.of(role).add_warning_v2(
                NO_INPUT_DATA_WARNING,
                "The created HealthOmics service role can read run inputs only from this stack's buckets. "
                "Runs whose inputs live elsewhere (e.g. the example sheets' s3://lab-data/...) fail with "
                "AccessDenied: set serviceRoleReadLocations (and serviceRoleKmsKeyArns for SSE-KMS data), "
                "or bring a role with omicsServiceRoleArn.",
            )


def _finding_arn(arn: str) -> str:
    """How cdk-nag renders an ARN built with the partition token in its finding id."""
    return arn.replace(cdk.Aws.PARTITION, "<AWS::Partition>")
