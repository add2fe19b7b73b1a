"""What HealthOmics answers (GetRun, ListRunTasks, ListRunsInBatch), mapped to the provenance items that record
it. The recorder and the reconciler record through these; the re-runner reads a failed run with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.lineage import lineage_of
from shared.provenance.items import BatchMember, RunDetails, TaskDetails
from shared.status import iso_time


def omics_time(value: Any) -> str | None:
    """A service timestamp (botocore parses it to a datetime) as recorded; anything else is absent."""
    return iso_time(value) if isinstance(value, datetime) else None


def run_details(response: dict[str, Any]) -> RunDetails:
    """Map a GetRun response to what we record about a run, including its lineage."""
    run_id = response["id"]
    tags = response.get("tags") or {}
    lineage = lineage_of(run_id, tags, response.get("runId"), response.get("batchId"), response.get("uuid"))
    return RunDetails(
        run_id=run_id, status=response.get("status"), name=response.get("name"), uuid=response.get("uuid"),
        arn=response.get("arn"), workflow_id=response.get("workflowId"),
        workflow_type=response.get("workflowType"), workflow_version_name=response.get("workflowVersionName"),
        failure_reason=response.get("failureReason"), status_message=response.get("statusMessage"),
        batch_id=response.get("batchId"), source_run_id=response.get("runId"), cache_id=response.get("cacheId"),
        cache_behavior=response.get("cacheBehavior"), parameters=response.get("parameters"),
        digest=response.get("digest"), resource_digests=response.get("resourceDigests"),
        started_by=response.get("startedBy"), role_arn=response.get("roleArn"),
        output_uri=response.get("outputUri"), run_output_uri=response.get("runOutputUri"),
        storage_type=response.get("storageType"), storage_capacity=response.get("storageCapacity"),
        retention_mode=response.get("retentionMode"), run_group_id=response.get("runGroupId"),
        creation_time=omics_time(response.get("creationTime")), start_time=omics_time(response.get("startTime")),
        stop_time=omics_time(response.get("stopTime")), tags=tags, **lineage.model_dump(),
    )


def task_details(run_id: str, run_uuid: str, item: dict[str, Any]) -> TaskDetails:
    return TaskDetails(
        task_id=item["taskId"], run_id=run_id, run_uuid=run_uuid, name=item.get("name"), status=item.get("status"),
        cache_hit=item.get("cacheHit"), cache_s3_uri=item.get("cacheS3Uri"), cpus=item.get("cpus"),
        memory=item.get("memory"), gpus=item.get("gpus"), instance_type=item.get("instanceType"),
        creation_time=omics_time(item.get("creationTime")), start_time=omics_time(item.get("startTime")),
        stop_time=omics_time(item.get("stopTime")),
    )


def batch_member(batch_id: str, item: dict[str, Any]) -> BatchMember:
    return BatchMember(
        batch_id=batch_id, run_setting_id=item["runSettingId"], run_id=item.get("runId") or None,
        run_uuid=item.get("runInternalUuid") or None, run_arn=item.get("runArn") or None,
        submission_status=item.get("submissionStatus"),
        submission_failure_reason=item.get("submissionFailureReason"),
        submission_failure_message=item.get("submissionFailureMessage"),
    )
