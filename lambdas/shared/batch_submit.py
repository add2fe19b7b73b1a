"""The one function that starts a HealthOmics batch (StartRunBatch) for the whole project.

Both the launcher (a sample sheet becomes a batch) and the re-runner (failed members of a batch become a
follow-up batch) start batches here, so every batch is started the same way:

- the request carries a `requestId` derived by the caller from a stable business key (sheet identity,
  root batch + attempt). StartRunBatch is idempotent on it: a retried call — by botocore's adaptive retry
  mode, by the bounded loop below, or by a redelivered SQS message in a new invocation — returns the batch
  the first call created instead of starting a second one;
- throttling and transient service errors are retried with the SAME request; what can never succeed
  (validation, access, missing resource) raises `BatchRejected` with the service's message;
- once the service answered, the exact request is recorded (BATCH#<id>/REQUEST) so a batch-level failure
  can be resubmitted unchanged and failed members re-run with their original per-run settings, and, when
  the batch comes from a submission, SUBMISSION#<id>/SUMMARY is marked SUBMITTED with the batch id.

Usage::

    batch_id = start_batch(omics_client(settings.omics_limits), repository,
                           {"requestId": ..., "defaultRunSetting": {...},
                            "batchRunSettings": {"inlineSettings": [...]}},   # or {"s3UriSettings": uri}
                           origin="rerunner", submission_id=None,
                           attributes={"root_batch_id": root, "attempt": 2})
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.clock import utc_now
from shared.errors import PermanentError, RetryableError
from shared.observability import logger
from shared.omics import RETRYABLE_OMICS_CODES
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time

# Errors that no retry can fix: the request itself is wrong or not allowed.
PERMANENT_CODES = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})

ORIGINS = frozenset({"launcher", "rerunner", "resubmission"})
# BATCH#<id>/REQUEST is one DynamoDB item (400 KB at most): a request larger than this must put its runs in
# an S3 settings file (s3UriSettings) instead of inline settings. Checked before calling the service.
MAX_RECORDED_REQUEST_BYTES = 350_000


class BatchRejected(PermanentError):
    """HealthOmics refused the request for a reason no retry can fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"StartRunBatch rejected: {code}: {message}")
        self.code = code
        self.message = message


def request_summary(request: Mapping[str, Any]) -> dict[str, Any]:
    """What to log about a request without logging every run's parameters."""
    settings = request.get("batchRunSettings", {})
    inline = settings.get("inlineSettings")
    return {
        "request_id": request.get("requestId"),
        "batch_name": request.get("batchName"),
        "workflow_id": request.get("defaultRunSetting", {}).get("workflowId"),
        "inline_runs": len(inline) if inline is not None else None,
        "s3_settings": settings.get("s3UriSettings"),
    }


def start_batch(
    omics: Any,
    repository: ProvenanceRepository,
    request: Mapping[str, Any],
    origin: str,
    submission_id: str | None = None,
    *,
    attributes: Mapping[str, Any] | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> str:
    """Start one batch with `request` (StartRunBatch's exact parameters) and record it; return its id.

    `omics` is a client from `shared.omics.omics_client` (rate limited, adaptive retries). `origin` says
    who started the batch (launcher | rerunner | resubmission) and is stored with the request.
    `submission_id`, when given, links SUBMISSION#<id> to the batch. `attributes` are extra facts stored
    on BATCH#<id>/REQUEST (e.g. root_batch_id, attempt, parent_batch_id for a follow-up batch).

    Calling it again with the same request (same requestId) is safe at any point: the service returns the
    same batch and the records are rewritten with the same content.

    Raises RetryableError when the service stays throttled/unavailable after `max_attempts` calls (each
    already retried by botocore): the caller lets the message come back later, with the same requestId.
    Raises BatchRejected when the request can never succeed.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {sorted(ORIGINS)}, not {origin!r}")
    request_id = request.get("requestId")
    if not request_id:
        raise ValueError("a StartRunBatch request needs a requestId derived from a stable key")
    params = dict(request)
    size = len(json.dumps(params, separators=(",", ":"), default=str).encode())
    if size > MAX_RECORDED_REQUEST_BYTES:
        raise ValueError(f"request is {size} bytes, more than the {MAX_RECORDED_REQUEST_BYTES} that "
                         "provenance can record: put the runs in an S3 settings file (s3UriSettings)")
    summary = request_summary(params)
    response: dict[str, Any] | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            response = omics.start_run_batch(**params)
            break
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", str(error))
            if code in RETRYABLE_OMICS_CODES or (code not in PERMANENT_CODES and _is_server_fault(error)):
                logger.warning("StartRunBatch not accepted yet; retrying with the same requestId",
                               extra={**summary, "code": code, "attempt": attempt})
                if attempt < max_attempts:
                    sleep(backoff_seconds * 2 ** (attempt - 1))
                    continue
                raise RetryableError(f"StartRunBatch {code} after {attempt} attempts: {message}") from error
            raise BatchRejected(code or "UnknownError", message) from error
    assert response is not None
    batch_id = str(response["id"])
    recorded_at = iso_time(now())
    repository.put_batch_request(batch_id, params, origin, attributes={
        "request_id": request_id, "submission_id": submission_id, "batch_arn": response.get("arn"),
        "batch_uuid": response.get("uuid"), "started_at": recorded_at, **(attributes or {}),
    })
    repository.note_started("BATCH", batch_id, recorded_at)
    if submission_id:
        repository.record_submission(submission_id, "SUBMITTED", recorded_at,
                                     {"batch_id": batch_id, "request_id": request_id,
                                      "batch_arn": response.get("arn"), "submitted_at": recorded_at})
    logger.info("batch started", extra={**summary, "batch_id": batch_id, "origin": origin,
                                        "submission_id": submission_id})
    return batch_id


def _is_server_fault(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(status, int) and status >= 500
