"""What happens to one cache entry: pure decisions, no I/O.

An object set is a cache entry of this cache only when (guide, "Call caching": layout and manifest)
its path has the layout `{cache uuid}/{runId}/{taskId}/{entry uuid}/`, its manifest validates against
the guide's format, the manifest's ARN names this cache, and its `s3uri` is the entry directory's own
location (bucket and key prefix). The ARN's entry id is not compared with the directory name: in the
guide's example they differ. Everything else is FOREIGN: kept, reported. Only entries of this cache
are ever judged stale.

Current version = the highest version seen in the cache's valid manifests, or a configured minimum if
higher (the "floor"). The service only ever increments the version, one step at a time, so a version
more than one above the recorded floor is not believed: it is *held* (reported, alarmed, not applied)
until the operator confirms it with `pruneMinVersion`. Every doubt keeps the entry.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pruner.entries import Entry
from pruner.manifest import ManifestInfo, ManifestState

# Until a pass has recorded a floor, the service's first version is the baseline: versions 1 and 2
# are believed, anything higher is held for the operator.
FIRST_VERSION = 1


class Reason(StrEnum):
    STALE_VERSION = "STALE_VERSION"  # version below the floor
    LEGACY = "LEGACY"  # no version at all, while versioned entries exist
    EXPIRED = "EXPIRED"  # older than maxAgeDays (opt-in)
    CURRENT = "CURRENT"
    ORPHAN = "ORPHAN"  # an entry-shaped directory without a manifest: kept
    UNREADABLE = "UNREADABLE"  # the manifest could not be read (GetObject failed): kept
    FOREIGN = "FOREIGN"  # not an entry of this cache (path, manifest format or ARN): kept
    ACTIVE_RUN = "ACTIVE_RUN"  # provenance shows the entry's run as still active
    VANISHED = "VANISHED"  # the manifest disappeared between LIST and GET
    ALREADY_DECIDED = "ALREADY_DECIDED"  # a re-scan: this entry was judged before, under the same rules
    UNCHANGED = "UNCHANGED"  # incremental pass: judged by an earlier clean pass at this floor, not re-read


DELETE_REASONS = frozenset({Reason.STALE_VERSION, Reason.LEGACY, Reason.EXPIRED})
# Kept for a reason that may not hold next time: an incremental pass re-reads these entries.
TRANSIENT_REASONS = frozenset({Reason.ACTIVE_RUN, Reason.UNREADABLE})


@dataclass(frozen=True)
class Rules:
    min_version: int | None = None
    max_age_days: int | None = None


@dataclass(frozen=True)
class Decision:
    reason: Reason

    @property
    def delete(self) -> bool:
        return self.reason in DELETE_REASONS


def initial_floor(rules: Rules, recorded_max: int | None) -> int:
    """The floor a scan starts from: the highest version recorded by earlier passes, or the minimum.
    0 is the legacy rank, so a floor of 0 makes nothing stale."""
    return max(rules.min_version or 0, recorded_max or 0)


def version_ceiling(rules: Rules, recorded_max: int | None) -> int:
    """The highest version a pass may apply as its floor: one over the recorded floor (or the service's
    first version), or the operator's `pruneMinVersion` when that is higher (a confirmed jump)."""
    return max((recorded_max or FIRST_VERSION) + 1, rules.min_version or 0)


def ours(entry: Entry, manifest: ManifestInfo | None, cache_id: str, bucket: str) -> bool:
    """The entry is a cache entry of `cache_id`: entry-shaped path, valid manifest of this cache whose
    `s3uri` is the entry's location in `bucket`."""
    return entry.has_cache_shape and manifest is not None and manifest.names(cache_id, bucket, entry.prefix)


def floor_after(
    floor: int, entry: Entry, manifest: ManifestInfo | None, cache_id: str, bucket: str, ceiling: int
) -> int:
    """The floor after seeing one entry: raised by a higher, believable version of this cache's entries."""
    if manifest is None or not ours(entry, manifest, cache_id, bucket):
        return floor
    version = manifest.version
    return version if version is not None and floor < version <= ceiling else floor


def _stale_reason(manifest: ManifestInfo) -> Reason:
    return Reason.LEGACY if manifest.state is ManifestState.LEGACY else Reason.STALE_VERSION


def _older_than(entry: Entry, days: int | None, now: datetime) -> bool:
    return days is not None and now - entry.newest >= timedelta(days=days)


def decide(
    entry: Entry,
    manifest: ManifestInfo | None,
    *,
    cache_id: str,
    bucket: str,
    floor: int,
    rules: Rules,
    now: datetime,
    active_runs: Collection[str],
    previous_floor: int | None = None,
) -> Decision:
    """Judge one entry. `manifest` is None when the entry has no manifest object.

    `previous_floor` marks a re-scan of entries already judged under that floor: only entries that
    became stale because the floor rose since (previous_floor <= version < floor) are acted on.
    """
    mine = ours(entry, manifest, cache_id, bucket)
    if previous_floor is not None:
        if not mine or entry.run_id in active_runs:
            return Decision(Reason.ALREADY_DECIDED)
        assert manifest is not None and manifest.version is not None
        if not previous_floor <= manifest.version < floor:
            return Decision(Reason.ALREADY_DECIDED)
        return Decision(_stale_reason(manifest))

    if not entry.has_cache_shape:
        return Decision(Reason.FOREIGN)
    if manifest is None:
        return Decision(Reason.ORPHAN)
    if manifest.state is ManifestState.VANISHED:
        return Decision(Reason.VANISHED)
    if manifest.state is ManifestState.READ_FAILED:
        return Decision(Reason.UNREADABLE)  # a failed read proves nothing
    if not mine:
        return Decision(Reason.FOREIGN)
    if entry.run_id in active_runs:
        return Decision(Reason.ACTIVE_RUN)
    assert manifest.version is not None
    if manifest.version < floor:
        return Decision(_stale_reason(manifest))
    if _older_than(entry, rules.max_age_days, now):
        return Decision(Reason.EXPIRED)
    return Decision(Reason.CURRENT)
