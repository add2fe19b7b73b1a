"""The re-runner's data access to AWS services other than the provenance table: HealthOmics, SQS,
EventBridge Scheduler and S3. Clients are built on first use; ClientError becomes a domain error.

HealthOmics calls go through `shared.omics.omics_client` (adaptive retries + client-side rate limit).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from rerunner.settings_file import select_entries
from shared.batch_submit import start_batch
from shared.errors import PermanentError, RetryableError
from shared.omics import RETRYABLE_OMICS_CODES
from shared.omics_model import input_max
from shared.provenance.repository import ProvenanceRepository


class NotFound(PermanentError):
    """The resource is gone (deleted, or a REMOVE-retention run aged out)."""


class StartRejected(PermanentError):
    """HealthOmics refused a StartRun for a reason no retry can fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"StartRun rejected: {code}: {message}")
        self.code = code


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _domain_error(error: ClientError, what: str) -> Exception:
    code = _code(error)
    if code == "ResourceNotFoundException":
        return NotFound(f"{what}: {code}")
    if code in RETRYABLE_OMICS_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return RetryableError(f"{what}: {code}")
    return PermanentError(f"{what}: {code}: {error}")


class AwsAccess:
    """Everything the re-runner asks of HealthOmics, SQS, Scheduler and S3."""

    def __init__(
        self,
        omics: Callable[[], Any],
        session: Callable[[], boto3.Session] = boto3.Session,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._omics_factory = omics
        self._session_factory = session
        self._clients: dict[str, Any] = {}
        self.sleep = sleep

    @property
    def omics(self) -> Any:
        if "omics" not in self._clients:
            self._clients["omics"] = self._omics_factory()
        return self._clients["omics"]

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session_factory().client(service)
        return self._clients[service]

    # ------------------------------------------------------------------ HealthOmics reads
    def get_run(self, run_id: str) -> dict[str, Any]:
        try:
            return dict(self.omics.get_run(id=run_id))
        except ClientError as error:
            raise _domain_error(error, f"GetRun {run_id}") from error

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        try:
            return dict(self.omics.get_batch(batchId=batch_id))
        except ClientError as error:
            raise _domain_error(error, f"GetBatch {batch_id}") from error

    def failed_run_ids(self, batch_id: str) -> Iterator[str]:
        """ListRuns(batchId, status=FAILED): the ids of a batch's failed runs, the largest page the API allows."""
        token: str | None = None
        while True:
            try:
                page = self.omics.list_runs(
                    batchId=batch_id, status="FAILED", maxResults=input_max("ListRuns", "maxResults"),
                    **({"startingToken": token} if token else {}),
                )
            except ClientError as error:
                raise _domain_error(error, f"ListRuns {batch_id}") from error
            yield from (item["id"] for item in page.get("items", []))
            token = page.get("nextToken")
            if not token:
                return

    def batch_members(self, batch_id: str, submission_status: str | None = None,
                      run_id: str | None = None) -> Iterator[dict[str, Any]]:
        """ListRunsInBatch rows (runSettingId, runId, submissionStatus...), the largest page the API allows;
        filtered by submission status or run id (the API takes one filter at a time)."""
        params: dict[str, Any] = {"batchId": batch_id}
        if submission_status:
            params["submissionStatus"] = submission_status
        if run_id:
            params["runId"] = run_id
        token: str | None = None
        while True:
            try:
                page = self.omics.list_runs_in_batch(
                    maxItems=input_max("ListRunsInBatch", "maxItems"), **params,
                    **({"startingToken": token} if token else {}),
                )
            except ClientError as error:
                raise _domain_error(error, f"ListRunsInBatch {batch_id}") from error
            yield from page.get("runs", [])
            token = page.get("nextToken")
            if not token:
                return

    # ------------------------------------------------------------------ HealthOmics starts
    def start_run(
        self, request: dict[str, Any], max_attempts: int = 3, backoff_seconds: float = 2.0
    ) -> tuple[str, str]:
        """StartRun with a derived requestId; throttling is retried with the same request (idempotent).
        Returns the new run's identity: (run id, run uuid)."""
        for attempt in range(1, max_attempts + 1):
            try:
                started = self.omics.start_run(**request)
                return str(started["id"]), str(started["uuid"])
            except ClientError as error:
                code = _code(error)
                if (
                    code in RETRYABLE_OMICS_CODES
                    or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
                ):
                    if attempt < max_attempts:
                        self.sleep(backoff_seconds * 2 ** (attempt - 1))
                        continue
                    raise RetryableError(f"StartRun {code} after {attempt} attempts") from error
                raise StartRejected(code, error.response.get("Error", {}).get("Message", str(error))) from error
        raise AssertionError("unreachable")

    def start_batch(self, repository: ProvenanceRepository, request: dict[str, Any], attributes: dict[str, Any]) -> str:
        """StartRunBatch through the project's one batch starter (records BATCH#<id>/REQUEST)."""
        return start_batch(self.omics, repository, request, origin="rerunner", attributes=attributes, sleep=self.sleep)

    # ------------------------------------------------------------------ S3 settings files
    def read_settings(self, s3_uri: str, run_setting_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The wanted entries of a batch settings file, streamed (never the whole file in memory)."""
        bucket, key = _split(s3_uri)
        try:
            body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            raise _domain_error(error, f"GetObject {s3_uri}") from error
        try:
            return select_entries(body.read, run_setting_ids)
        finally:
            body.close()

    def write_settings(self, bucket: str, key: str, data: bytes) -> str:
        """Write a follow-up batch's settings file once, conditionally (If-None-Match: *), so that a batch
        that already read it never sees it change (HealthOmics fails a batch whose file's ETag changed).
        An existing object (a concurrent or retried copy of this work) is reused only when its content
        hash is ours; anything else there was not written by us and is refused."""
        s3 = self._client("s3")
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", IfNoneMatch="*")
        except ClientError as error:
            # 412: the object exists; 409: a concurrent conditional write of it is in flight (retryable).
            if _code(error) == "ConditionalRequestConflict":
                raise RetryableError(f"PutObject s3://{bucket}/{key}: concurrent write") from error
            if _code(error) != "PreconditionFailed":
                raise _domain_error(error, f"PutObject s3://{bucket}/{key}") from error
            if self._sha256(bucket, key) != hashlib.sha256(data).hexdigest():
                raise PermanentError(f"s3://{bucket}/{key} exists with other content: not reused") from error
        return f"s3://{bucket}/{key}"

    def _sha256(self, bucket: str, key: str) -> str:
        """The SHA-256 of an object, read as a stream."""
        try:
            body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            raise _domain_error(error, f"GetObject s3://{bucket}/{key}") from error
        digest = hashlib.sha256()
        try:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()

    # ------------------------------------------------------------------ delays
    def send_delayed(self, queue_url: str, body: dict[str, Any], delay_seconds: int) -> None:
        """Re-enqueue work on the re-run queue, invisible for up to 15 minutes."""
        try:
            self._client("sqs").send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps(body, sort_keys=True),
                DelaySeconds=max(0, min(900, delay_seconds)),
            )
        except ClientError as error:
            raise _domain_error(error, "SendMessage to the re-run queue") from error

    def schedule_once(
        self, name: str, group: str, at: datetime, queue_arn: str, role_arn: str, body: dict[str, Any],
        dead_letter_arn: str | None = None,
    ) -> bool:
        """A one-time EventBridge Scheduler schedule that sends `body` to the re-run queue at `at` and
        deletes itself. Returns False when a schedule of that name already exists (a duplicate)."""
        try:
            self._client("scheduler").create_schedule(
                Name=name,
                GroupName=group,
                ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": queue_arn,
                    "RoleArn": role_arn,
                    "Input": json.dumps(body, sort_keys=True),
                    "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86_400},
                    # A wake-up the scheduler cannot deliver lands in the re-run DLQ (alarmed), never lost.
                    **({"DeadLetterConfig": {"Arn": dead_letter_arn}} if dead_letter_arn else {}),
                },
                Description="HealthOmics autopilot: delayed re-run",
            )
        except ClientError as error:
            if _code(error) == "ConflictException":
                return False
            raise _domain_error(error, f"CreateSchedule {name}") from error
        return True


def _split(s3_uri: str) -> tuple[str, str]:
    if not s3_uri.startswith("s3://") or "/" not in s3_uri[5:]:
        raise PermanentError(f"not an s3:// object URI: {s3_uri}")
    bucket, key = s3_uri[5:].split("/", 1)
    return bucket, key
