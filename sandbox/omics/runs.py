"""Runs and tasks: StartRun validation and the run/task lifecycles on the virtual clock.

Guide sections: run lifecycle (실행 수명 주기), task lifecycle (작업 수명 주기), run failure reasons
(실행 실패 이유), re-running a run (HealthOmics에서 실행 다시 실행), run storage, call caching, and
"Working with HealthOmics runs" (HealthOmics 실행 사용): a run gets a run id and a run uuid, and
"HealthOmics reuses the IDs of deleted runs", so only the uuid tells two runs with one id apart.

Two behaviours a scenario switches on (attributes of the emulator, off by default):
- ``reuse_deleted_run_ids``: a new run takes the id of the most recently deleted run (with a new uuid);
- ``get_run_lag_seconds``: GetRun keeps answering a run's previous status for that many virtual seconds
  after a transition, while the event already says the new one (the API is eventually consistent);
- ``manifest_delay_seconds``: a terminal run's manifest (sandbox/omics/manifests.py) reaches CloudWatch
  Logs that many virtual seconds after its status event (the guide only says "after the run completes");
  ``None``: never written.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from botocore.exceptions import ClientError

from sandbox.omics.caching import task_cache_key
from sandbox.omics.core import EmulatorCore
from sandbox.omics.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from sandbox.omics.faults import NO_CACHE_REASONS, RunView
from sandbox.omics.specs import TaskSpec, service_instance_type
from sandbox.omics.state import RUN_TERMINAL, TASK_TERMINAL, Run, Task

MAX_PARAMETER_BYTES = 50_000
MAX_TAGS = 50
STATIC_MIN_GIB = 1200
STATIC_STEP_GIB = 2400
GIB = 1024**3


def round_static_capacity(requested: int | None) -> int:
    """Guide (run storage): 1,200 GiB minimum, otherwise rounded up to a multiple of 2,400 GiB."""
    if requested is None or requested <= STATIC_MIN_GIB:
        return STATIC_MIN_GIB
    return math.ceil(requested / STATIC_STEP_GIB) * STATIC_STEP_GIB


def parameters_size(parameters: dict[str, Any]) -> int:
    return len(json.dumps(parameters, separators=(",", ":")).encode())


class RunsMixin(EmulatorCore):
    reuse_deleted_run_ids: bool = False
    get_run_lag_seconds: float = 0.0
    manifest_delay_seconds: float | None = 0.0

    # ---- StartRun ------------------------------------------------------------------------------
    def start_run(
        self,
        req: dict[str, Any],
        *,
        batch_id: str | None = None,
        run_setting_id: str | None = None,
    ) -> tuple[Run, bool]:
        """Validate and create a run. Returns ``(run, created)``; False on a repeated requestId."""
        request_id = req["requestId"]
        existing = self.request_ids.get(("run", request_id))
        if existing is not None and existing in self.runs and self.runs[existing].request_id == request_id:
            return self.runs[existing], False

        source: Run | None = None
        if req.get("runId"):
            source = self.runs.get(req["runId"])
            if source is None or source.status == "DELETED":
                raise ResourceNotFoundException(f"Run {req['runId']} not found")
            workflow = source.workflow
            if req.get("workflowId") and req["workflowId"] != workflow.id:
                raise ValidationException("workflowId must match the workflow of the run given in runId")
        else:
            if not req.get("workflowId"):
                raise ValidationException("workflowId is required unless runId is given")
            wf = self.workflows.get(req["workflowId"])
            if wf is None or wf.status != "ACTIVE":
                raise ResourceNotFoundException(f"Workflow {req['workflowId']} not found")
            workflow = wf

        def pick(key: str, default: Any = None) -> Any:
            if req.get(key) is not None:
                return req[key]
            if source is not None:
                return getattr(source, _RUN_ATTR.get(key, key), default)
            return default

        output_uri = req["outputUri"]
        if not str(output_uri).startswith("s3://"):
            raise ValidationException(f"outputUri must be an s3:// URI, got {output_uri}")
        parameters = dict(pick("parameters", {}) or {})
        size = parameters_size(parameters)
        if size > MAX_PARAMETER_BYTES:
            raise ValidationException(
                f"Run parameters are {size} bytes, which exceeds the maximum of {MAX_PARAMETER_BYTES} bytes"
            )
        tags = dict(req.get("tags") or {})
        if len(tags) > MAX_TAGS:
            raise ValidationException(f"A run can have at most {MAX_TAGS} tags, got {len(tags)}")

        cache_id = pick("cacheId")
        cache_behavior = req.get("cacheBehavior")
        if cache_id is not None:
            cache = self.run_caches.get(cache_id)
            if cache is None or cache.status != "ACTIVE":
                raise ResourceNotFoundException(f"Run cache {cache_id} not found")
            if cache_behavior is None:
                cache_behavior = (
                    source.cache_behavior if source and source.cache_id == cache_id else None
                ) or (cache.cache_behavior)
        elif cache_behavior is not None:
            raise ValidationException("cacheBehavior requires cacheId")

        storage_type = pick("storageType") or workflow.storage_type or "STATIC"
        requested_capacity = req.get("storageCapacity")
        if storage_type == "DYNAMIC":
            if requested_capacity is not None:
                raise ValidationException("storageCapacity can only be set for STATIC run storage")
            capacity: int | None = None
        else:
            if requested_capacity is None and source is not None and source.storage_type == "STATIC":
                requested_capacity = source.storage_capacity
            capacity = round_static_capacity(requested_capacity or workflow.storage_capacity)

        self._make_room_for_a_run()

        if source is not None:
            attempt = source.attempt + 1
        elif run_setting_id is not None:
            attempt = self.setting_attempts[run_setting_id] + 1
        else:
            attempt = 1
        run_id = self._new_run_id()
        run = Run(
            id=run_id,
            arn=self.arn("run", run_id),
            uuid=self.new_uuid(),
            request_id=request_id,
            workflow=workflow,
            name=pick("name"),
            role_arn=req["roleArn"],
            output_uri=output_uri,
            parameters=parameters,
            tags=tags,
            priority=pick("priority"),
            storage_type=storage_type,
            storage_capacity=capacity,
            retention_mode=pick("retentionMode") or "RETAIN",
            log_level=pick("logLevel"),
            run_group_id=pick("runGroupId"),
            cache_id=cache_id,
            cache_behavior=cache_behavior,
            source_run_id=source.id if source else None,
            batch_id=batch_id,
            run_setting_id=run_setting_id,
            attempt=attempt,
            started_by=f"arn:aws:iam::{self.account_id}:user/sandbox",
            creation_time=self.now(),
            workflow_version_name=pick("workflowVersionName"),
            engine_settings=pick("engineSettings"),
        )
        view = RunView(
            run_id=run.id,
            name=run.name,
            run_setting_id=run_setting_id,
            batch_id=batch_id,
            workflow_id=workflow.id,
            parameters=parameters,
            attempt=attempt,
            source_run_id=run.source_run_id,
        )
        run.fault = self.faults.run_fault_for(view, self.fault_rng)
        self.runs[run.id] = run
        self.request_ids[("run", request_id)] = run.id
        if run_setting_id is not None:
            self.setting_attempts[run_setting_id] += 1
        self.tags[run.arn] = dict(tags)
        self._emit_run(run)
        self.schedule(self.timings.run_pending, lambda: self._run_starting(run))
        return run, True

    def _new_run_id(self) -> str:
        """A fresh id, or (``reuse_deleted_run_ids``) the id of the most recently deleted run: the guide
        says HealthOmics reuses the ids of deleted runs; the new run always gets a new uuid."""
        if self.reuse_deleted_run_ids:
            deleted = [r for r in self.runs.values() if r.status == "DELETED"]
            if deleted:
                return max(deleted, key=lambda r: (r.status_changed_at or r.creation_time, r.id)).id
        return self.new_id()

    def api_run_status(self, run: Run) -> str:
        """The status GetRun answers: the previous one while within ``get_run_lag_seconds`` of the last
        transition (the event already announced the new one)."""
        lagging = run.previous_status is not None and run.status_changed_at is not None and \
            (self.now() - run.status_changed_at).total_seconds() < self.get_run_lag_seconds
        return str(run.previous_status) if lagging else run.status

    def _make_room_for_a_run(self) -> None:
        """Max runs quota: REMOVE-mode terminal runs make room (oldest first); otherwise the call fails."""
        live = [r for r in self.runs.values() if r.status != "DELETED"]
        if len(live) < self.max_runs:
            return
        removable = sorted(
            (r for r in live if r.retention_mode == "REMOVE" and r.status in RUN_TERMINAL),
            key=lambda r: r.creation_time,
        )
        if not removable:
            raise ServiceQuotaExceededException(
                f"The account has reached its maximum of {self.max_runs} runs"
            )
        victim = removable[0]
        victim.previous_status, victim.status, victim.status_changed_at = victim.status, "DELETED", self.now()
        self.tags.pop(victim.arn, None)

    # ---- run lifecycle -------------------------------------------------------------------------
    def _emit_run(self, run: Run) -> None:
        self.emit(
            "Run Status Change",
            run.arn,
            {
                "arn": run.arn,
                "status": run.status,
                "uuid": run.uuid,
                "runId": run.id,
                "runName": run.name,
                "runOutputUri": run.run_output_uri,
                "workflowId": run.workflow.id,
                "workflowName": run.workflow.name,
            },
        )

    def _set_run_status(self, run: Run, status: str) -> None:
        run.previous_status, run.status, run.status_changed_at = run.status, status, self.now()
        self._emit_run(run)

    def _run_starting(self, run: Run) -> None:
        if run.ending or run.status != "PENDING":
            return
        self._set_run_status(run, "STARTING")
        fault = run.fault
        if fault is not None and fault.at_task is None:
            self.schedule(self.timings.run_starting, lambda: self._fail_while_starting(run))
        else:
            self.schedule(self.timings.run_starting, lambda: self._run_running(run))

    def _fail_while_starting(self, run: Run) -> None:
        if run.ending or run.status != "STARTING" or run.fault is None:
            return
        self._begin_end(run, "FAILED", run.fault.reason, run.fault.message)

    def _run_running(self, run: Run) -> None:
        if run.ending or run.status != "STARTING":
            return
        run.start_time = self.now()
        self._set_run_status(run, "RUNNING")
        self._schedule_ready_tasks(run)

    def _active_tasks(self, run: Run) -> list[Task]:
        return [t for t in run.tasks.values() if t.status not in TASK_TERMINAL]

    def _schedule_ready_tasks(self, run: Run) -> None:
        if run.ending:
            return
        active = len(self._active_tasks(run))
        for spec in run.workflow.spec.topological_order():
            if active >= self.timings.max_concurrent_tasks:
                break
            if spec.name in run.task_by_name:
                continue
            deps = [run.task_by_name.get(d) for d in spec.depends_on]
            if all(d is not None and d.status == "COMPLETED" for d in deps):
                self._create_task(run, spec, [d.cache_key for d in deps if d is not None])
                active += 1

    def _create_task(self, run: Run, spec: TaskSpec, upstream: list[str]) -> None:
        task_id = self.new_id()
        key = task_cache_key(run.workflow.id, spec.name, run.parameters, upstream)
        task = Task(id=task_id, uuid=self.new_uuid(), spec=spec, cache_key=key, creation_time=self.now(),
                    instance_type=service_instance_type(spec.cpus, spec.memory, spec.gpus, self.region))
        cache = self.run_caches.get(run.cache_id) if run.cache_id else None
        if cache is not None:
            entry = self.cache_store.lookup(cache, key)
            if entry is not None:
                task.cache_hit = True
                task.cache_s3_uri = entry.s3uri
        fault = run.fault
        task.will_fail = bool(fault and fault.at_task == spec.name and not task.cache_hit)
        run.tasks[task_id] = task
        run.task_by_name[spec.name] = task
        self._emit_task(run, task)
        self.schedule(self.timings.task_pending, lambda: self._task_step(run, task, "PENDING", "STARTING"))

    def _emit_task(self, run: Run, task: Task) -> None:
        arn = self.arn("task", task.id)
        self.emit(
            "Task Status Change",
            arn,
            {
                "arn": arn,
                "status": task.status,
                "runArn": run.arn,
                "runUuid": run.uuid,
                "runId": run.id,
                "runName": run.name,
                "workflowId": run.workflow.id,
                "workflowName": run.workflow.name,
            },
        )

    def _task_step(self, run: Run, task: Task, expected: str, to: str) -> None:
        """One normal task transition; stale callbacks (after a cancel or failure) are ignored."""
        if task.status != expected or task.cancel_requested:
            return
        task.status = to
        if to == "RUNNING":
            task.start_time = self.now()
        self._emit_task(run, task)
        if to == "STARTING":
            self.schedule(
                self.timings.task_starting, lambda: self._task_step(run, task, "STARTING", "RUNNING")
            )
        elif to == "RUNNING":
            duration = self.timings.cache_hit_running if task.cache_hit else task.spec.duration_seconds
            self.schedule(duration, lambda: self._task_step(run, task, "RUNNING", "STOPPING"))
        elif to == "STOPPING":
            self.schedule(self.timings.task_stopping, lambda: self._task_finish(run, task))

    def _task_finish(self, run: Run, task: Task) -> None:
        if task.status != "STOPPING" or task.cancel_requested:
            return
        task.stop_time = self.now()
        fault = run.fault
        if task.will_fail and fault is not None:
            task.status = "FAILED"
            task.failure_reason = fault.reason
            task.status_message = fault.message or f"Task {task.name} failed: {fault.reason}"
            self._emit_task(run, task)
            self._begin_end(run, "FAILED", fault.reason, fault.message)
            return
        written = sum(o.size_bytes for o in task.spec.outputs)
        capacity = run.storage_capacity
        over = capacity is not None and run.storage_used_bytes + written > capacity * GIB
        if run.storage_type == "STATIC" and over:
            task.status = "FAILED"
            task.failure_reason = "FILE_SYSTEM_OUT_OF_SPACE"
            task.status_message = "No space left on device"
            self._emit_task(run, task)
            message = f"The run used more than its {capacity} GiB of static run storage"
            self._begin_end(run, "FAILED", "FILE_SYSTEM_OUT_OF_SPACE", message)
            return
        run.storage_used_bytes += written
        task.status = "COMPLETED"
        self._emit_task(run, task)
        if len(run.task_by_name) == len(run.workflow.spec.tasks) and all(
            t.status == "COMPLETED" for t in run.task_by_name.values()
        ):
            self._begin_end(run, "COMPLETED", None, None)
        else:
            self._schedule_ready_tasks(run)

    # ---- ending a run --------------------------------------------------------------------------
    def _begin_end(self, run: Run, final: str, reason: str | None, message: str | None) -> None:
        """STOPPING: stop unfinished tasks, export cache entries, then the terminal status."""
        if run.ending:
            return
        run.ending = True
        for task in self._active_tasks(run):
            task.cancel_requested = True
            if task.status in ("PENDING", "STARTING"):
                task.status = "CANCELLED"
                task.stop_time = self.now()
                self._emit_task(run, task)
            else:
                task.status = "STOPPING"
                self._emit_task(run, task)
                self.schedule(self.timings.task_stopping, functools.partial(self._task_cancelled, run, task))
        self._set_run_status(run, "STOPPING")
        self.schedule(self.timings.run_stopping, lambda: self._run_terminal(run, final, reason, message))

    def _task_cancelled(self, run: Run, task: Task) -> None:
        if task.status != "STOPPING":
            return
        task.status = "CANCELLED"
        task.stop_time = self.now()
        self._emit_task(run, task)

    def _run_terminal(self, run: Run, final: str, reason: str | None, message: str | None) -> None:
        if run.status != "STOPPING":
            return
        self._export_cache(run, final, reason)
        run.stop_time = self.now()
        run.failure_reason = reason if final == "FAILED" else None
        if final == "FAILED":
            run.status_message = message or _FAILURE_MESSAGES.get(reason or "", reason)
        elif final == "CANCELLED":
            run.status_message = run.status_message or "Run cancelled"
        if self.manifest_delay_seconds == 0:
            self.manifests.write(run, final)  # before the status event: a consumer of the event finds it
        self._set_run_status(run, final)
        if self.manifest_delay_seconds:
            self.schedule(self.manifest_delay_seconds, lambda: self.manifests.write(run, final))
        if run.batch_id:
            self.on_batch_run_terminal(run.batch_id)

    def _export_cache(self, run: Run, final: str, reason: str | None) -> None:
        """Guide, call caching: CACHE_ON_FAILURE saves failed and cancelled runs, CACHE_ALWAYS every run;
        nothing for FILE_SYSTEM_OUT_OF_SPACE or run timeouts; only completed, computed tasks."""
        if not run.cache_id or reason in NO_CACHE_REASONS:
            return
        cache = self.run_caches.get(run.cache_id)
        if cache is None:
            return
        if final == "COMPLETED" and run.cache_behavior != "CACHE_ALWAYS":
            return
        try:
            for task in run.tasks.values():
                if task.status == "COMPLETED" and not task.cache_hit:
                    self.cache_store.export(cache, run, task)
        except ClientError as exc:
            run.status_message = f"Cache export failed: {exc.response.get('Error', {}).get('Code')}"

    def on_batch_run_terminal(self, batch_id: str) -> None:  # overridden by the batch layer
        return None

    # ---- CancelRun / DeleteRun -----------------------------------------------------------------
    def cancel_run(self, run: Run) -> None:
        if run.status in RUN_TERMINAL or run.ending:
            raise ConflictException(f"Run {run.id} is {run.status} and cannot be cancelled")
        run.status_message = "Run cancelled"
        self._begin_end(run, "CANCELLED", None, None)

    def delete_run(self, run: Run) -> None:
        if run.status not in RUN_TERMINAL:
            raise ConflictException(f"Run {run.id} is {run.status}; only terminal runs can be deleted")
        self._set_run_status(run, "DELETED")
        self.tags.pop(run.arn, None)

    def get_live_run(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None or run.status == "DELETED":
            raise ResourceNotFoundException(f"Run {run_id} not found")
        return run


_RUN_ATTR = {
    "name": "name",
    "parameters": "parameters",
    "priority": "priority",
    "storageType": "storage_type",
    "retentionMode": "retention_mode",
    "logLevel": "log_level",
    "runGroupId": "run_group_id",
    "cacheId": "cache_id",
    "workflowVersionName": "workflow_version_name",
    "engineSettings": "engine_settings",
}

_FAILURE_MESSAGES = {
    "SERVICE_ERROR": "An internal service error occurred. Retry the run.",
    "INSTANCE_RESERVATION_FAILED": "Not enough capacity to reserve an instance for a task. Retry later.",
    "MODIFIED_INPUT_RESOURCE": "An input resource was modified after the run started.",
    "FILE_SYSTEM_OUT_OF_SPACE": "The run storage file system ran out of space.",
    "RUN_TASK_FAILED": "A task of the run failed. See GetRunTask and the task logs.",
    "OUT_OF_MEMORY_ERROR": "A task ran out of memory.",
    "RUN_TIMED_OUT": "The run exceeded its maximum duration.",
}
