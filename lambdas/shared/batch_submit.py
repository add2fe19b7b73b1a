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

    batch_id = start_batch(omics_client_for(settings.omics_limits), repository,
                           {"requestId": ..., "defaultRunSetting": {...},
                            "batchRunSettings": {"inlineSettings": [...]}},   # or {"s3UriSettings": uri}
                           origin="rerunner", submission_id=None,
                           attributes={"root_batch_id": root, "attempt": 2})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.clock import utc_now
from shared.errors import PermanentError, RetryableError
from shared.observability import logger
from shared.omics import RETRYABLE_OMICS_CODES
from shared.provenance import keys
from shared.provenance.base import stored_size
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time
from shared.supersede import settle_waiting_batch

# Errors that no retry can fix: the request itself is wrong or not allowed.
PERMANENT_CODES = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException"})

ORIGINS = frozenset({"launcher", "rerunner", "resubmission"})
# BATCH#<id>/REQUEST is one DynamoDB item (400 KB at most, DynamoDB's quotas): a request whose `request`
# attribute takes more than this must put its runs in an S3 settings file (s3UriSettings) instead of inline
# settings. Checked before calling the service; the rest of the 409,600 bytes is headroom for the item's other
# attributes (keys, origin, ids, the batch ARN, times, lineage: well under 2 KB).
MAX_RECORDED_REQUEST_BYTES = 350_000


class BatchRejected(PermanentError):
    """HealthOmics refused the request for a reason no retry can fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"StartRunBatch rejected: {code}: {message}")
        self.code = code
        self.message = message


class RequestTooLarge(BatchRejected):
    """The request is too large for its provenance record: refused before the service is called."""

    def __init__(self, size: int) -> None:
        super().__init__("RequestTooLarge", f"the batch request is {size} bytes, more than the "
                                            f"{MAX_RECORDED_REQUEST_BYTES} its provenance record can hold: "
                                            "its runs must go through an S3 settings file (s3UriSettings)")
        self.size = size


def recorded_request_bytes(request: Mapping[str, Any]) -> int:
    """The size of a request as BATCH#<id>/REQUEST stores it: the `request` attribute, a DynamoDB map, by
    DynamoDB's item-size rules. The one measure for the launcher's and the re-runner's inline-or-file choice and
    for start_batch's check. Not its JSON: a list element or a number costs DynamoDB more than its JSON text (a
    list of one-digit numbers 3 bytes an element, not 2), and a request measured as JSON failed its record's
    write after StartRunBatch had started the batch."""
    return stored_size("request", dict(request))


def request_summary(request: Mapping[str, Any]) -> dict[str, Any]:
    """What to log about a request: its derived requestId, workflow and run count, never every run's
    parameters, and neither its batch name (a sheet's file name, which a lab may make of a sample id) nor
    its settings file's S3 key: the recorded request (BATCH#<id>/REQUEST) has both."""
    settings = request.get("batchRunSettings", {})
    inline = settings.get("inlineSettings")
    return {
        "request_id": request.get("requestId"),
        "workflow_id": request.get("defaultRunSetting", {}).get("workflowId"),
        "settings": "inline" if inline is not None else "s3" if settings.get("s3UriSettings") else None,
        "inline_runs": len(inline) if inline is not None else None,
    }


def start_batch(
    omics: Any,
    repository: ProvenanceRepository,
    request: Mapping[str, Any],
    origin: str,
    submission_id: str | None = None,
    *,
    attributes: Mapping[str, Any] | None = None,
    submission_attempt: int = 1,
    max_attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> str:
    """Start one batch with `request` (StartRunBatch's exact parameters) and record it; return its id.

    `omics` is a client from `shared.omics.omics_client` (rate limited, adaptive retries). `origin` says
    who started the batch (launcher | rerunner | resubmission) and is stored with the request.
    `submission_id`, when given, links SUBMISSION#<id> to the batch (at its launch `submission_attempt`: a
    sheet launched again after its batch failed as a whole). `attributes` are extra facts stored
    on BATCH#<id>/REQUEST (e.g. root_batch_id, attempt, parent_batch_id for a follow-up batch).

    Calling it again with the same request (same requestId) is safe at any point: the service returns the
    same batch and the records are rewritten with the same content.

    Raises RetryableError when the service stays throttled/unavailable after `max_attempts` calls (each
    already retried by botocore): the caller lets the message come back later, with the same requestId.
    Raises BatchRejected when the request can never succeed (RequestTooLarge, before any call, when it is too
    large to record).
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {sorted(ORIGINS)}, not {origin!r}")
    request_id = request.get("requestId")
    if not request_id:
        raise ValueError("a StartRunBatch request needs a requestId derived from a stable key")
    params = dict(request)
    size = recorded_request_bytes(params)
    if size > MAX_RECORDED_REQUEST_BYTES:
        raise RequestTooLarge(size)
    summary = request_summary(params)
    response = _start_run_batch(omics, params, max_attempts, backoff_seconds, sleep)
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
                                      "batch_arn": response.get("arn"), "submitted_at": recorded_at},
                                     attempt=submission_attempt)
    logger.info("batch started", extra={**summary, "batch_id": batch_id, "origin": origin,
                                        "submission_id": submission_id})
    return batch_id


def _start_run_batch(omics: Any, params: dict[str, Any], max_attempts: int, backoff_seconds: float,
                     sleep: Callable[[float], None]) -> dict[str, Any]:
    """StartRunBatch, retried with the same request while throttled or unavailable; its response."""
    summary = request_summary(params)
    for attempt in range(1, max_attempts + 1):
        try:
            return dict(omics.start_run_batch(**params))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", str(error))
            if is_transient(error):
                logger.warning("StartRunBatch not accepted yet; retrying with the same requestId",
                               extra={**summary, "code": code, "attempt": attempt})
                if attempt < max_attempts:
                    sleep(backoff_seconds * 2 ** (attempt - 1))
                    continue
                raise RetryableError(f"StartRunBatch {code} after {attempt} attempts: {message}") from error
            raise BatchRejected(code or "UnknownError", message) from error
    raise AssertionError("unreachable")


# The answers a resubmission of a failed batch (same request, same requestId) can get. The guide says to
# resubmit; what the service then returns is not documented, so each one is handled:
SAME_BATCH = "SAME_BATCH"  # the failed batch itself goes back through submission, under its own id
NEW_BATCH = "NEW_BATCH"  # a new batch (new id) carries the request; the failed one stays FAILED
NOT_RESTARTED = "NOT_RESTARTED"  # the failed batch is returned as it is: nothing was started
_RECORD_FIELDS = frozenset({keys.PK, keys.SK, keys.TTL_ATTRIBUTE, "entity", "batch_id", "origin", "request"})


@dataclass(frozen=True)
class Resubmission:
    failed_batch_id: str
    batch_id: str  # the batch that now carries the request (the failed one itself, or a new one)
    answer: str  # SAME_BATCH | NEW_BATCH | NOT_RESTARTED
    count: int  # the how-manieth resubmission of the request this was

    @property
    def restarted(self) -> bool:
        return self.answer != NOT_RESTARTED


def resubmit_batch(
    omics: Any,
    repository: ProvenanceRepository,
    failed_batch_id: str,
    recorded: Mapping[str, Any],
    *,
    root_batch_id: str,
    attempt: int,
    reason: str | None,
    max_attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> Resubmission:
    """Resubmit a batch that failed as a whole for a transient reason: its recorded request, unchanged,
    with the same requestId (guide, 실패한 실행 처리 > 배치 수준 실패: "일시적인 서비스 오류 ... 동일한
    배치를 다시 제출하여 재시도합니다. 멱등성 requestId에 동일한를 사용합니다").

    `recorded` is BATCH#<failed>/REQUEST. Provenance afterwards:
    - NEW_BATCH: the new batch's REQUEST (origin resubmission, `resubmission_of`), its LINK to the failed
      batch under the same root and attempt (so `batch show` of the original reaches its runs), and on the
      failed batch a RESUBMITTED#<n> item naming the new one;
    - SAME_BATCH: the failed batch's REQUEST counts the resubmission (`resubmission_count`,
      `resubmitted_at`), so its next failure is told from a duplicate of this one, and the batch is back in the
      `active` index (`restarted_at`), so the reconciler heals its second life's lost events;
    - NOT_RESTARTED: nothing (the caller records and alarms).
    """
    request = dict(recorded["request"])
    count = int(recorded.get("resubmission_count", 0)) + 1
    response = _start_run_batch(omics, request, max_attempts, backoff_seconds, sleep)
    batch_id = str(response["id"])
    at = iso_time(now())
    if batch_id == failed_batch_id:
        if response.get("status") == "FAILED":
            return Resubmission(failed_batch_id, batch_id, NOT_RESTARTED, count)
        kept = {k: v for k, v in recorded.items() if k not in _RECORD_FIELDS}
        repository.put_batch_request(batch_id, request, str(recorded.get("origin") or "launcher"),
                                     attributes={**kept, "resubmission_count": count, "resubmitted_at": at})
        repository.note_restarted(batch_id, at)
        return Resubmission(failed_batch_id, batch_id, SAME_BATCH, count)
    repository.put_batch_request(batch_id, request, "resubmission", attributes={
        "request_id": request.get("requestId"), "submission_id": recorded.get("submission_id"),
        "batch_arn": response.get("arn"), "batch_uuid": response.get("uuid"), "started_at": at,
        "resubmission_of": failed_batch_id, "resubmission_count": count, "root_batch_id": root_batch_id,
        "attempt": attempt,  # with root_batch_id: the LINK's facts, should the LINK write be lost
    })
    repository.note_started("BATCH", batch_id, at)
    repository.put_batch_link(batch_id, failed_batch_id, root_batch_id, attempt,
                              {"reason": "RESUBMISSION", "failure_reason": reason, "origin": "resubmission"})
    # The LINK carries a follow-up's re-runs over to the new batch: members recorded before it wait for it.
    settle_waiting_batch(repository, batch_id)
    repository.put_record({keys.PK: keys.batch_pk(failed_batch_id), keys.SK: f"RESUBMITTED#{count:02d}",
                           "entity": "BATCH_RESUBMISSION", "batch_id": failed_batch_id,
                           "new_batch_id": batch_id, "resubmitted_at": at, "failure_reason": reason})
    logger.info("failed batch resubmitted as a new batch",
                extra={"failed_batch_id": failed_batch_id, "batch_id": batch_id, "resubmission": count})
    return Resubmission(failed_batch_id, batch_id, NEW_BATCH, count)


def is_transient(error: ClientError) -> bool:
    """A HealthOmics answer worth the same request again: throttled or unavailable, or a server fault that is
    not one of the answers a retry cannot change."""
    code = error.response.get("Error", {}).get("Code", "")
    return code in RETRYABLE_OMICS_CODES or (code not in PERMANENT_CODES and _is_server_fault(error))


def _is_server_fault(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return isinstance(status, int) and status >= 500
