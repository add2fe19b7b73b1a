"""Operation handlers: parsed request parameters in, response dicts out (shapes of the omics model)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sandbox.omics.errors import ResourceNotFoundException, ValidationException
from sandbox.omics.specs import WorkflowSpec, spec_from_zip
from sandbox.omics.state import Batch, Run, RunCache, Task, Workflow, WorkflowVersion

if TYPE_CHECKING:
    from sandbox.omics.emulator import OmicsEmulator

Handler = Callable[["OmicsEmulator", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def paginate(
    items: Sequence[Any], token: str | None, limit: int | None, default: int = 100, maximum: int = 100
) -> tuple[list[Any], str | None]:
    """Offset-based tokens; ``limit`` is clamped to ``maximum``."""
    try:
        start = int(token) if token else 0
    except ValueError as exc:
        raise ValidationException(f"Invalid startingToken {token!r}") from exc
    if start < 0 or start > len(items):
        raise ValidationException(f"Invalid startingToken {token!r}")
    if limit is not None and limit < 1:
        raise ValidationException("maxResults must be at least 1")
    size = min(limit or default, maximum)
    page = list(items[start : start + size])
    nxt = str(start + size) if start + size < len(items) else None
    return page, nxt


# ---- workflows ---------------------------------------------------------------------------------
@operation("CreateWorkflow")
def create_workflow(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    existing = emu.request_ids.get(("workflow", p["requestId"]))
    if existing is not None:
        wf = emu.workflows[existing]
    else:
        spec: WorkflowSpec | None = None
        digest_source = b""
        if p.get("definitionZip") is not None:
            digest_source = p["definitionZip"]
            spec = spec_from_zip(p["definitionZip"])
        elif not p.get("definitionUri") and not p.get("definitionRepository"):
            raise ValidationException(
                "One of definitionZip, definitionUri or definitionRepository is required"
            )
        wf = emu.add_workflow(
            name=p.get("name"),
            description=p.get("description"),
            engine=p.get("engine") or "WDL",
            main=p.get("main"),
            spec=spec,
            parameter_template=p.get("parameterTemplate"),
            storage_type=p.get("storageType"),
            storage_capacity=p.get("storageCapacity"),
            request_id=p["requestId"],
            digest_source=digest_source or (p.get("definitionUri") or "").encode(),
            tags=p.get("tags") or {},
        )
    return {
        "arn": wf.arn,
        "id": wf.id,
        "status": wf.status,
        "tags": emu.tags.get(wf.arn, {}),
        "uuid": wf.uuid,
    }


def _workflow(emu: OmicsEmulator, wf_id: str) -> Workflow:
    wf = emu.workflows.get(wf_id)
    if wf is None or wf.status == "DELETED":
        raise ResourceNotFoundException(f"Workflow {wf_id} not found")
    return wf


@operation("GetWorkflow")
def get_workflow(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    wf = _workflow(emu, p["id"])
    return {
        "arn": wf.arn,
        "id": wf.id,
        "status": wf.status,
        "type": "PRIVATE",
        "name": wf.name,
        "description": wf.description,
        "engine": wf.engine,
        "main": wf.main,
        "digest": wf.digest,
        "parameterTemplate": wf.parameter_template,
        "storageCapacity": wf.storage_capacity,
        "storageType": wf.storage_type,
        "creationTime": wf.creation_time,
        "tags": emu.tags.get(wf.arn, {}),
        "uuid": wf.uuid,
        "metadata": {"sandboxTasks": ",".join(t.name for t in wf.spec.tasks)},
    }


@operation("CreateWorkflowVersion")
def create_workflow_version(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    """A version of a workflow with its own run defaults (the guide: workflow versioning). Only what runs and
    the launcher read is kept: its storage type and capacity."""
    wf = _workflow(emu, p["workflowId"])
    version = wf.versions.get(p["versionName"])
    if version is None:
        version = WorkflowVersion(name=p["versionName"], arn=f"{wf.arn}/version/{p['versionName']}",
                                  storage_type=p.get("storageType"), storage_capacity=p.get("storageCapacity"),
                                  creation_time=emu.now())
        wf.versions[version.name] = version
    return {"arn": version.arn, "workflowId": wf.id, "versionName": version.name, "status": version.status,
            "uuid": wf.uuid}


@operation("GetWorkflowVersion")
def get_workflow_version(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    wf = _workflow(emu, p["workflowId"])
    version = wf.versions.get(p["versionName"])
    if version is None:
        raise ResourceNotFoundException(f"Workflow version {p['versionName']} of workflow {wf.id} not found")
    return {"arn": version.arn, "workflowId": wf.id, "versionName": version.name, "status": version.status,
            "type": "PRIVATE", "engine": wf.engine, "main": wf.main, "digest": wf.digest,
            "storageType": version.storage_type, "storageCapacity": version.storage_capacity,
            "creationTime": version.creation_time, "uuid": wf.uuid}


@operation("ListWorkflows")
def list_workflows(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    if p.get("type") not in (None, "PRIVATE"):
        items: list[Workflow] = []
    else:
        items = [w for w in emu.workflows.values() if w.status != "DELETED"]
    if p.get("name"):
        items = [w for w in items if w.name and w.name.startswith(p["name"])]
    page, nxt = paginate(items, p.get("startingToken"), p.get("maxResults"))
    return {
        "items": [
            {
                "arn": w.arn,
                "id": w.id,
                "name": w.name,
                "status": w.status,
                "type": "PRIVATE",
                "digest": w.digest,
                "creationTime": w.creation_time,
            }
            for w in page
        ],
        "nextToken": nxt,
    }


# ---- runs --------------------------------------------------------------------------------------
@operation("StartRun")
def start_run(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    run, _ = emu.start_run(p)
    return {
        "arn": run.arn,
        "id": run.id,
        "status": run.status,
        "tags": emu.tags.get(run.arn, {}),
        "uuid": run.uuid,
        "runOutputUri": run.run_output_uri,
    }


def run_resource_digests(run: Run) -> dict[str, str]:
    return {
        str(v): hashlib.md5(str(v).encode()).hexdigest()
        for v in run.parameters.values()
        if isinstance(v, str) and v.startswith(("s3://", "omics://"))
    }


@operation("GetRun")
def get_run(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    run = emu.get_live_run(p["id"])
    wf = run.workflow
    return {
        "arn": run.arn,
        "id": run.id,
        "cacheId": run.cache_id,
        "cacheBehavior": run.cache_behavior,
        "engineVersion": "1.0" if wf.engine in ("WDL", "WDL_LENIENT") else None,
        "status": emu.api_run_status(run),
        "workflowId": wf.id,
        "workflowType": "PRIVATE",
        "runId": run.source_run_id,
        "roleArn": run.role_arn,
        "name": run.name,
        "runGroupId": run.run_group_id,
        "batchId": run.batch_id,
        "priority": run.priority,
        "definition": f"s3://omics-sandbox-definitions/{wf.id}/{wf.uuid}/definition.zip",
        "digest": wf.digest,
        "parameters": run.parameters,
        "storageCapacity": run.storage_capacity,
        "outputUri": run.output_uri,
        "logLevel": run.log_level,
        "resourceDigests": run_resource_digests(run),
        "startedBy": run.started_by,
        "creationTime": run.creation_time,
        "startTime": run.start_time,
        "stopTime": run.stop_time,
        "statusMessage": run.status_message,
        "tags": emu.tags.get(run.arn, {}),
        "retentionMode": run.retention_mode,
        "failureReason": run.failure_reason,
        "logLocation": {
            "runLogStream": (
                f"arn:aws:logs:{emu.region}:{emu.account_id}:log-group:/aws/omics/WorkflowLog:"
                f"log-stream:run/{run.id}"
            )
        },
        "uuid": run.uuid,
        "runOutputUri": run.run_output_uri,
        "storageType": run.storage_type,
        "workflowVersionName": run.workflow_version_name,
        "workflowUuid": wf.uuid,
        "engineSettings": run.engine_settings,
    }


@operation("ListRuns")
def list_runs(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    runs = [r for r in emu.runs.values() if r.status != "DELETED"]
    if p.get("name"):
        runs = [r for r in runs if r.name and r.name.startswith(p["name"])]
    if p.get("status"):
        runs = [r for r in runs if r.status == p["status"]]
    if p.get("batchId"):
        runs = [r for r in runs if r.batch_id == p["batchId"]]
    if p.get("runGroupId"):
        runs = [r for r in runs if r.run_group_id == p["runGroupId"]]
    page, nxt = paginate(runs, p.get("startingToken"), p.get("maxResults"))
    return {
        "items": [
            {
                "arn": r.arn,
                "id": r.id,
                "status": r.status,
                "workflowId": r.workflow.id,
                "batchId": r.batch_id,
                "name": r.name,
                "priority": r.priority,
                "storageCapacity": r.storage_capacity,
                "creationTime": r.creation_time,
                "startTime": r.start_time,
                "stopTime": r.stop_time,
                "storageType": r.storage_type,
                "workflowVersionName": r.workflow_version_name,
                "workflowName": r.workflow.name,
            }
            for r in page
        ],
        "nextToken": nxt,
    }


@operation("CancelRun")
def cancel_run(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    emu.cancel_run(emu.get_live_run(p["id"]))
    return {}


@operation("DeleteRun")
def delete_run(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    emu.delete_run(emu.get_live_run(p["id"]))
    return {}


def _task_item(task: Task) -> dict[str, Any]:
    return {
        "taskId": task.id,
        "status": task.status,
        "name": task.name,
        "cpus": task.spec.cpus,
        "cacheHit": task.cache_hit,
        "cacheS3Uri": task.cache_s3_uri,
        "memory": task.spec.memory,
        "creationTime": task.creation_time,
        "startTime": task.start_time,
        "stopTime": task.stop_time,
        "gpus": task.spec.gpus,
        "instanceType": task.instance_type,
        "uuid": task.uuid,
    }


@operation("ListRunTasks")
def list_run_tasks(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    run = emu.get_live_run(p["id"])
    tasks = [t for t in run.tasks.values() if not p.get("status") or t.status == p["status"]]
    page, nxt = paginate(tasks, p.get("startingToken"), p.get("maxResults"))
    return {"items": [_task_item(t) for t in page], "nextToken": nxt}


@operation("GetRunTask")
def get_run_task(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    run = emu.get_live_run(p["id"])
    task = run.tasks.get(p["taskId"])
    if task is None:
        raise ResourceNotFoundException(f"Task {p['taskId']} not found in run {run.id}")
    item = _task_item(task)
    item.update(
        {
            "statusMessage": task.status_message,
            "failureReason": task.failure_reason,
            "logStream": (
                f"arn:aws:logs:{emu.region}:{emu.account_id}:log-group:/aws/omics/WorkflowLog:"
                f"log-stream:run/{run.id}/task/{task.id}"
            ),
        }
    )
    return item


# ---- run caches --------------------------------------------------------------------------------
def _cache(emu: OmicsEmulator, cache_id: str) -> RunCache:
    cache = emu.run_caches.get(cache_id)
    if cache is None or cache.status == "DELETED":
        raise ResourceNotFoundException(f"Run cache {cache_id} not found")
    return cache


@operation("CreateRunCache")
def create_run_cache(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    existing = emu.request_ids.get(("runCache", p["requestId"]))
    cache = emu.run_caches[existing] if existing else emu.add_run_cache(p)
    return {"arn": cache.arn, "id": cache.id, "status": cache.status, "tags": emu.tags.get(cache.arn, {})}


@operation("GetRunCache")
def get_run_cache(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    cache = _cache(emu, p["id"])
    return {
        "arn": cache.arn,
        "cacheBehavior": cache.cache_behavior,
        "cacheBucketOwnerId": cache.cache_bucket_owner_id,
        "cacheS3Uri": cache.cache_s3_location,
        "creationTime": cache.creation_time,
        "description": cache.description,
        "id": cache.id,
        "name": cache.name,
        "status": cache.status,
        "tags": emu.tags.get(cache.arn, {}),
    }


@operation("ListRunCaches")
def list_run_caches(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    caches = [c for c in emu.run_caches.values() if c.status != "DELETED"]
    page, nxt = paginate(caches, p.get("startingToken"), p.get("maxResults"))
    return {
        "items": [
            {
                "arn": c.arn,
                "cacheBehavior": c.cache_behavior,
                "cacheS3Uri": c.cache_s3_location,
                "creationTime": c.creation_time,
                "id": c.id,
                "name": c.name,
                "status": c.status,
            }
            for c in page
        ],
        "nextToken": nxt,
    }


@operation("UpdateRunCache")
def update_run_cache(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    cache = _cache(emu, p["id"])
    if p.get("cacheBehavior") is not None:
        cache.cache_behavior = p["cacheBehavior"]
    if p.get("description") is not None:
        cache.description = p["description"]
    if p.get("name") is not None:
        cache.name = p["name"]
    return {}


@operation("DeleteRunCache")
def delete_run_cache(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    cache = _cache(emu, p["id"])
    cache.status = "DELETED"  # the S3 data stays (guide: the service never deletes cache data)
    emu.tags.pop(cache.arn, None)
    return {}


# ---- batches -----------------------------------------------------------------------------------
@operation("StartRunBatch")
def start_run_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    batch, _ = emu.start_batch(p)
    return {"id": batch.id, "arn": batch.arn, "status": batch.status, "uuid": batch.uuid, "tags": batch.tags}


@operation("GetBatch")
def get_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    batch = emu.get_batch_or_404(p["batchId"])
    return {
        "id": batch.id,
        "arn": batch.arn,
        "uuid": batch.uuid,
        "name": batch.name,
        "status": batch.status,
        "tags": emu.tags.get(batch.arn, {}),
        "totalRuns": batch.total_runs,
        "defaultRunSetting": batch.default_run_setting,
        "submissionSummary": emu.submission_summary(batch),
        "runSummary": emu.run_summary(batch),
        "creationTime": batch.creation_time,
        "submittedTime": batch.submitted_time,
        "processedTime": batch.processed_time,
        "failedTime": batch.failed_time,
        # The guide's GetBatch example carries the human-readable message in failureReason.
        "failureReason": batch.failure_message,
    }


@operation("ListBatch")
def list_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    batches: list[Batch] = [b for b in emu.batches.values() if not b.deleted]
    if p.get("status"):
        batches = [b for b in batches if b.status == p["status"]]
    if p.get("name"):
        batches = [b for b in batches if b.name == p["name"]]
    if p.get("runGroupId"):
        batches = [b for b in batches if b.default_run_setting.get("runGroupId") == p["runGroupId"]]
    page, nxt = paginate(batches, p.get("startingToken"), p.get("maxItems"))
    return {
        "items": [
            {
                "id": b.id,
                "name": b.name,
                "status": b.status,
                "createdAt": b.creation_time,
                "totalRuns": b.total_runs,
                "workflowId": b.default_run_setting.get("workflowId"),
            }
            for b in page
        ],
        "nextToken": nxt,
    }


@operation("ListRunsInBatch")
def list_runs_in_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    filters = [k for k in ("submissionStatus", "runSettingId", "runId") if p.get(k)]
    if len(filters) > 1:
        raise ValidationException(f"Only one filter is supported per call, got {filters}")
    batch = emu.get_batch_or_404(p["batchId"])
    entries = [e for e in batch.entries if e.submission_status is not None]
    if p.get("submissionStatus"):
        entries = [e for e in entries if e.submission_status == p["submissionStatus"]]
    if p.get("runSettingId"):
        entries = [e for e in entries if e.run_setting_id == p["runSettingId"]]
    if p.get("runId"):
        entries = [e for e in entries if e.run_id == p["runId"]]
    page, nxt = paginate(entries, p.get("startingToken"), p.get("maxItems"))
    items = []
    for e in page:
        run = emu.runs.get(e.run_id or "")
        items.append(
            {
                "runSettingId": e.run_setting_id,
                "runId": e.run_id,
                "runInternalUuid": run.uuid if run else None,
                "runArn": run.arn if run else None,
                "submissionStatus": e.submission_status,
                "submissionFailureReason": e.submission_failure_reason,
                "submissionFailureMessage": e.submission_failure_message,
            }
        )
    return {"runs": items, "nextToken": nxt}


@operation("CancelRunBatch")
def cancel_run_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    emu.cancel_batch(emu.get_batch_or_404(p["batchId"]))
    return {}


@operation("DeleteRunBatch")
def delete_run_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    emu.delete_batch_runs(emu.get_batch_or_404(p["batchId"]))
    return {}


@operation("DeleteBatch")
def delete_batch(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    emu.delete_batch(emu.get_batch_or_404(p["batchId"]))
    return {}


# ---- tags --------------------------------------------------------------------------------------
def _tagged(emu: OmicsEmulator, arn: str) -> dict[str, str]:
    if arn not in emu.tags:
        raise ResourceNotFoundException(f"Resource {arn} not found")
    return emu.tags[arn]


@operation("TagResource")
def tag_resource(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    tags = _tagged(emu, p["resourceArn"])
    merged = {**tags, **p["tags"]}
    if ":run/" in p["resourceArn"] and len(merged) > 50:
        raise ValidationException("A run can have at most 50 tags")
    tags.update(p["tags"])
    return {}


@operation("UntagResource")
def untag_resource(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    tags = _tagged(emu, p["resourceArn"])
    for key in p["tagKeys"]:
        tags.pop(key, None)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(emu: OmicsEmulator, p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": dict(_tagged(emu, p["resourceArn"]))}
