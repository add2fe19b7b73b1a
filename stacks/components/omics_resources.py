"""HealthOmics resources: the service role runs assume, and the run cache runs attach.

Both can be given by configuration instead (an existing role ARN / cache id); the stack then creates
neither and only passes the values to the functions.
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
from stacks.components.storage import Storage
from stacks.config import AutopilotConfig

OMICS_WORKFLOW_LOG_GROUP = "/aws/omics/WorkflowLog"


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

        if config.omics_service_role_arn is None:
            self.service_role = self._service_role(storage, key)
            self.service_role_arn = self.service_role.role_arn
        else:
            self.service_role_arn = config.omics_service_role_arn

        if config.run_cache_id is None:
            self.run_cache = omics.CfnRunCache(
                self,
                "RunCache",
                cache_s3_location=f"s3://{storage.run_cache.bucket_name}/",
                cache_behavior="CACHE_ON_FAILURE",
                description=f"{config.name_prefix}: call cache of autopilot runs (resume after failure)",
                name=f"{config.name_prefix}-run-cache",
            )
            self.run_cache_id = self.run_cache.attr_id
        else:
            self.run_cache_id = config.run_cache_id

    def _service_role(self, storage: Storage, key: kms.IKey) -> iam.Role:
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
        writable = (storage.outputs, storage.run_cache)
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
                resources=[bucket.arn_for_objects("*") for bucket in readable],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOutputsAndCache",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects("*") for bucket in writable],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseStackKeyForBucketObjects",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=OMICS_WORKFLOW_LOG_GROUP,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WorkflowLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:DescribeLogStreams",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                ],
                resources=[log_group_arn, f"{log_group_arn}:log-stream:*"],
            )
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
            "actions are granted per stack bucket on <bucket>/*.",
            *(wildcard_under(bucket, "/*") for bucket in readable),
        )
        acknowledge(
            role,
            "HealthOmics writes one log stream per run and per run cache (named by ids known only at "
            "run time) in the fixed /aws/omics/WorkflowLog group.",
            wildcard_arn("logs", f"log-group:{OMICS_WORKFLOW_LOG_GROUP}:log-stream:*"),
        )
        acknowledge(
            role,
            "Private workflow container images live in repositories chosen by workflow authors, not "
            "by this stack; pulls are limited to read actions in this account and region.",
            wildcard_arn("ecr", "repository/*"),
        )
        acknowledge(role, INLINE_POLICY_REASON, INLINE_POLICY)
        return role
