"""The launcher: a sample sheet becomes exactly one HealthOmics batch, or a REJECTED submission.

Flow for one sheet (uploaded to S3 or sent directly):
  identity (source + SHA-256 of the bytes) -> already SUBMITTED? done, zero calls
  -> lease (one invocation works on a submission at a time) -> parse + validate everything
  -> errors: REJECTED record with every error, `<sheet>.errors.json`, metric, alarm; zero HealthOmics calls
  -> plan: inline (≤ 100 small runs) or a content-addressed settings file written once, by streaming
  -> ACCEPTED record -> shared.batch_submit.start_batch (requestId from the identity) -> SUBMITTED.
A batch that FAILs as a whole (RunBatch Status Change FAILED) is resubmitted unchanged, with the same
requestId, when its failure is transient; otherwise the failure is recorded and alarmed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import IO, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from launcher.config import ERRORS_SUFFIX, LauncherConfig
from launcher.plan import Plan, SheetIdentity, build_plan, settings_chunks, sha256_hex
from launcher.policy import SETTING_MAX_BYTES
from launcher.sheet import SheetError, SheetFormat, detect_format, parse
from launcher.store import LauncherStore, SettingsFileMismatch, SheetTooLarge, SheetUnreadable
from launcher.validation import Validated, validate
from shared.batch_submit import BatchRejected, RequestTooLarge, is_transient, resubmit_batch, start_batch
from shared.clock import utc_now
from shared.errors import RetryableError
from shared.events import RunBatchStatusChange
from shared.observability import logger
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time

MAX_RECORDED_ERRORS = 100
LEASE_SECONDS = 900
MAX_RESUBMISSIONS = 3

# Batch-level failure reasons the guide calls transient ("the service encountered a temporary error;
# retry the batch"): resubmit the same request with the same requestId. Validation failures and a settings
# file that changed after submission are not resubmitted (the second cannot happen to our
# content-addressed files unless someone overwrote one: that needs a person).
TRANSIENT_REASONS = frozenset({
    "INTERNAL_SERVER_EXCEPTION", "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR_EXCEPTION", "INTERNAL_ERROR",
    "SERVICE_ERROR", "SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE_EXCEPTION", "THROTTLING_EXCEPTION",
    "REQUEST_TIMEOUT_EXCEPTION", "TRANSIENT_ERROR",
})
_TRANSIENT_MESSAGE = re.compile(r"\b(transient|temporary|temporarily|retry the batch)\b", re.IGNORECASE)
_SETTINGS_CHANGED = re.compile(r"s3UriConfigs|changed after calling StartRunBatch", re.IGNORECASE)


def classify_batch_failure(reason: str | None, message: str | None) -> str:
    """TRANSIENT | SETTINGS_CHANGED | VALIDATION | UNKNOWN (only TRANSIENT is resubmitted)."""
    text = message or ""
    if _SETTINGS_CHANGED.search(text) or _SETTINGS_CHANGED.search(reason or ""):
        return "SETTINGS_CHANGED"
    normalized = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", reason or "")
    normalized = re.sub(r"[^A-Za-z0-9]+", "_", normalized).strip("_").upper()
    if normalized in TRANSIENT_REASONS:
        return "TRANSIENT"
    if normalized.startswith("VALIDATION"):
        return "VALIDATION"
    if _TRANSIENT_MESSAGE.search(text):
        return "TRANSIENT"
    return "UNKNOWN"


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Parsing a sheet allocates a few containers per row and frees none until the end: the cyclic
    collector would walk them again and again (29 % of a 100,000-row CSV sheet) to find no cycle.
    Reference counting still frees everything; the collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class LaunchOutcome:
    """What happened to one sheet (returned to the CLI, logged, asserted in tests)."""

    submission_id: str
    status: str  # SUBMITTED | REJECTED | DUPLICATE | VALID (dry run) | IN_PROGRESS
    sheet: str
    request_id: str
    run_count: int = 0
    batch_id: str | None = None
    inline: bool | None = None
    settings_uri: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_report: str | None = None
    attempt: int | None = None  # a launch after the sheet's batch failed as a whole: 2, 3, ...

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class BatchFailureOutcome:
    batch_id: str
    kind: str  # TRANSIENT | SETTINGS_CHANGED | VALIDATION | UNKNOWN | NOT_OURS | IGNORED
    action: str  # RESUBMITTED | ALREADY_HANDLED | RECORDED | GAVE_UP | NONE
    new_batch_id: str | None = None


class Launcher:
    def __init__(
        self,
        repository: ProvenanceRepository,
        store: LauncherStore,
        omics: Callable[[], Any],
        config: LauncherConfig,
        alarm_topic_arn: str | None = None,
        *,
        metric: Callable[[str, float], None] = lambda name, value: None,
        now: Callable[[], datetime] = utc_now,
        owner: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repository = repository
        self.store = store
        self._omics_factory = omics
        self._omics: Any = None
        self.config = config
        self.alarm_topic_arn = alarm_topic_arn
        self.metric = metric
        self.now = now
        self.owner = owner or uuid.uuid4().hex
        self.sleep = sleep

    @property
    def omics(self) -> Any:
        if self._omics is None:
            self._omics = self._omics_factory()
        return self._omics

    # ------------------------------------------------------------------------------- entry points
    def launch_object(self, bucket: str, key: str, version_id: str | None = None) -> LaunchOutcome | None:
        """A sheet uploaded to S3 (EventBridge Object Created). None when the object is not a sheet."""
        if key.endswith(ERRORS_SUFFIX) or not key.startswith(self.config.submissions_prefix):
            logger.info("not a sample sheet; ignored")  # no key: sheet names can carry identifiers
            return None
        limit = self.config.max_sheet_bytes
        try:
            try:
                obj = self.store.read_sheet(bucket, key, version_id, limit)
            except SheetUnreadable:
                decoded = unquote_plus(key)
                if decoded == key:
                    raise
                key = decoded  # keys in some notifications arrive URL-encoded
                obj = self.store.read_sheet(bucket, key, version_id, limit)
        except SheetTooLarge as large:
            # Identified by what S3 says of the object (its bytes are never read): the same object, the same id.
            marker = sha256_hex(f"too-large\n{large.etag}\n{large.size}".encode())
            identity = SheetIdentity("s3", marker, bucket=bucket, key=key, version_id=large.version_id,
                                     name=key.rsplit("/", 1)[-1])
            return self._launch(b"", identity, "csv", report=(bucket, key + ERRORS_SUFFIX),
                                refused=self._too_large(large.size))
        identity = SheetIdentity("s3", obj.sha256, bucket=bucket, key=key, version_id=obj.version_id,
                                 name=key.rsplit("/", 1)[-1])
        with obj.body as body:  # parsed from the file as it is read: its bytes are never held whole
            return self._launch(body, identity, detect_format(key, body), report=(bucket, key + ERRORS_SUFFIX))

    def _too_large(self, size: int) -> SheetError:
        return SheetError(None, None, f"sheet is {size} bytes; at most {self.config.max_sheet_bytes} "
                                      f"({SETTING_MAX_BYTES})")

    def launch_document(self, document: str | bytes | Mapping[str, Any], name: str | None = None,
                        fmt: SheetFormat | None = None, dry_run: bool = False) -> LaunchOutcome:
        """A sheet sent directly (CLI `submit`): CSV/JSON text, or an already parsed JSON sheet."""
        if isinstance(document, Mapping):
            data = json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
            fmt = "json"
        else:
            data = document.encode() if isinstance(document, str) else document
        identity = SheetIdentity("direct", sha256_hex(data), name=name)
        refused = self._too_large(len(data)) if len(data) > self.config.max_sheet_bytes else None
        return self._launch(data, identity, fmt or detect_format(name, data), report=None, dry_run=dry_run,
                            refused=refused)

    # ------------------------------------------------------------------------------------ one sheet
    def _launch(self, data: bytes | IO[bytes], identity: SheetIdentity, fmt: SheetFormat,
                report: tuple[str, str] | None, dry_run: bool = False,
                refused: SheetError | None = None) -> LaunchOutcome:
        """`refused`: the sheet is rejected without being read (over the size cap)."""
        submission_id = identity.submission_id
        outcome = LaunchOutcome(submission_id, "", identity.label, identity.request_id)
        existing = None if dry_run else self.repository.get_submission(submission_id)
        attempt = launch_attempt(existing, identity)
        if attempt is None:
            assert existing is not None
            logger.info("sheet already submitted; nothing to do",
                        extra={"submission_id": submission_id, "batch_id": existing.get("batch_id")})
            self.metric("DuplicateSheets", 1)
            outcome.status, outcome.batch_id = "DUPLICATE", existing.get("batch_id")
            outcome.run_count = int(existing.get("run_count", 0))
            if existing.get("status") == "SUBMITTED":  # in case a stop came between start and report
                self._supersede_report(report, outcome, identity)
            return outcome
        if attempt > 1:
            outcome.attempt, outcome.request_id = attempt, identity.request_id_for(attempt)
        lease = f"submission-{submission_id}"
        if not dry_run and not self.repository.acquire_lease(lease, self.owner, self._epoch(), LEASE_SECONDS):
            raise RetryableError(f"submission {submission_id} is being launched by another invocation")
        try:
            if refused is not None:
                return self._reject(outcome, identity, [refused], report, existing, dry_run)
            validated = self._validate(data, fmt, submission_id)
            del data
            outcome.run_count = validated.run_count
            if not validated.ok:
                return self._reject(outcome, identity, validated.errors, report, existing, dry_run)
            inherited = self._inherited_storage_problem(validated.default_run_setting)
            if inherited is not None:
                return self._reject(outcome, identity, [inherited], report, existing, dry_run)
            plan = build_plan(validated, identity, self.config.settings_prefix, attempt=attempt)
            outcome.inline = plan.inline
            if dry_run:
                outcome.status = "VALID"
                if not plan.inline:
                    outcome.settings_uri = f"s3://{self._settings_bucket(identity)}/{plan.settings_key}"
                return outcome
            return self._submit(outcome, identity, validated, plan, report, existing)
        finally:
            if not dry_run:
                self.repository.release_lease(lease, self.owner)

    def _validate(self, data: bytes | IO[bytes], fmt: SheetFormat, submission_id: str) -> Validated:
        with without_cyclic_gc():
            sheet = parse(data, fmt)
            return validate(sheet, self.config.default_run_setting(), submission_id, self.config.policy())

    def _inherited_storage_problem(self, settings: Mapping[str, Any]) -> SheetError | None:
        """A sheet that names no storageType (nor does the deployment) runs with its workflow's own default
        (CreateWorkflow / CreateWorkflowVersion take a storageType and a storageCapacity, botocore's omics model),
        which may be DYNAMIC or a STATIC capacity over the cap: bounded as a sheet's choice would be. One
        GetWorkflow (or GetWorkflowVersion) a sheet that leaves either to the workflow."""
        policy = self.config.policy()
        own_capacity = settings.get("storageCapacity") is not None
        if settings.get("storageType") or (own_capacity and policy.dynamic_storage):
            return None
        workflow, version = str(settings["workflowId"]), settings.get("workflowVersionName")
        owner = {"workflowOwnerId": settings["workflowOwnerId"]} if settings.get("workflowOwnerId") else {}
        kind = {"type": settings["workflowType"]} if settings.get("workflowType") else {}
        named = f"workflow {workflow}" + (f" version {version}" if version else "")
        try:
            described = (self.omics.get_workflow_version(workflowId=workflow, versionName=version, **kind, **owner)
                         if version else self.omics.get_workflow(id=workflow, **kind, **owner))
        except ClientError as error:
            operation = "GetWorkflowVersion" if version else "GetWorkflow"
            code = str(error.response.get("Error", {}).get("Code", ""))
            if is_transient(error):  # as StartRunBatch's answers are judged
                raise RetryableError(f"{operation}: {code}") from error
            message = error.response.get("Error", {}).get("Message", "")
            return SheetError(None, "workflowVersionName" if version else "workflowId",
                              f"{named}: HealthOmics refused {operation}: {code}: {message}".rstrip(": "))
        storage_type = str(described.get("storageType") or "STATIC")  # the service's default (the guide)
        problem = policy.storage_type_problem(storage_type)
        if problem is not None:
            return SheetError(None, "storageType", f"{named} runs with {storage_type} storage unless told "
                                                   f"otherwise: {problem}; name storageType STATIC and a "
                                                   "storageCapacity")
        capacity = described.get("storageCapacity")
        if storage_type != "STATIC" or own_capacity or not isinstance(capacity, int):
            return None
        problem = policy.storage_problem(capacity)
        if problem is None:
            return None
        return SheetError(None, "storageCapacity", f"{named} runs with its own STATIC storage unless told otherwise: "
                                                   f"{problem}; name a storageCapacity within the cap")

    def _submit(self, outcome: LaunchOutcome, identity: SheetIdentity, validated: Validated, plan: Plan,
                report: tuple[str, str] | None, existing: Mapping[str, Any] | None) -> LaunchOutcome:
        submission_id = identity.submission_id
        bucket = self._settings_bucket(identity)
        request = plan.with_settings_uri(bucket)
        recorded_at = iso_time(self.now())
        settings_uri = None if plan.inline else str(request["batchRunSettings"]["s3UriSettings"])
        attempt = outcome.attempt or 1
        facts: dict[str, Any] = {
            "sheet": identity.as_dict(), "run_count": plan.run_count, "request_id": request["requestId"],
            "inline": plan.inline, "settings_uri": settings_uri, "recorded_at": recorded_at}
        if identity.version_id is not None:
            facts["launched_versions"] = list(dict.fromkeys([*launched_versions(existing), identity.version_id]))
        accepted = self.repository.record_submission(submission_id, "ACCEPTED", recorded_at, facts, attempt=attempt)
        if existing and existing.get("status") == "FAILED" and not accepted.applied:
            # Another invocation took this attempt since `existing` was read: its record decides, next delivery.
            raise RetryableError(f"submission {submission_id}: launch attempt {attempt} already taken")
        if not plan.inline:
            assert plan.settings_key is not None and plan.settings_sha256 is not None
            try:
                created = self.store.put_once(bucket, plan.settings_key, settings_chunks(validated.encoded),
                                              plan.settings_sha256)
            except SettingsFileMismatch as mismatch:
                self.metric("SettingsFileMismatches", 1)
                return self._reject(outcome, identity, [SheetError(None, None, str(mismatch))], report, existing,
                                    dry_run=False)
            # Not its URI: an S3 location in the logs (the ACCEPTED record and the batch's request keep it).
            logger.info("settings file ready", extra={"submission_id": submission_id, "file_created": created,
                                                      "bytes": plan.settings_bytes, "runs": plan.run_count})
        try:
            batch_id = start_batch(self.omics, self.repository, request, "launcher", submission_id,
                                   attributes={"sheet": identity.as_dict(), "run_count": plan.run_count},
                                   submission_attempt=attempt, sleep=self.sleep, now=self.now)
        except RequestTooLarge as too_large:  # refused before the service was called: not HealthOmics' answer
            return self._reject(outcome, identity, [SheetError(None, None, too_large.message)], report, existing,
                                dry_run=False)
        except BatchRejected as rejected:
            error = SheetError(None, None, f"HealthOmics refused the batch: {rejected.code}: {rejected.message}")
            return self._reject(outcome, identity, [error], report, existing, dry_run=False)
        self.metric("SheetsSubmitted", 1)
        self.metric("RunsSubmitted", plan.run_count)
        outcome.status, outcome.batch_id = "SUBMITTED", batch_id
        outcome.settings_uri = settings_uri
        self._supersede_report(report, outcome, identity)
        return outcome

    def _supersede_report(self, report: tuple[str, str] | None, outcome: LaunchOutcome,
                          identity: SheetIdentity) -> None:
        """A sheet fixed in place (same key) and launched must not keep an earlier version's REJECTED report
        beside it: a user or the lab's automation would take the fixed sheet for refused and upload it again
        (a second batch of the same samples). The report is replaced by one naming the launched submission and
        batch; not deleted: the launcher deletes nothing in the submissions bucket (its IAM policy). The same
        submission's own rejection is stale too (the same bytes refused for a cause outside the sheet, then
        launched once it was fixed): only a report already naming this launch is left as it is."""
        if report is None:
            return
        stale = self.store.read_report(*report)
        if stale is None or (stale.get("submission_id"), stale.get("status"), stale.get("batch_id")) == (
                outcome.submission_id, "SUBMITTED", outcome.batch_id):
            return
        self.store.put_report(report[0], report[1], {
            **_report_sheet(identity), "submission_id": outcome.submission_id, "status": "SUBMITTED",
            "batch_id": outcome.batch_id, "error_count": 0, "errors": [],
            "supersedes": {"submission_id": stale.get("submission_id"), "status": stale.get("status")}})

    def _reject(self, outcome: LaunchOutcome, identity: SheetIdentity, errors: list[SheetError],
                report: tuple[str, str] | None, existing: Mapping[str, Any] | None, dry_run: bool) -> LaunchOutcome:
        outcome.status = "REJECTED"
        outcome.errors = [e.as_dict() for e in errors]
        if dry_run:
            return outcome
        digest = hashlib.sha256(json.dumps(outcome.errors, sort_keys=True).encode()).hexdigest()
        body = {**_report_sheet(identity), "submission_id": outcome.submission_id, "status": "REJECTED",
                "error_count": len(errors), "errors": outcome.errors}
        if report:
            self.store.put_report(report[0], report[1], body)
            outcome.errors_report = f"s3://{report[0]}/{report[1]}"
        now = iso_time(self.now())
        self.repository.record_submission(outcome.submission_id, "REJECTED", now, {
            "sheet": identity.as_dict(), "request_id": outcome.request_id, "error_count": len(errors),
            "errors": outcome.errors[:MAX_RECORDED_ERRORS], "errors_truncated": len(errors) > MAX_RECORDED_ERRORS,
            "errors_report": outcome.errors_report, "errors_digest": digest, "recorded_at": now},
            attempt=outcome.attempt or 1)
        if existing and existing.get("status") == "REJECTED" and existing.get("errors_digest") == digest:
            logger.info("sheet rejected again for the same reasons; not alarming twice",
                        extra={"submission_id": outcome.submission_id})
            return outcome
        # Errors name samples and S3 locations (PHI under HIPAA): logs and the alarm e-mail carry counts and
        # where to read them, never the errors themselves. Nor the report's key: it is the sheet's key, and labs
        # name sheets after patients or samples; the submission id leads to both (`autopilot submission show`).
        details = "every error is in the REJECTED submission record (autopilot submission show <submission_id>)"
        if report:
            details += f" and in the errors report beside the sheet (<sheet key>{ERRORS_SUFFIX})"
        summary = {"submission_id": outcome.submission_id, "error_count": len(errors), "details": details}
        logger.warning("sheet rejected", extra=summary)
        self.metric("SheetsRejected", 1)
        self.store.alarm(self.alarm_topic_arn, f"Sample sheet rejected ({len(errors)} errors)", summary)
        return outcome

    def _settings_bucket(self, identity: SheetIdentity) -> str:
        bucket = self.config.submissions_bucket or identity.bucket
        if not bucket:
            raise RetryableError("no bucket for settings files: SUBMISSIONS_BUCKET is not configured")
        return bucket

    def _epoch(self) -> int:
        return int(self.now().timestamp())

    # ------------------------------------------------------------------------- batch-level failure
    def on_batch_failed(self, event: RunBatchStatusChange) -> BatchFailureOutcome:
        detail = event.detail
        batch_id = detail.batch_id
        if detail.status != "FAILED":
            return BatchFailureOutcome(batch_id, "IGNORED", "NONE")
        recorded = self.repository.get_batch_request(batch_id)
        if recorded is None:
            logger.info("failed batch was not started by this stack", extra={"batch_id": batch_id})
            return BatchFailureOutcome(batch_id, "NOT_OURS", "NONE")
        reason, message = detail.failureReason, detail.failureMessage
        service: Mapping[str, Any] | None = None
        if not reason:
            service = self._get_batch(batch_id)
            if service.get("status") != "FAILED":
                # A reasonless copy (healed, or redelivered) of a failure the service has since restarted in
                # place: the batch runs again, so this copy is stale and must neither fail nor alarm anything.
                logger.info("failed batch is running again; stale failure ignored", extra={"batch_id": batch_id})
                return BatchFailureOutcome(batch_id, "IGNORED", "NONE")
            reason = service.get("failureReason")
            message = message or reason
        kind = classify_batch_failure(reason, message)
        submission_id = recorded.get("submission_id")
        # Provenance keeps the service's words; alarms and logs only the event's category (`reason_code`).
        failure = {"batch_id": batch_id, "reason": reason, "message": message, "kind": kind,
                   "reason_code": failure_category(detail.failureReason), "event_id": event.id,
                   "recorded_at": iso_time(self.now())}
        if kind == "TRANSIENT":
            return self._resubmit(batch_id, recorded, failure, submission_id)
        self._not_resubmitted(submission_id, batch_id, recorded, failure, service)
        if not self.repository.claim(keys.batch_pk(batch_id), "FAILURE_ALARM", {"entity": "CLAIM", **failure}):
            return BatchFailureOutcome(batch_id, kind, "ALREADY_HANDLED")
        self.metric("BatchFailures", 1)
        self.store.alarm(self.alarm_topic_arn, f"HealthOmics batch {batch_id} failed: {failure['reason_code'] or kind}",
                         {**_alarm_safe(failure), "submission_id": submission_id,
                          "action": "recorded, not resubmitted"})
        return BatchFailureOutcome(batch_id, kind, "RECORDED")

    def _not_resubmitted(self, submission_id: str | None, batch_id: str, recorded: Mapping[str, Any],
                         failure: Mapping[str, Any], service: Mapping[str, Any] | None = None) -> None:
        """A batch failure that nothing will resubmit (not transient, the service did not restart it, or given up
        on): its submission records it and is reopened."""
        if submission_id:
            self.repository.annotate_submission(submission_id, {"batch_failure": dict(failure)})
            self._reopen_submission(str(submission_id), batch_id, recorded, failure, service)

    def _reopen_submission(self, submission_id: str, batch_id: str, recorded: Mapping[str, Any],
                           failure: Mapping[str, Any], service: Mapping[str, Any] | None = None) -> None:
        """A submission whose batch failed as a whole and is not resubmitted becomes FAILED, so the sheet can be
        launched again once its cause is fixed (the guide, batch-level failures: fix it and submit a new batch).
        Only while this batch is still its batch (a late failure of an earlier attempt reopens nothing), and only
        when GetBatch proves it still FAILED and no resubmission of it is under way: an event (or a healed copy)
        can outlive the failure it reports, and a second batch of the same samples is the costlier mistake.
        A submission still ACCEPTED with this batch's requestId (the launcher stopped between StartRunBatch and
        recording SUBMITTED) is reopened too: FAILED ranks above the SUBMITTED its redelivery would record."""
        submission = self.repository.get_submission(submission_id) or {}
        status = submission.get("status")
        if status == "SUBMITTED":
            its_batch = submission.get("batch_id") == batch_id
        else:
            request_id = recorded.get("request_id") or (recorded.get("request") or {}).get("requestId")
            its_batch = status == "ACCEPTED" and bool(request_id) and submission.get("request_id") == request_id
        if not its_batch:
            return
        if self._resubmission_in_flight(batch_id, recorded):
            return
        if (service or self._get_batch(batch_id)).get("status") != "FAILED":
            return
        self.repository.record_submission(submission_id, "FAILED", str(failure["recorded_at"]),
                                          {"failed_batch_id": batch_id, "batch_id": batch_id},
                                          attempt=int(submission.get("attempt", 1)))

    def _resubmission_in_flight(self, batch_id: str, recorded: Mapping[str, Any]) -> bool:
        """Another invocation claimed this failure's resubmission and has not recorded its answer yet."""
        claim = self.repository.get_item(*_resubmission_claim_key(batch_id, int(recorded.get("resubmission_count", 0))))
        return claim is not None and not claim.get("new_batch_id")

    def _running_again(self, batch_id: str) -> bool:
        return bool(self._get_batch(batch_id).get("status") != "FAILED")

    def _get_batch(self, batch_id: str) -> dict[str, Any]:
        """GetBatch: the batch's status now, and its failureReason (the service's free-text message, the guide's
        example: "Batch has 100001 runs but 100000 runs is the max.") for an event that carries no category (one
        the reconciler healed). The reason classifies the failure and is recorded; it is never shown (it can
        name a sample or an S3 key)."""
        try:
            return dict(self.omics.get_batch(batchId=batch_id))
        except ClientError as error:
            raise RetryableError(f"GetBatch {batch_id}: {error}") from error

    def _resubmit(self, batch_id: str, recorded: Mapping[str, Any], failure: dict[str, Any],
                  submission_id: str | None) -> BatchFailureOutcome:
        count = int(recorded.get("resubmission_count", 0))
        if count and self._running_again(batch_id):
            # Restarted in place (the service's SAME_BATCH answer): this is a late copy of an earlier failure.
            return BatchFailureOutcome(batch_id, "TRANSIENT", "ALREADY_HANDLED", batch_id)
        claim_key = _resubmission_claim_key(batch_id, count)
        fresh = self.repository.claim(*claim_key, {"entity": "CLAIM", **failure})
        if not fresh:
            claim = self.repository.get_item(*claim_key) or {}
            if claim.get("new_batch_id"):
                return BatchFailureOutcome(batch_id, "TRANSIENT", "ALREADY_HANDLED", claim["new_batch_id"])
            # An earlier attempt claimed it and stopped before recording the new batch: go on; the same
            # requestId makes the service return that batch if it was in fact started.
        if count >= MAX_RESUBMISSIONS:
            self.store.alarm(self.alarm_topic_arn, f"HealthOmics batch {batch_id} failed again: giving up",
                             {**_alarm_safe(failure), "resubmissions": count, "submission_id": submission_id})
            self.metric("BatchResubmissionsExhausted", 1)
            self.repository.put_record({keys.PK: claim_key[0], keys.SK: claim_key[1], "entity": "CLAIM",
                                        **failure, "new_batch_id": "-", "gave_up": True})
            self._not_resubmitted(submission_id, batch_id, recorded, failure)
            return BatchFailureOutcome(batch_id, "TRANSIENT", "GAVE_UP")
        link = self.repository.get_batch_link(batch_id)
        root = (link or {}).get("root_batch_id") or recorded.get("root_batch_id") or batch_id
        # The same batch back in submission, or a new batch linked to this one: both are handled there.
        result = resubmit_batch(self.omics, self.repository, batch_id, recorded, root_batch_id=str(root),
                                attempt=int((link or {}).get("attempt", 0)), reason=failure["reason"],
                                sleep=self.sleep, now=self.now)
        new_batch_id = result.batch_id
        self.repository.put_record({keys.PK: claim_key[0], keys.SK: claim_key[1], "entity": "CLAIM", **failure,
                                    "new_batch_id": new_batch_id, "answer": result.answer})
        if not result.restarted:
            # The service answered the same requestId with the failed batch itself: nothing new started.
            self.store.alarm(self.alarm_topic_arn, f"HealthOmics batch {batch_id} could not be resubmitted",
                             {**_alarm_safe(failure), "submission_id": submission_id,
                              "action": "resubmitted with the same requestId; the service returned the same batch"})
            self._not_resubmitted(submission_id, batch_id, recorded, failure)
            return BatchFailureOutcome(batch_id, "TRANSIENT", "RECORDED", new_batch_id)
        if submission_id:
            self.repository.annotate_submission(submission_id, {"batch_id": new_batch_id, "batch_failure": failure,
                                                                "resubmissions": result.count})
        self.metric("BatchesResubmitted", 1)
        logger.info("batch resubmitted after a transient failure",
                    extra={"failed_batch_id": batch_id, "batch_id": new_batch_id, "reason": failure["reason_code"],
                           "answer": result.answer})
        return BatchFailureOutcome(batch_id, "TRANSIENT", "RESUBMITTED", new_batch_id)


def launch_attempt(existing: Mapping[str, Any] | None, identity: SheetIdentity) -> int | None:
    """Which launch attempt of its submission a sheet's delivery is; None: a duplicate of a launched one.

    A submission whose batch FAILED as a whole (not resubmitted) is launched again as the next attempt (a new
    requestId) when the sheet comes back as a new upload (another S3 version of the same bytes) or a direct
    submission; any upload already launched, delivered again (S3 notifications are at-least-once and may come
    late and out of order), stays a duplicate. An unversioned object cannot be told from its redelivery: a
    duplicate too. Any other status resumes its own attempt (same requestId)."""
    if not existing:
        return 1
    attempt = int(existing.get("attempt", 1))
    status = existing.get("status")
    if status == "SUBMITTED":
        return None
    if status == "FAILED":
        if identity.source == "s3" and (identity.version_id is None
                                        or identity.version_id in launched_versions(existing)):
            return None
        return attempt + 1
    return attempt


def launched_versions(existing: Mapping[str, Any] | None) -> list[str]:
    """The S3 versions of a sheet its submission has taken up for launch, oldest first: a late delivery of any
    of them is a duplicate (a record written before they were kept names only its last, in `sheet`)."""
    if not existing:
        return []
    kept = existing.get("launched_versions")
    if kept:
        return [str(v) for v in kept]
    last = (existing.get("sheet") or {}).get("version_id")
    return [str(last)] if last else []


def _resubmission_claim_key(batch_id: str, count: int) -> tuple[str, str]:
    """The claim on resubmitting a batch after its `count`-th failure (0: its first)."""
    return keys.batch_pk(batch_id), f"RESUBMISSION#{count:02d}" if count else "RESUBMISSION"


def _report_sheet(identity: SheetIdentity) -> dict[str, Any]:
    """Which sheet, and which version of it, a report beside it is about."""
    return {"sheet": identity.label, "sheet_version_id": identity.version_id,
            "sheet_sha256": identity.content_sha256}


# A failure category as the service's events name one (the guide's example event: VALIDATION_EXCEPTION): one word.
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def failure_category(reason: str | None) -> str | None:
    """An event's failureReason when it is a category; None for anything else (free text may quote the request)."""
    return reason if reason is not None and _CATEGORY.fullmatch(reason) else None


def _alarm_safe(failure: Mapping[str, Any]) -> dict[str, Any]:
    """A batch failure as an alarm e-mail may carry it: identifiers, the classification and the event's category.
    The service's words (the event's failureMessage, GetBatch's failureReason) can name S3 locations and samples
    (PHI): they stay in the provenance record, not in the e-mail."""
    return {"batch_id": failure["batch_id"], "kind": failure["kind"], "reason": failure["reason_code"],
            "event_id": failure["event_id"], "recorded_at": failure["recorded_at"]}
