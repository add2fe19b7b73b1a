"""From a validated sheet to the exact StartRunBatch request.

- Identity: a submission is (where the sheet came from, the SHA-256 of its bytes). The submission id and
  the StartRunBatch requestId are derived from it, so the same sheet delivered twice, or uploaded again
  unchanged to the same key, maps to the same submission and the same batch.
- ≤ 100 runs whose whole request fits its provenance record (measured as start_batch measures it) go
  inline; anything else goes through an S3 settings file whose
  key is the SHA-256 of its own bytes (content-addressed: a key never holds two different contents, so the
  file a batch was started with never changes under it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from launcher.validation import Validated
from shared.api_limits import api_limits
from shared.batch_submit import MAX_RECORDED_REQUEST_BYTES, recorded_request_bytes
from shared.lineage import stack_id_from_env, stack_tags

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class SheetIdentity:
    """Where a sheet came from and what it contained."""

    source: Literal["s3", "direct"]
    content_sha256: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    name: str | None = None

    @property
    def submission_id(self) -> str:
        origin = f"s3\n{self.bucket}\n{self.key}" if self.source == "s3" else f"direct\n{self.name or ''}"
        return hashlib.sha256(f"{origin}\n{self.content_sha256}".encode()).hexdigest()[:32]

    @property
    def request_id(self) -> str:
        return f"autopilot-sheet-{self.submission_id}"

    def request_id_for(self, attempt: int) -> str:
        """The requestId of a launch attempt: the first is the sheet's own; a launch after its batch failed as a
        whole needs another (StartRunBatch would answer the old one with the failed batch)."""
        return self.request_id if attempt <= 1 else f"{self.request_id}-{attempt}"

    @property
    def label(self) -> str:
        if self.source == "s3":
            return f"s3://{self.bucket}/{self.key}"
        return f"direct:{self.name or self.content_sha256[:12]}"

    def as_dict(self) -> dict[str, Any]:
        values = {"source": self.source, "content_sha256": self.content_sha256, "bucket": self.bucket,
                  "key": self.key, "version_id": self.version_id, "name": self.name}
        return {k: v for k, v in values.items() if v is not None}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def batch_name_for(identity: SheetIdentity, explicit: str | None) -> str:
    """batchName: the sheet's own (validated), else the file (or CLI) name, cut to the API's maximum and
    without the characters its pattern forbids (botocore's model, shared/api_limits.py)."""
    if explicit:
        return explicit
    rule = api_limits().batch_name
    base = identity.name or (identity.key or "").rsplit("/", 1)[-1]
    if base and not rule.allows(base[: rule.max_length]):
        base = "".join(c for c in base if rule.allows(c))
    return base[: rule.max_length] or identity.submission_id[: rule.max_length]


def settings_chunks(encoded: Iterable[str], chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The settings file (a JSON array of run entries) as a stream of ≈chunk_bytes pieces; `encoded` holds
    compact JSON pieces of one or more entries each (joined by ",")."""
    parts: list[str] = ["["]
    size = 1
    first = True
    for entry in encoded:
        if not first:
            parts.append(",")
            size += 1
        first = False
        parts.append(entry)
        size += len(entry)
        if size >= chunk_bytes:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append("]")
    yield "".join(parts).encode()


def settings_digest(encoded: Iterable[str]) -> tuple[str, int]:
    """SHA-256 and size of the settings file that settings_chunks produces (one streaming pass)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in settings_chunks(encoded):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class Plan:
    """The StartRunBatch request; `settings_key` is set when the runs go through an S3 settings file
    (the caller writes it, then puts s3UriSettings into the request)."""

    identity: SheetIdentity
    request: dict[str, Any]
    run_count: int
    inline: bool
    settings_key: str | None = None
    settings_bytes: int | None = None
    settings_sha256: str | None = None

    def with_settings_uri(self, bucket: str) -> dict[str, Any]:
        if self.inline:
            return self.request
        return {**self.request, "batchRunSettings": {"s3UriSettings": f"s3://{bucket}/{self.settings_key}"}}


def build_plan(validated: Validated, identity: SheetIdentity, settings_prefix: str,
               sheet_batch_name: str | None = None, attempt: int = 1) -> Plan:
    assert validated.ok, "only a valid sheet becomes a plan"
    request: dict[str, Any] = {
        "requestId": identity.request_id_for(attempt),
        "batchName": batch_name_for(identity, validated.batch_name or sheet_batch_name),
        "defaultRunSetting": validated.default_run_setting,
    }
    tags = {**validated.batch_tags, "autopilot:submission": identity.submission_id, **stack_tags(stack_id_from_env())}
    request["tags"] = tags
    count = validated.run_count
    if count <= api_limits().inline_max:
        inline = {**request, "batchRunSettings": {"inlineSettings": validated.entries}}
        # Inline requests are recorded whole (one DynamoDB item): too large a one goes through a settings file.
        if recorded_request_bytes(inline) <= MAX_RECORDED_REQUEST_BYTES:
            return Plan(identity, inline, count, inline=True)
    digest, size = settings_digest(validated.encoded)
    key = f"{settings_prefix}{digest}.json"
    return Plan(identity, request, count, inline=False, settings_key=key, settings_bytes=size, settings_sha256=digest)
