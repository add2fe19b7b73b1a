"""What happens to one cache entry: pure decisions, no I/O.

Current version = the highest version seen in the cache, or a configured minimum if higher (the
"floor"). The service only ever increments the version, so any version seen is a lower bound of the
true current one: an entry below the floor is certainly stale. Every doubt keeps the entry.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pruner.entries import Entry
from pruner.manifest import ManifestInfo, ManifestState


class Reason(StrEnum):
    STALE_VERSION = "STALE_VERSION"  # version below the floor
    LEGACY = "LEGACY"  # no version at all, while versioned entries exist
    EXPIRED = "EXPIRED"  # older than maxAgeDays (opt-in)
    ORPHAN_EXPIRED = "ORPHAN_EXPIRED"  # no manifest, older than the orphan guard age (opt-in)
    UNREADABLE_DELETED = "UNREADABLE_DELETED"  # opt-in
    CURRENT = "CURRENT"
    ORPHAN = "ORPHAN"
    UNREADABLE = "UNREADABLE"
    FOREIGN = "FOREIGN"  # the manifest names another run cache: not ours to judge
    ACTIVE_RUN = "ACTIVE_RUN"  # provenance shows the entry's run as still active
    VANISHED = "VANISHED"  # the manifest disappeared between LIST and GET
    ALREADY_DECIDED = "ALREADY_DECIDED"  # a re-scan: this entry was judged before, under the same rules


DELETE_REASONS = frozenset(
    {Reason.STALE_VERSION, Reason.LEGACY, Reason.EXPIRED, Reason.ORPHAN_EXPIRED, Reason.UNREADABLE_DELETED}
)


@dataclass(frozen=True)
class Rules:
    min_version: int | None = None
    max_age_days: int | None = None
    orphan_guard_days: int | None = None
    delete_unreadable: bool = False


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


def floor_after(floor: int, entry_manifest: ManifestInfo | None, cache_id: str) -> int:
    """The floor after seeing one manifest: raised by a higher version of *this* cache's entries."""
    if entry_manifest is None or is_foreign(entry_manifest, cache_id):
        return floor
    version = entry_manifest.comparable_version
    return version if version is not None and version > floor else floor


def is_foreign(manifest: ManifestInfo, cache_id: str) -> bool:
    return manifest.cache_id is not None and manifest.cache_id != cache_id


def _stale_reason(manifest: ManifestInfo | None) -> Reason:
    legacy = manifest is not None and manifest.state is ManifestState.LEGACY
    return Reason.LEGACY if legacy else Reason.STALE_VERSION


def _older_than(entry: Entry, days: int | None, now: datetime) -> bool:
    return days is not None and now - entry.newest >= timedelta(days=days)


def decide(
    entry: Entry,
    manifest: ManifestInfo | None,
    *,
    cache_id: str,
    floor: int,
    rules: Rules,
    now: datetime,
    active_runs: Collection[str],
    previous_floor: int | None = None,
) -> Decision:
    """Judge one entry. `manifest` is None when the entry has no manifest object (an orphan).

    `previous_floor` marks a re-scan of entries already judged under that floor: only entries that
    became stale because the floor rose since (previous_floor <= version < floor) are acted on.
    """
    if previous_floor is not None:
        version = manifest.comparable_version if manifest and not is_foreign(manifest, cache_id) else None
        if version is None or not previous_floor <= version < floor or entry.run_id in active_runs:
            return Decision(Reason.ALREADY_DECIDED)
        return Decision(_stale_reason(manifest))

    if entry.run_id in active_runs:
        return Decision(Reason.ACTIVE_RUN)
    if manifest is None:
        # Only a prefix shaped like a cache entry is an orphan that may expire: anything else under a
        # shared prefix (another team's data) is kept whatever its age.
        expired = entry.has_cache_shape and _older_than(entry, rules.orphan_guard_days, now)
        return Decision(Reason.ORPHAN_EXPIRED if expired else Reason.ORPHAN)
    if manifest.state is ManifestState.VANISHED:
        return Decision(Reason.VANISHED)
    if is_foreign(manifest, cache_id):
        return Decision(Reason.FOREIGN)
    if manifest.state is ManifestState.READ_FAILED:
        return Decision(Reason.UNREADABLE)  # kept whatever the configuration: a failed read proves nothing
    if manifest.state is ManifestState.UNREADABLE:
        return Decision(Reason.UNREADABLE_DELETED if rules.delete_unreadable else Reason.UNREADABLE)
    version = manifest.comparable_version
    assert version is not None
    if version < floor:
        return Decision(_stale_reason(manifest))
    if _older_than(entry, rules.max_age_days, now):
        return Decision(Reason.EXPIRED)
    return Decision(Reason.CURRENT)
