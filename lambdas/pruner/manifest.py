"""Cache-entry manifests: the guide's format, validated, and which cache and entry they name.

The guide ("Call caching", cache S3 layout and manifest; example in
tests/fixtures/guide/run-cache-entry-manifest.v2.json): a manifest holds `arn`
(…:runCache/<cacheId>/cacheEntry/<entryUuid>), `s3uri`, `taskArn`, `workDir`, `files[{name, path, etag}]`,
`nextflowContext`, `otherOutputs` and, for runs started after 2025-02-12, an integer `version` (absent:
a legacy entry, older than any version). Only a manifest that validates against this format can make an
object set a cache entry; anything else (not JSON, another shape, a float or string version) is kept
by the pruner. The guide's own printed example is not valid JSON (a trailing comma).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

# Legacy entries (no `version`) rank below every versioned entry.
LEGACY_VERSION = 0
MAX_MANIFEST_BYTES = 1024 * 1024

_ENTRY_ARN = re.compile(
    r"arn:aws[a-z-]*:omics:[a-z0-9-]+:[0-9]{1,12}:runCache/(?P<cache>[0-9A-Za-z]+)/cacheEntry/(?P<entry>[0-9a-f-]+)"
)


class ManifestFile(BaseModel):
    model_config = ConfigDict(defer_build=True, strict=True, extra="allow")

    name: StrictStr
    path: StrictStr
    etag: StrictStr


class CacheEntryManifest(BaseModel):
    """The guide's manifest format. Extra fields are tolerated (the service may add some)."""

    model_config = ConfigDict(defer_build=True, strict=True, extra="allow")

    arn: StrictStr = Field(pattern=f"^{_ENTRY_ARN.pattern}$")
    s3uri: StrictStr = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+")
    taskArn: StrictStr = Field(pattern=r"^arn:aws[a-z-]*:omics:[a-z0-9-]+:[0-9]{1,12}:task/[0-9]+$")
    workDir: StrictStr | None = None
    files: list[ManifestFile]
    nextflowContext: dict[str, Any] = Field(default_factory=dict)
    otherOutputs: dict[str, Any] = Field(default_factory=dict)
    version: StrictInt | None = Field(default=None, ge=1)  # None only when absent (checked below)


class ManifestState(StrEnum):
    VERSIONED = "VERSIONED"
    LEGACY = "LEGACY"
    INVALID = "INVALID"  # not JSON, or not the guide's manifest format: never this cache's entry
    VANISHED = "VANISHED"  # listed, but gone by the time it was read (deleted concurrently)
    READ_FAILED = "READ_FAILED"  # GetObject failed (throttling, access, KMS): nothing is known, always kept


@dataclass(frozen=True)
class ManifestInfo:
    state: ManifestState
    version: int | None = None  # LEGACY_VERSION for legacy entries
    cache_id: str | None = None  # from the entry ARN
    entry_uuid: str | None = None  # from the entry ARN: informative only, not the directory's name (guide)
    location: str | None = None  # the manifest's `s3uri`
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in (ManifestState.VERSIONED, ManifestState.LEGACY)

    def names(self, cache_id: str, bucket: str, entry_prefix: str) -> bool:
        """A valid manifest of `cache_id` that says it lives in the entry directory `bucket`/`entry_prefix`.

        The ARN's entry id is not compared with the directory: in the guide's own example they differ
        (`cacheEntry/1234567-195f-…` in `…/7e8c69b1-145f-…/`). The `s3uri` is what ties a manifest to its
        directory, so a manifest copied or forged elsewhere names no entry there."""
        location = (self.location or "").rstrip("/")
        return self.valid and self.cache_id == cache_id and location == entry_location(bucket, entry_prefix)


def entry_location(bucket: str, key_prefix: str) -> str:
    """`s3://bucket/key/prefix`, without a trailing slash: how an entry directory and `s3uri` compare."""
    return f"s3://{bucket}/{key_prefix}".rstrip("/")


def parse_manifest(body: bytes) -> ManifestInfo:
    """Interpret a manifest object's bytes; never raises."""
    if len(body) > MAX_MANIFEST_BYTES:
        return ManifestInfo(ManifestState.INVALID, problem=f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ManifestInfo(ManifestState.INVALID, problem="not valid JSON")
    if not isinstance(document, dict):
        return ManifestInfo(ManifestState.INVALID, problem="not a JSON object")
    if "version" in document and document["version"] is None:
        return ManifestInfo(ManifestState.INVALID, problem="version is null")
    try:
        manifest = CacheEntryManifest.model_validate(document)
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"][:1]) for e in error.errors()})
        return ManifestInfo(ManifestState.INVALID, problem=f"not the guide's manifest format: {', '.join(fields)}")
    match = _ENTRY_ARN.fullmatch(manifest.arn)
    assert match is not None  # the field pattern matched
    cache_id, entry_uuid = match["cache"], match["entry"]
    if manifest.version is None:
        return ManifestInfo(ManifestState.LEGACY, LEGACY_VERSION, cache_id, entry_uuid, manifest.s3uri)
    return ManifestInfo(ManifestState.VERSIONED, manifest.version, cache_id, entry_uuid, manifest.s3uri)
