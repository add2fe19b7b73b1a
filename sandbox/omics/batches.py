"""Batch runs: StartRunBatch, progressive submission at the StartRun quota, cancel and delete.

Guide section: HealthOmics 배치 실행 (batch runs) — concepts, parameter merging, progressive
submission, monitoring, failure handling, cancel/delete preconditions, RunBatch events.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from sandbox.omics.caching import split_s3_uri
from sandbox.omics.errors import (
    ConflictException,
    OmicsError,
    ResourceNotFoundException,
    ValidationException,
)
from sandbox.omics.faults import RESUBMIT_FAILED_BATCH, RESUBMIT_SAME_BATCH
from sandbox.omics.model import service_model
from sandbox.omics.runs import RunsMixin
from sandbox.omics.state import BATCH_TERMINAL, RUN_TERMINAL, Batch, BatchEntry

# From botocore's model of StartRunBatch, as the service validates it.
_INLINE = service_model().operation_model("StartRunBatch").input_shape.members["batchRunSettings"]
_INLINE = _INLINE.members["inlineSettings"]
MAX_INLINE = int(_INLINE.metadata["max"])
MAX_RUNS_PER_BATCH = 100_000
PER_RUN_FIELDS = frozenset(_INLINE.member.members)  # what one run setting may set; the rest is the batch's
RUN_STATUS_COUNTS = {
    "PENDING": "pendingRunCount",
    "STARTING": "startingRunCount",
    "RUNNING": "runningRunCount",
    "STOPPING": "stoppingRunCount",
    "COMPLETED": "completedRunCount",
    "DELETED": "deletedRunCount",
    "FAILED": "failedRunCount",
    "CANCELLED": "cancelledRunCount",
}


def merge_setting(default: dict[str, Any], per_run: dict[str, Any]) -> dict[str, Any]:
    """Per-run fields override the defaults; ``parameters`` and ``runTags`` merge key by key."""
    merged = {k: v for k, v in default.items() if k not in ("parameters", "runTags")}
    for key, value in per_run.items():
        if key not in ("parameters", "runTags", "runSettingId"):
            merged[key] = value
    merged["parameters"] = {**(default.get("parameters") or {}), **(per_run.get("parameters") or {})}
    merged["runTags"] = {**(default.get("runTags") or {}), **(per_run.get("runTags") or {})}
    return merged


class BatchFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BatchesMixin(RunsMixin):
    # ---- StartRunBatch -------------------------------------------------------------------------
    def start_batch(self, req: dict[str, Any]) -> tuple[Batch, bool]:
        existing = self.request_ids.get(("batch", req["requestId"]))
        if existing is not None and existing in self.batches and not self.batches[existing].deleted:
            batch = self.batches[existing]
            # Guide (실패한 실행 처리 > 배치 수준 실패): a transient batch-level failure is retried by
            # resubmitting the same batch with the same requestId. Any other state: idempotent, as is.
            if batch.status != "FAILED" or self.faults.batch_resubmission == RESUBMIT_FAILED_BATCH:
                return batch, False
            if self.faults.batch_resubmission == RESUBMIT_SAME_BATCH:
                self._restart_batch(batch, req)
                return batch, True
            # RESUBMIT_NEW_BATCH: a new batch for the same request (the failed one keeps its record)
        default = dict(req["defaultRunSetting"])
        settings = req["batchRunSettings"]
        inline = settings.get("inlineSettings")
        s3_uri = settings.get("s3UriSettings")
        if (inline is None) == (s3_uri is None):
            raise ValidationException("batchRunSettings needs exactly one of inlineSettings or s3UriSettings")
        if inline is not None and len(inline) > MAX_INLINE:
            raise ValidationException(
                f"inlineSettings has {len(inline)} entries but at most {MAX_INLINE} are allowed; "
                "use s3UriSettings"
            )
        if inline is not None and not inline:
            raise ValidationException("inlineSettings must not be empty")
        wf = self.workflows.get(default.get("workflowId", ""))
        if wf is None or wf.status != "ACTIVE":
            raise ResourceNotFoundException(f"Workflow {default.get('workflowId')} not found")
        if default.get("cacheId") and default["cacheId"] not in self.run_caches:
            raise ResourceNotFoundException(f"Run cache {default['cacheId']} not found")
        if default.get("cacheBehavior") and not default.get("cacheId"):
            raise ValidationException("cacheBehavior requires cacheId")
        etag = None
        if s3_uri is not None:
            etag = self._settings_etag(s3_uri)
            if etag is None:
                raise ValidationException(f"Unable to access s3UriSettings {s3_uri}")
        batch_id = self.new_id()
        batch = Batch(
            id=batch_id,
            arn=self.arn("runBatch", batch_id),
            uuid=self.new_uuid(),
            name=req.get("batchName"),
            request_id=req["requestId"],
            tags=dict(req.get("tags") or {}),
            default_run_setting=default,
            inline_settings=list(inline) if inline is not None else None,
            s3_uri_settings=s3_uri,
            s3_etag=etag,
            creation_time=self.now(),
        )
        if inline is not None:
            batch.total_runs = len(inline)
        self.batches[batch_id] = batch
        self.request_ids[("batch", batch.request_id)] = batch_id
        self.tags[batch.arn] = dict(batch.tags)
        self._emit_batch(batch)
        self.schedule(self.timings.batch_creating, lambda: self._batch_pending(batch))
        return batch, True

    def _restart_batch(self, batch: Batch, req: dict[str, Any]) -> None:
        """The SAME_BATCH answer: the failed batch goes back through validation and submission, same id."""
        settings = req["batchRunSettings"]
        s3_uri = settings.get("s3UriSettings")
        etag = self._settings_etag(s3_uri) if s3_uri is not None else None
        if s3_uri is not None and etag is None:
            raise ValidationException(f"Unable to access s3UriSettings {s3_uri}")
        inline = settings.get("inlineSettings")
        batch.inline_settings = list(inline) if inline is not None else None
        batch.s3_uri_settings, batch.s3_etag = s3_uri, etag
        batch.entries, batch.next_submission = [], 0
        batch.failure_reason = batch.failure_message = None
        batch.failed_time = None
        self._set_batch_status(batch, "PENDING")
        self.schedule(self.timings.batch_validating, lambda: self._batch_validate(batch))

    def _settings_etag(self, s3_uri: str) -> str | None:
        if self.s3 is None:
            return None
        try:
            bucket, key = split_s3_uri(s3_uri)
            return str(self.s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
        except (ClientError, ValueError):
            return None

    def _load_settings(self, batch: Batch) -> list[Any]:
        if batch.inline_settings is not None:
            return batch.inline_settings
        assert batch.s3_uri_settings is not None
        bucket, key = split_s3_uri(batch.s3_uri_settings)
        if self.s3 is None:
            raise BatchFailed("VALIDATION_EXCEPTION", "the emulator has no S3 client to read s3UriSettings")
        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise BatchFailed("VALIDATION_EXCEPTION", f"Unable to read s3UriSettings: {exc}") from exc
        etag = str(obj["ETag"]).strip('"')
        self._check_etag(batch, etag)
        try:
            doc = json.loads(obj["Body"].read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BatchFailed("VALIDATION_EXCEPTION", "Invalid JSON format in run configurations") from exc
        if not isinstance(doc, list):
            raise BatchFailed(
                "VALIDATION_EXCEPTION", "Invalid JSON format in run configurations: expected an array"
            )
        return doc

    def _check_etag(self, batch: Batch, etag: str | None) -> None:
        if batch.s3_uri_settings is not None and etag != batch.s3_etag:
            raise BatchFailed(
                "VALIDATION_EXCEPTION",
                f'Expected s3UriConfigs etag: "{batch.s3_etag}" but was: "{etag}". '
                "s3UriConfigs was changed after calling StartRunBatch.",
            )

    # ---- asynchronous lifecycle ----------------------------------------------------------------
    def _set_batch_status(self, batch: Batch, status: str) -> None:
        batch.status = status
        self._emit_batch(batch)

    def _batch_pending(self, batch: Batch) -> None:
        if batch.status != "CREATING":
            return
        self._set_batch_status(batch, "PENDING")
        self.schedule(self.timings.batch_validating, lambda: self._batch_validate(batch))

    def _fail_batch(self, batch: Batch, reason: str, message: str) -> None:
        batch.failure_reason = reason
        batch.failure_message = message
        batch.failed_time = self.now()
        self._set_batch_status(batch, "FAILED")

    def _batch_validate(self, batch: Batch) -> None:
        if batch.status != "PENDING":
            return
        try:
            fault = self.faults.batch_fault_for(batch.id, batch.name)
            if fault is not None:
                raise BatchFailed(fault.reason, fault.message)
            settings = self._load_settings(batch)
            batch.total_runs = len(settings)
            if len(settings) > MAX_RUNS_PER_BATCH:
                raise BatchFailed(
                    "VALIDATION_EXCEPTION",
                    f"Batch has {len(settings)} runs but {MAX_RUNS_PER_BATCH} runs is the max.",
                )
            if not settings:
                raise BatchFailed("VALIDATION_EXCEPTION", "Batch has no run settings")
            for entry in settings:
                if not isinstance(entry, dict) or not entry.get("runSettingId"):
                    raise BatchFailed("VALIDATION_EXCEPTION", "Every run setting needs a runSettingId")
                extra = sorted(set(entry) - PER_RUN_FIELDS)
                if extra:
                    raise BatchFailed(
                        "VALIDATION_EXCEPTION",
                        f"Run setting {entry['runSettingId']} sets batch-level field(s) {extra}; "
                        f"only {sorted(PER_RUN_FIELDS)} can be set per run",
                    )
            unique = len({e["runSettingId"] for e in settings})
            if unique != len(settings):
                raise BatchFailed(
                    "VALIDATION_EXCEPTION",
                    f"Expected {len(settings)} unique runSettingIds but there were {unique}",
                )
        except BatchFailed as failed:
            self._fail_batch(batch, failed.reason, failed.message)
            return
        batch.entries = [
            BatchEntry(e["runSettingId"], merge_setting(batch.default_run_setting, e)) for e in settings
        ]
        self._set_batch_status(batch, "SUBMITTING")
        self.schedule(0, lambda: self._batch_submit_tick(batch))

    def _pace(self) -> tuple[int, float]:
        tps = self.faults.start_run_tps
        if tps >= 1:
            return max(1, round(tps)), 1.0
        return 1, 1.0 / max(tps, 1e-6)

    def _batch_submit_tick(self, batch: Batch) -> None:
        if batch.status != "SUBMITTING":
            return
        if batch.s3_uri_settings is not None:
            try:
                self._check_etag(batch, self._settings_etag(batch.s3_uri_settings))
            except BatchFailed as failed:
                self._fail_batch(batch, failed.reason, failed.message)
                return
        per_tick, interval = self._pace()
        for _ in range(per_tick):
            if batch.next_submission >= len(batch.entries):
                break
            self._submit(batch, batch.entries[batch.next_submission])
            batch.next_submission += 1
        if batch.next_submission >= len(batch.entries):
            batch.submitted_time = self.now()
            self._set_batch_status(batch, "INPROGRESS")
            self._maybe_finish_batch(batch)
        else:
            self.schedule(interval, lambda: self._batch_submit_tick(batch))

    def _submit(self, batch: Batch, entry: BatchEntry) -> None:
        fault = self.faults.submission_fault_for(batch.id, entry.run_setting_id)
        if fault is not None:
            entry.submission_status = "FAILED"
            entry.submission_failure_reason = fault.reason
            entry.submission_failure_message = fault.message
            return
        setting = entry.setting
        req = {k: v for k, v in setting.items() if k != "runTags"}
        req["tags"] = setting.get("runTags") or {}
        req["requestId"] = f"batch-{batch.id}-{entry.run_setting_id}"
        if not req.get("outputUri"):
            entry.submission_status = "FAILED"
            entry.submission_failure_reason = "ValidationException"
            entry.submission_failure_message = "outputUri is required"
            return
        try:
            run, _ = self.start_run(req, batch_id=batch.id, run_setting_id=entry.run_setting_id)
        except OmicsError as err:
            entry.submission_status = "FAILED"
            entry.submission_failure_reason = err.code
            entry.submission_failure_message = err.message
            return
        entry.submission_status = "SUCCESS"
        entry.run_id, entry.run_uuid = run.id, run.uuid

    def on_batch_run_terminal(self, batch_id: str) -> None:
        batch = self.batches.get(batch_id)
        if batch is not None:
            self._maybe_finish_batch(batch)

    def entry_run(self, entry: BatchEntry) -> Any | None:
        """The run an entry created; None once its id is another run's (guide: the ids of deleted runs are
        reused, the uuid tells the runs apart): the entry's own run was deleted."""
        run = self.runs.get(entry.run_id or "")
        return run if run is not None and run.uuid == entry.run_uuid else None

    def batch_runs(self, batch: Batch) -> list[Any]:
        return [run for e in batch.entries if e.run_id and (run := self.entry_run(e)) is not None]

    def _maybe_finish_batch(self, batch: Batch) -> None:
        if batch.status not in ("INPROGRESS", "STOPPING"):
            return
        if all(r.status in RUN_TERMINAL for r in self.batch_runs(batch)):
            if batch.status == "INPROGRESS":
                batch.processed_time = self.now()
                self._set_batch_status(batch, "PROCESSED")
            else:
                self._set_batch_status(batch, "CANCELLED")

    # ---- cancel / delete -----------------------------------------------------------------------
    def cancel_batch(self, batch: Batch) -> None:
        if batch.status not in ("PENDING", "SUBMITTING", "INPROGRESS"):
            raise ConflictException(
                f"Batch {batch.id} is {batch.status}; "
                "only PENDING, SUBMITTING or INPROGRESS batches can be cancelled"
            )
        self._set_batch_status(batch, "STOPPING")  # not-yet-submitted entries are never submitted
        for entry in batch.entries:
            run = self.entry_run(entry)
            if run is None or run.status in RUN_TERMINAL or run.ending:
                continue
            self.cancel_run(run)
            entry.submission_status = "CANCEL_SUCCESS"
            batch.successful_cancel += 1
        self._maybe_finish_batch(batch)

    def delete_batch_runs(self, batch: Batch) -> None:
        if batch.status not in ("PROCESSED", "CANCELLED"):
            raise ConflictException(
                f"Batch {batch.id} is {batch.status}; "
                "runs can only be deleted from PROCESSED or CANCELLED batches"
            )
        self._set_batch_status(batch, "RUNS_DELETING")
        self.schedule(1.0, lambda: self._delete_tick(batch, 0))

    def _delete_tick(self, batch: Batch, index: int) -> None:
        per_tick, interval = self._pace()
        entries = [e for e in batch.entries if e.run_id]
        for entry in entries[index : index + per_tick]:
            run = self.entry_run(entry)
            if run is None or run.status == "DELETED":  # None: deleted, its id since reused
                entry.submission_status = "DELETE_SUCCESS"
                batch.successful_delete += 1
                continue
            try:
                self.delete_run(run)
            except OmicsError as err:
                entry.submission_status = "DELETE_FAILED"
                entry.submission_failure_reason = err.code
                entry.submission_failure_message = err.message
                batch.failed_delete += 1
            else:
                entry.submission_status = "DELETE_SUCCESS"
                batch.successful_delete += 1
        index += per_tick
        if index < len(entries):
            self.schedule(interval, lambda: self._delete_tick(batch, index))
        else:
            self._set_batch_status(batch, "RUNS_DELETE_FAILED" if batch.failed_delete else "RUNS_DELETED")

    def delete_batch(self, batch: Batch) -> None:
        if batch.status not in BATCH_TERMINAL:
            raise ConflictException(
                f"Batch {batch.id} is {batch.status}; only terminal batches can be deleted"
            )
        batch.deleted = True
        self.tags.pop(batch.arn, None)

    def get_batch_or_404(self, batch_id: str) -> Batch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.deleted:
            raise ResourceNotFoundException(f"Batch {batch_id} not found")
        return batch

    # ---- summaries and events ------------------------------------------------------------------
    def submission_summary(self, batch: Batch) -> dict[str, int]:
        started = sum(1 for e in batch.entries if e.run_id)
        failed = sum(1 for e in batch.entries if e.submission_status == "FAILED")
        total = batch.total_runs if batch.total_runs is not None else 0
        pending = 0 if batch.status == "FAILED" and not batch.entries else max(0, total - started - failed)
        return {
            "successfulStartSubmissionCount": started,
            "failedStartSubmissionCount": failed,
            "pendingStartSubmissionCount": pending,
            "successfulCancelSubmissionCount": batch.successful_cancel,
            "failedCancelSubmissionCount": batch.failed_cancel,
            "successfulDeleteSubmissionCount": batch.successful_delete,
            "failedDeleteSubmissionCount": batch.failed_delete,
        }

    def run_summary(self, batch: Batch) -> dict[str, int]:
        counts = Counter(r.status for r in self.batch_runs(batch))
        # A member whose id another run took was deleted (its own run is no longer in `runs`).
        counts["DELETED"] += sum(1 for e in batch.entries if e.run_id and self.entry_run(e) is None)
        return {field: counts.get(status, 0) for status, field in RUN_STATUS_COUNTS.items()}

    def _emit_batch(self, batch: Batch) -> None:
        default = batch.default_run_setting
        wf = self.workflows.get(default.get("workflowId", ""))
        detail: dict[str, Any] = {
            "arn": batch.arn,
            "batchId": batch.id,
            "status": batch.status,
            "uuid": batch.uuid,
            "batchName": batch.name,
            "totalRuns": str(batch.total_runs) if batch.total_runs is not None else None,
        }
        sub = self.submission_summary(batch)
        for key in (
            "successfulStartSubmissionCount",
            "failedStartSubmissionCount",
            "pendingStartSubmissionCount",
        ):
            detail[key] = str(sub[key])
        detail.update({k: str(v) for k, v in self.run_summary(batch).items()})
        detail.update(
            {
                "workflowId": default.get("workflowId"),
                "workflowArn": wf.arn if wf else None,
                "workflowVersionArn": (
                    f"{wf.arn}/version/{default['workflowVersionName']}"
                    if wf and default.get("workflowVersionName")
                    else None
                ),
                "workflowOwnerId": default.get("workflowOwnerId"),
                "runCache": self.arn("runCache", default["cacheId"]) if default.get("cacheId") else None,
                "runCacheBehavior": default.get("cacheBehavior") if default.get("cacheId") else None,
            }
        )
        if batch.status == "FAILED":
            detail["failureReason"] = batch.failure_reason
            detail["failureMessage"] = batch.failure_message
        self.emit("RunBatch Status Change", batch.arn, detail)
