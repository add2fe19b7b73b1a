"""The launcher's S3 and SNS access: read sheets, write error reports, write settings files once, alarm.

The only launcher module that talks to S3/SNS; S3 errors become domain errors (RetryableError for
throttling/5xx, SheetUnreadable for an object that is gone or forbidden).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import boto3
from botocore.exceptions import ClientError

from shared.errors import PermanentError, RetryableError

SPOOL_BYTES = 1 << 20  # a sheet larger than this waits for parsing in /tmp, not in memory
PART_BYTES = 8 << 20  # S3 multipart parts (≥ 5 MiB except the last)
_RETRYABLE = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500",
                        "ThrottlingException", "ConditionalRequestConflict", "OperationAborted"})


class SheetUnreadable(PermanentError):
    """The sheet object no longer exists, or cannot be read with our permissions."""


class SheetTooLarge(Exception):
    """The sheet is over the size cap: known from its metadata, its body is never downloaded."""

    def __init__(self, size: int, etag: str | None, version_id: str | None) -> None:
        super().__init__(f"{size} bytes")
        self.size, self.etag, self.version_id = size, etag, version_id


class SettingsFileMismatch(PermanentError):
    """A settings file exists at its content-addressed key with other content (someone wrote it)."""


@dataclass(frozen=True)
class SheetObject:
    body: IO[bytes]  # the sheet's bytes, read from the start (a spooled temporary file: close it)
    sha256: str
    version_id: str | None
    etag: str | None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _raise(error: ClientError, what: str) -> None:
    code = _code(error)
    if code in _RETRYABLE:
        raise RetryableError(f"{what}: {code}") from error


class LauncherStore:
    def __init__(self, s3: Any | None = None, sns: Any | None = None) -> None:
        self.s3 = s3 or boto3.client("s3")
        self._sns = sns

    @property
    def sns(self) -> Any:
        if self._sns is None:
            self._sns = boto3.client("sns")
        return self._sns

    # ------------------------------------------------------------------------------------- sheets
    def read_sheet(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> SheetObject:
        """The sheet's bytes; SheetTooLarge (from HeadObject, before any download) over `max_bytes`."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            head = self.s3.head_object(**params)
            size = int(head.get("ContentLength") or 0)
            version_id = head.get("VersionId") or version_id
            etag = str(head.get("ETag", "")).strip('"') or None
            if size > max_bytes:
                raise SheetTooLarge(size, etag, version_id)
            if version_id:
                params["VersionId"] = version_id  # the very object whose size was checked
            response = self.s3.get_object(**params)
        except ClientError as error:
            _raise(error, f"read s3://{bucket}/{key}")
            raise SheetUnreadable(f"cannot read s3://{bucket}/{key}: {_code(error)}") from error
        digest = hashlib.sha256()
        # Spooled to /tmp past SPOOL_BYTES: the function's memory never holds a large sheet's bytes, only
        # what is parsed from them (the parser reads and decodes the file as it goes).
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by the caller)
        read = 0
        try:
            for chunk in response["Body"].iter_chunks(1 << 20):
                read += len(chunk)
                if read > max_bytes:  # replaced since the HEAD (no version pinned): never hold more than the cap
                    response["Body"].close()
                    raise SheetTooLarge(read, etag, version_id)
                digest.update(chunk)
                body.write(chunk)
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return SheetObject(body, digest.hexdigest(), response.get("VersionId") or version_id,
                           str(response.get("ETag", "")).strip('"') or None)

    def put_report(self, bucket: str, key: str, report: dict[str, Any]) -> None:
        body = json.dumps(report, indent=2, ensure_ascii=False).encode()
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        except ClientError as error:
            _raise(error, f"PutObject s3://{bucket}/{key}")
            raise

    def read_report(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The errors report at `key`, or None when there is none (or it is not a JSON object)."""
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            _raise(error, f"GetObject s3://{bucket}/{key}")
            raise
        with contextlib.suppress(ValueError):
            report = json.loads(body)
            return report if isinstance(report, dict) else None
        return None

    # ---------------------------------------------------------------------------- settings files
    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            _raise(error, f"HeadObject s3://{bucket}/{key}")
            raise
        return True

    def put_once(self, bucket: str, key: str, chunks: Iterable[bytes], sha256: str) -> bool:
        """Write `key` from a stream of chunks unless it already exists; never overwrite it.

        Checks first (a redelivery costs one HEAD), then writes conditionally (If-None-Match: *), in one
        PutObject when the stream fits one part, else as a multipart upload of PART_BYTES parts, so the
        file is never held whole in memory. Returns True when this call created the object.

        A file found at the key (before, or written concurrently) is reused only when its bytes hash to
        `sha256`: anyone who can write the settings prefix could have planted it, and it cannot be replaced
        (the write is conditional), so any other content raises SettingsFileMismatch."""
        if self.exists(bucket, key):
            self.verify(bucket, key, sha256)
            return False
        buffer = bytearray()
        stream = iter(chunks)
        created = None
        for chunk in stream:
            buffer += chunk
            if len(buffer) >= PART_BYTES:
                created = self._multipart(bucket, key, buffer, stream)
                break
        if created is None:
            created = self._conditional(lambda: self.s3.put_object(
                Bucket=bucket, Key=key, Body=bytes(buffer), ContentType="application/json", IfNoneMatch="*"),
                f"s3://{bucket}/{key}")
        if not created:
            self.verify(bucket, key, sha256)
        return created

    def verify(self, bucket: str, key: str, sha256: str) -> None:
        """Stream the object and compare its SHA-256 (nothing held whole in memory)."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            _raise(error, f"GetObject s3://{bucket}/{key}")
            raise
        digest = hashlib.sha256()
        for chunk in response["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise SettingsFileMismatch(
                f"settings file s3://{bucket}/{key} exists with other content (SHA-256 {digest.hexdigest()}, "
                f"expected {sha256}); it cannot be replaced, so no batch is started from it")

    def _multipart(self, bucket: str, key: str, buffer: bytearray, rest: Iterable[bytes]) -> bool:
        upload = self.s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/json")
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []

        def send(data: bytes) -> None:
            number = len(parts) + 1
            response = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                           Body=data)
            parts.append({"PartNumber": number, "ETag": response["ETag"]})

        created = False
        try:
            for chunk in rest:
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    send(bytes(buffer[:PART_BYTES]))
                    del buffer[:PART_BYTES]
            if buffer or not parts:
                send(bytes(buffer))
            created = self._conditional(lambda: self.s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"),
                f"s3://{bucket}/{key}")
        finally:
            if not created:
                # the lifecycle rule aborts incomplete uploads after 7 days if this fails too
                with contextlib.suppress(ClientError):
                    self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        return created

    @staticmethod
    def _conditional(call: Any, where: str) -> bool:
        try:
            call()
        except ClientError as error:
            if _code(error) in ("PreconditionFailed", "412"):
                return False  # a concurrent writer created it first: same key, same content by construction
            _raise(error, f"write {where}")
            raise
        return True

    # -------------------------------------------------------------------------------------- alarms
    def alarm(self, topic_arn: str | None, subject: str, message: dict[str, Any]) -> bool:
        if not topic_arn:
            return False
        self.sns.publish(TopicArn=topic_arn, Subject=subject[:100],
                         Message=json.dumps(message, indent=2, ensure_ascii=False, default=str)[:250_000])
        return True
