"""The pruner's S3 data access: the only module that talks to S3.

- LIST: ListObjectsV2 pages of 1,000 keys (StartAfter to resume at an entry boundary).
- GET: manifests only, in parallel on a bounded thread pool (boto3 clients are thread-safe).
- DELETE: DeleteObjects with up to 1,000 keys a request, verbose: on a versioned bucket each deleted key
  comes back with the id of the delete marker it got, which the pass report keeps so that
  `autopilot cache restore` can remove exactly those markers. Keys that fail with a retryable code
  (SlowDown, InternalError, ...) are retried with exponential backoff, the rest are returned. A retry is
  not sent once the caller's `should_stop` says stop: those keys come back unsent.
Whole-request throttling (503 SlowDown) of LIST and GET is retried by botocore's adaptive retry mode; a refused
DeleteObjects mostly by `delete` itself (S3_DELETE_CONFIG), so that no call outlasts the worker's stop margin.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from pruner.entries import S3Object
from pruner.manifest import MAX_MANIFEST_BYTES, ManifestInfo, ManifestState, parse_manifest

PAGE_SIZE = 1000
DELETE_BATCH = 1000
S3_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, max_pool_connections=32)
# DeleteObjects: S3Store.delete retries refused requests itself, asking `should_stop` first; botocore's retries
# inside one call cannot be interrupted. Two attempts with these timeouts end within the worker's stop margin
# (pruner.handler.SAFETY_SECONDS; tests/unit/test_pruner_delete_time_bound.py derives the bound). With S3_CONFIG
# one call could take 11 attempts of up to 60 + 60 s each.
S3_DELETE_CONFIG = Config(retries={"mode": "adaptive", "total_max_attempts": 2}, connect_timeout=5, read_timeout=20)
RETRYABLE_DELETE_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted", "Throttling"}
)


class S3AccessError(Exception):
    """S3 refused a LIST or a report write (after the SDK's own retries)."""


@dataclass
class DeleteOutcome:
    deleted: dict[str, str | None] = field(default_factory=dict)  # key -> delete marker version id
    failed: dict[str, str] = field(default_factory=dict)  # key -> error code
    unsent: list[str] = field(default_factory=list)  # not deleted: a retry was due when told to stop


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


class S3Store:
    def __init__(
        self,
        client: Any,
        *,
        delete_client: Any | None = None,
        max_workers: int = 16,
        max_delete_attempts: int = 6,
        backoff_base: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.delete_client = delete_client or client  # the deployed worker's: S3_DELETE_CONFIG
        self.max_workers = max_workers
        self.max_delete_attempts = max_delete_attempts
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # ------------------------------------------------------------------ LIST
    def list_objects(self, bucket: str, prefix: str, start_after: str | None = None) -> Iterator[S3Object]:
        """Every object under `prefix` after `start_after`, in lexical order, one page at a time."""
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
        if start_after:
            request["StartAfter"] = start_after
        while True:
            page = self._list(request)
            for item in page.get("Contents", []):
                yield S3Object(item["Key"], int(item.get("Size", 0)), item["LastModified"])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request.pop("StartAfter", None)
            request["ContinuationToken"] = token

    def list_prefixes(self, bucket: str, prefix: str) -> Iterator[str]:
        """The next-level "directories" under `prefix` (ListObjectsV2 with Delimiter "/")."""
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": PAGE_SIZE}
        while True:
            page = self._list(request)
            for item in page.get("CommonPrefixes", []):
                yield item["Prefix"]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            request["ContinuationToken"] = token

    def _list(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.list_objects_v2(**request)  # type: ignore[no-any-return]
        except ClientError as error:
            where = f"s3://{request['Bucket']}/{request['Prefix']}"
            raise S3AccessError(f"ListObjectsV2 {where}: {_code(error)}") from error

    def versioning(self, bucket: str) -> str:
        """The bucket's versioning status: Enabled, Suspended or Disabled (never enabled)."""
        try:
            response = self.client.get_bucket_versioning(Bucket=bucket)
        except ClientError as error:
            raise S3AccessError(f"GetBucketVersioning s3://{bucket}: {_code(error)}") from error
        return str(response.get("Status") or "Disabled")

    # ------------------------------------------------------------------ GET (manifests only)
    def read_manifests(self, bucket: str, keys: Sequence[str]) -> list[ManifestInfo]:
        """Parsed manifests, in the order of `keys`, read on the bounded pool."""
        if not keys:
            return []
        if len(keys) == 1 or self.max_workers <= 1:
            return [self._read_manifest(bucket, key) for key in keys]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="manifest")
        return list(self._pool.map(lambda key: self._read_manifest(bucket, key), keys))

    def _read_manifest(self, bucket: str, key: str) -> ManifestInfo:
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            body = response["Body"].read(MAX_MANIFEST_BYTES + 1)
        except ClientError as error:
            code = _code(error)
            if code in ("NoSuchKey", "404"):
                return ManifestInfo(ManifestState.VANISHED, problem="deleted since it was listed")
            # The bytes were never read: nothing is known, the entry is kept.
            return ManifestInfo(ManifestState.READ_FAILED, problem=f"GetObject failed: {code}")
        return parse_manifest(body)

    def get_bytes(self, bucket: str, key: str, limit: int | None) -> bytes:
        """One object's bytes (at most `limit`): inventory manifests and data files."""
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            return bytes(body.read(limit) if limit is not None else body.read())
        except ClientError as error:
            raise S3AccessError(f"GetObject s3://{bucket}/{key}: {_code(error)}") from error

    # ------------------------------------------------------------------ DELETE
    def delete(
        self, bucket: str, keys: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> DeleteOutcome:
        """Delete up to 1,000 keys; retry per-key retryable errors with backoff (unless `should_stop()`:
        those keys are returned unsent); report the rest."""
        if len(keys) > DELETE_BATCH:
            raise ValueError(f"DeleteObjects takes at most {DELETE_BATCH} keys, got {len(keys)}")
        outcome = DeleteOutcome()
        pending = list(keys)
        for attempt in range(self.max_delete_attempts):
            if not pending:
                break
            if attempt:
                self._sleep(self.backoff_base * (2 ** (attempt - 1)) * (0.5 + self._rng.random()))
                if should_stop is not None and should_stop():
                    # A retry under throttling can outlast the invocation: the caller leaves these keys'
                    # entries to its next invocation.
                    outcome.unsent = pending
                    return outcome
            try:
                response = self.delete_client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in pending], "Quiet": False}
                )
            except ClientError as error:
                code = _code(error)
                if code not in RETRYABLE_DELETE_CODES:
                    outcome.failed.update(dict.fromkeys(pending, code))
                    return outcome
                continue  # the whole request was refused: back off and send it again
            errors = {e["Key"]: str(e.get("Code", "Unknown")) for e in response.get("Errors", [])}
            markers = {d["Key"]: d.get("DeleteMarkerVersionId") for d in response.get("Deleted", [])}
            outcome.deleted.update((k, markers.get(k)) for k in pending if k not in errors)
            retry = []
            for key, code in errors.items():
                if code in RETRYABLE_DELETE_CODES:
                    retry.append(key)
                else:
                    outcome.failed[key] = code
            pending = retry
        outcome.failed.update(dict.fromkeys(pending, "RetriesExhausted"))
        return outcome

    # ------------------------------------------------------------------ reports
    def put_object(self, bucket: str, key: str, body: bytes | Any, content_type: str) -> None:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as error:
            raise S3AccessError(f"PutObject s3://{bucket}/{key}: {_code(error)}") from error
