"""The buckets the stack owns: submissions, run outputs, run cache, and their server access logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.nag import acknowledge

_NO_REPLICATION = (
    "Single-region deployment by design: versioning protects against deletes and overwrites; "
    "cross-region replication is an operator choice outside this stack."
)


class Storage(Construct):
    """Every bucket: KMS-encrypted with the stack CMK (except the access-log bucket, see below),
    public access blocked, TLS enforced by bucket policy, versioned, access-logged."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, undo_retention_days: int = 7) -> None:
        super().__init__(scope, construct_id)

        # S3 server access log delivery only writes to buckets encrypted with SSE-S3, not SSE-KMS.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-noncurrent", noncurrent_version_expiration=cdk.Duration.days(30))
            ],
        )
        acknowledge(
            self.access_logs,
            "This is the server access log target: S3 log delivery supports only SSE-S3 on the target "
            "bucket, and logging the log bucket into itself would loop.",
            "AwsSolutions-S1",
            "HIPAA.Security-S3BucketLoggingEnabled",
            "HIPAA.Security-S3DefaultEncryptionKMS",
        )

        # Sample sheets (launch input). Versioned: an object's version id is the launcher's idempotency key.
        self.submissions = self._data_bucket("Submissions", key, noncurrent_days=365)
        # Run outputs written by HealthOmics when the launcher uses the stack's default output location.
        self.outputs = self._data_bucket("RunOutputs", key, noncurrent_days=30)
        # Run cache data (AWS::Omics::RunCache location). Entries are recomputable; noncurrent versions
        # left by the pruner are kept `pruneUndoRetentionDays` as the undo window (`autopilot cache
        # restore`), then expire so pruning frees storage; the delete markers left behind expire too.
        self.run_cache = self._data_bucket("RunCache", key, noncurrent_days=undo_retention_days)
        self.run_cache.add_lifecycle_rule(id="expire-delete-markers", expired_object_delete_marker=True)

        for bucket in (self.access_logs, self.submissions, self.outputs, self.run_cache):
            acknowledge(bucket, _NO_REPLICATION, "HIPAA.Security-S3BucketReplicationEnabled")

    def _data_bucket(self, construct_id: str, key: kms.IKey, *, noncurrent_days: int) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{construct_id.lower()}/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent",
                    noncurrent_version_expiration=cdk.Duration.days(noncurrent_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
        )
