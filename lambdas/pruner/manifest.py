"""Cache-entry manifests: the one field the pruner needs (`version`) and who owns the entry.

The guide: runs started after 2025-02-12 carry an integer `version`; absent means a legacy entry,
older than any version. The guide's own example manifest is not valid JSON (a trailing comma), so a
manifest that does not parse is *unreadable*: reported, and kept unless the operator opts in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

# Legacy entries (no `version`) rank below every versioned entry.
LEGACY_VERSION = 0
MAX_MANIFEST_BYTES = 1024 * 1024


class ManifestState(StrEnum):
    VERSIONED = "VERSIONED"
    LEGACY = "LEGACY"
    UNREADABLE = "UNREADABLE"  # not JSON, not an object, or a `version` that is not a non-negative int
    VANISHED = "VANISHED"  # listed, but gone by the time it was read (deleted concurrently)
    READ_FAILED = "READ_FAILED"  # GetObject failed (throttling, access, KMS): nothing is known, always kept


@dataclass(frozen=True)
class ManifestInfo:
    state: ManifestState
    version: int | None = None  # LEGACY_VERSION for legacy entries
    cache_id: str | None = None  # from the entry ARN (…:runCache/<id>/cacheEntry/<uuid>), when present
    problem: str | None = None

    @property
    def comparable_version(self) -> int | None:
        """The version rules compare, or None when the manifest tells nothing usable."""
        return self.version if self.state in (ManifestState.VERSIONED, ManifestState.LEGACY) else None


def cache_id_of(arn: object) -> str | None:
    if not isinstance(arn, str):
        return None
    _, found, rest = arn.partition(":runCache/")
    return (rest.split("/", 1)[0] or None) if found else None


def parse_manifest(body: bytes) -> ManifestInfo:
    """Interpret a manifest object's bytes; never raises."""
    if len(body) > MAX_MANIFEST_BYTES:
        return ManifestInfo(ManifestState.UNREADABLE, problem=f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return ManifestInfo(ManifestState.UNREADABLE, problem=f"not valid JSON: {str(error)[:200]}")
    if not isinstance(document, dict):
        return ManifestInfo(ManifestState.UNREADABLE, problem="manifest is not a JSON object")
    cache_id = cache_id_of(document.get("arn"))
    if "version" not in document:
        return ManifestInfo(ManifestState.LEGACY, LEGACY_VERSION, cache_id)
    version = document["version"]
    # bool is an int in Python; a version of true/false, a float, a string or null is not trusted.
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        problem = f"unusable version {version!r}"
        return ManifestInfo(ManifestState.UNREADABLE, cache_id=cache_id, problem=problem)
    return ManifestInfo(ManifestState.VERSIONED, version, cache_id)
