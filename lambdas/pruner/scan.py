"""Scan one key range of a run cache: group entries, read manifests, decide, delete, count, report.

Memory is bounded by a window of entries (manifests are read for a window at a time) and by the
delete queue (at most one DeleteObjects batch plus the manifests waiting for their entry's data).

Deleting an entry: its data objects first, its manifest last, and only once every data object is
gone. A partial failure (or an interruption) therefore leaves a stale entry with its manifest, which
the next pass recognises and finishes, never an orphan that looks unknown.

Resumable: the scan stops when `should_stop()` says so (between windows), drains its deletes and
returns a `ScanState` whose `start_after` is the last key of the last fully handled entry.

Incremental (`ScanScope.unchanged_before`): an entry of this cache judged current at the current floor
stays current until the floor rises (the service only increments versions). So when an earlier clean
pass judged the cache at this floor, an entry whose manifest was last modified before that pass is not
read again (UNCHANGED), unless it was kept then for a transient reason (the watermark is moved back to
cover it), it may have reached `maxAgeDays`, or the floor rose during this scan (then it is read).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pruner.entries import Entry, S3Object, Stray, group_entries
from pruner.manifest import ManifestInfo
from pruner.rules import DELETE_REASONS, TRANSIENT_REASONS, Decision, Reason, Rules, decide, floor_after, ours
from pruner.s3_store import DELETE_BATCH, S3Store
from shared.status import iso_time

WINDOW = 256  # entries whose manifests are read together (and between which a scan may stop)


class Counts(BaseModel):
    """Counters of a scan; additive across invocations, items and rounds."""

    model_config = ConfigDict(defer_build=True)

    entries_scanned: int = 0
    objects_scanned: int = 0
    bytes_scanned: int = 0
    strays: int = 0
    current: int = 0
    stale: int = 0  # entries to delete (any delete reason); in dry-run: would be deleted
    stale_bytes: int = 0
    stale_objects: int = 0
    legacy: int = 0
    expired: int = 0
    unreadable: int = 0
    orphans: int = 0
    foreign: int = 0
    ours: int = 0  # entries whose manifest names this cache at their own location (any decision)
    held: int = 0  # entries of this cache whose version is above what the pass may apply
    unchanged: int = 0  # incremental: entries not re-read (judged by an earlier clean pass at this floor)
    active_skipped: int = 0
    vanished: int = 0
    entries_deleted: int = 0
    objects_deleted: int = 0
    bytes_reclaimed: int = 0
    errors: int = 0  # keys that could not be deleted

    def add(self, other: Counts) -> Counts:
        return Counts(**{name: getattr(self, name) + getattr(other, name) for name in Counts.model_fields})


class Rise(BaseModel):
    """Where the floor rose during the main scan: entries before `at` were judged under `floor_before`."""

    model_config = ConfigDict(defer_build=True)

    at: str
    floor_before: int


class ScanState(BaseModel):
    """Checkpointed progress of one work item (a key range)."""

    model_config = ConfigDict(defer_build=True)

    phase: Literal["main", "rescan", "done"] = "main"
    start_after: str | None = None
    floor: int
    previous_floor: int | None = None  # catch-up round: the floor this range was judged under before
    max_seen: int = 0  # highest believable version of this cache seen (<= the scope's ceiling)
    held_version: int = 0  # highest version seen above the ceiling: reported, never applied
    # Oldest manifest (LastModified, ISO) of an entry kept for a transient reason (active run, failed read,
    # held version): the next incremental pass re-reads everything modified since.
    revisit_since: str | None = None
    rises: list[Rise] = Field(default_factory=list)
    rescan_index: int = 0
    kept_versions: list[int] = Field(default_factory=list)  # versions of this cache's entries kept
    counts: Counts = Field(default_factory=Counts)


@dataclass(frozen=True)
class ScanScope:
    bucket: str
    cache_prefix: str
    cache_id: str
    ceiling: int  # highest version the floor may rise to (rules.version_ceiling)
    start: str | None = None  # inclusive key bound
    end: str | None = None  # exclusive key bound
    unchanged_before: datetime | None = None  # incremental: manifests older than this are not re-read


class ReportWriter:
    """Streams the per run/task report as JSON lines into a file-like object.

    Decisions of contiguous entries of one (run, task) are aggregated into one line, so memory holds
    one aggregate at a time; anomalies and delete errors are one line each.
    """

    def __init__(self, sink: IO[bytes], enforce: bool) -> None:
        self.sink = sink
        self.enforce = enforce
        self._group: tuple[str, str] | None = None
        self._agg: dict[str, Any] = {}

    def _write(self, line: dict[str, Any]) -> None:
        self.sink.write(json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n")

    def decided(self, entry: Entry, reason: Reason, size: int, objects: int) -> None:
        if reason in DELETE_REASONS:
            group = (entry.run_id, entry.task_id)
            if group != self._group:
                self.flush()
                self._group = group
                self._agg = {
                    "runId": entry.run_id,
                    "taskId": entry.task_id,
                    "action": "delete" if self.enforce else "would-delete",
                    "entries": 0,
                    "objects": 0,
                    "bytes": 0,
                    "reasons": {},
                }
            self._agg["entries"] += 1
            self._agg["objects"] += objects
            self._agg["bytes"] += size
            self._agg["reasons"][reason.value] = self._agg["reasons"].get(reason.value, 0) + 1
        elif reason not in (Reason.CURRENT, Reason.ALREADY_DECIDED):
            self._write(
                {
                    "runId": entry.run_id,
                    "taskId": entry.task_id,
                    "entry": entry.prefix,
                    "action": "keep",
                    "reason": reason.value,
                    "bytes": size,
                }
            )

    def deleted(self, key: str, delete_marker: str | None) -> None:
        """One deleted key and its delete marker: what `autopilot cache restore` needs to undo the pass."""
        self._write({"action": "deleted", "key": key, "deleteMarkerVersionId": delete_marker})

    def error(self, key: str, code: str) -> None:
        self._write({"action": "delete-failed", "key": key, "code": code})

    def flush(self) -> None:
        if self._group is not None:
            self._write(self._agg)
        self._group, self._agg = None, {}


@dataclass
class _Pending:
    entry: Entry
    manifest_key: str | None
    outstanding: int
    sizes: dict[str, int]
    seq: int  # order in which entries were judged
    judged: Counts  # what judging this entry added to the counts
    deleted_bytes: int = 0
    deleted_objects: int = 0
    failed: int = 0

    def deletion(self) -> Counts:
        return Counts(
            objects_deleted=self.deleted_objects,
            bytes_reclaimed=self.deleted_bytes,
            entries_deleted=0 if self.failed else 1,
            errors=self.failed,
        )


@dataclass
class _Deferred:
    """A checkpoint taken at an entry boundary, written once every entry judged before it is settled."""

    state: ScanState
    last_seq: int
    extra: Counts = field(default_factory=Counts)


@dataclass
class DeleteBatcher:
    """Queues keys of entries to delete; sends full DeleteObjects batches; manifests go last.

    Periodic checkpoints do not flush the queue (a partial batch each time would cost requests over
    the minimum): they are deferred until the entries judged before them are settled, then written
    with exactly those entries' outcomes plus those of later entries already fully deleted (which a
    resumed scan will not list again).
    """

    store: S3Store
    bucket: str
    counts: Counts
    report: ReportWriter
    emit: Callable[[ScanState], None] = lambda _: None
    queue: deque[str] = field(default_factory=deque)
    owner: dict[str, _Pending] = field(default_factory=dict)
    seq: int = 0
    unfinished: dict[int, None] = field(default_factory=dict)  # seqs in judging order
    deferred: _Deferred | None = None

    def defer_checkpoint(self, state: ScanState) -> None:
        if self.deferred is not None:
            return  # the earlier one is written first
        snapshot = state.model_copy(deep=True)
        if not self.unfinished:
            self.emit(snapshot)
            return
        self.deferred = _Deferred(snapshot, self.seq)

    def cancel_deferred(self) -> None:
        """A checkpoint after a drain supersedes the deferred one."""
        self.deferred = None

    def add(self, entry: Entry, judged: Counts) -> None:
        manifest = entry.manifest_key if entry.has_manifest else None
        sizes = {o.key: o.size for o in entry.objects}
        data = [o.key for o in entry.objects if o.key != manifest]
        self.seq += 1
        self.unfinished[self.seq] = None
        pending = _Pending(entry, manifest, len(data), sizes, self.seq, judged)
        for key in data:
            self.owner[key] = pending
            self.queue.append(key)
        if not data:
            self._data_done(pending)
        while len(self.queue) >= DELETE_BATCH:
            self._send()

    def drain(self) -> None:
        while self.queue:
            self._send()

    def _send(self) -> None:
        batch = [self.queue.popleft() for _ in range(min(DELETE_BATCH, len(self.queue)))]
        outcome = self.store.delete(self.bucket, batch)
        # Every undo record of the batch is written before settling any key: settling may emit a
        # checkpoint, and a checkpoint stores the report first (service.ReportParts).
        for key, marker in outcome.deleted.items():
            self.report.deleted(key, marker)
        for key in outcome.deleted:
            self._settle(key, None)
        for key, code in outcome.failed.items():
            self._settle(key, code)

    def _settle(self, key: str, error: str | None) -> None:
        pending = self.owner.pop(key)
        if error is None:
            pending.deleted_bytes += pending.sizes[key]
            pending.deleted_objects += 1
        else:
            pending.failed += 1
            self.counts.errors += 1
            self.report.error(key, error)
        if key == pending.manifest_key:
            self._finish(pending)
            return
        pending.outstanding -= 1
        if pending.outstanding == 0:
            self._data_done(pending)

    def _data_done(self, pending: _Pending) -> None:
        if pending.manifest_key is None or pending.failed:
            self._finish(pending)  # keep the manifest when data remains: the next pass finishes the entry
            return
        self.owner[pending.manifest_key] = pending
        self.queue.appendleft(pending.manifest_key)

    def _finish(self, pending: _Pending) -> None:
        self.counts.objects_deleted += pending.deleted_objects
        self.counts.bytes_reclaimed += pending.deleted_bytes
        if not pending.failed:
            self.counts.entries_deleted += 1
        del self.unfinished[pending.seq]
        deferred = self.deferred
        if deferred is None:
            return
        if pending.seq <= deferred.last_seq:
            deferred.extra = deferred.extra.add(pending.deletion())
        elif not pending.failed:  # gone for good: a resumed scan will not list it again
            deferred.extra = deferred.extra.add(pending.judged).add(pending.deletion())
        if not self.unfinished or next(iter(self.unfinished)) > deferred.last_seq:
            self.deferred = None
            deferred.state.counts = deferred.state.counts.add(deferred.extra)
            self.emit(deferred.state)


class RangeScanner:
    """Scans one ScanScope from a ScanState until done or told to stop."""

    def __init__(
        self,
        store: S3Store,
        scope: ScanScope,
        *,
        rules: Rules,
        enforce: bool,
        now: datetime,
        active_runs: Collection[str],
        report: ReportWriter,
        should_stop: Callable[[], bool] = lambda: False,
        on_checkpoint: Callable[[ScanState], None] | None = None,
        checkpoint_every: int = 40,
        window: int = WINDOW,
        listing: Callable[[str | None], Iterator[S3Object]] | None = None,
        verify: Callable[[Entry], Entry | None] | None = None,
    ) -> None:
        """`listing` replaces the LIST of the cache prefix (an inventory report's rows after a key, in key
        order); `verify` returns the entry as S3 holds it now, or None when it is gone: called before an
        entry the rules would delete is counted or deleted (inventory passes)."""
        self.store = store
        self.scope = scope
        self.rules = rules
        self.enforce = enforce
        self.now = now
        self.active_runs = active_runs
        self.report = report
        self.should_stop = should_stop
        self.on_checkpoint = on_checkpoint
        self.checkpoint_every = checkpoint_every
        self.window = window
        self.listing = listing
        self.verify = verify

    # ------------------------------------------------------------------ driver
    def run(self, state: ScanState) -> ScanState:
        state = state.model_copy(deep=True)
        batcher = None
        if self.enforce:
            batcher = DeleteBatcher(self.store, self.scope.bucket, state.counts, self.report, self._checkpoint)
        while state.phase != "done":
            if state.phase == "main":
                scope = self.scope
                finished = self._segment(state, batcher, scope.start, scope.end, state.previous_floor, True)
                if not finished:
                    return state
                state.phase, state.start_after = ("rescan" if state.rises else "done"), None
            else:
                index = state.rescan_index
                start = self.scope.start if index == 0 else state.rises[index - 1].at
                end = state.rises[index].at
                finished = self._segment(state, batcher, start, end, state.rises[index].floor_before, False)
                if not finished:
                    return state
                state.rescan_index += 1
                state.start_after = None
                if state.rescan_index >= len(state.rises):
                    state.phase = "done"
        self.report.flush()
        return state

    def _segment(
        self,
        state: ScanState,
        batcher: DeleteBatcher | None,
        start: str | None,
        end: str | None,
        previous_floor: int | None,
        may_rise: bool,
    ) -> bool:
        """Scan [start, end) from state.start_after; True when the segment is finished."""
        entries = self._entries(state.start_after or (start[:-1] if start else None), start, end)
        windows = 0
        while True:
            window = _take(entries, self.window)
            if not window:
                break
            self._judge(window, state, batcher, previous_floor, may_rise)
            windows += 1
            if batcher is not None and windows % self.checkpoint_every == 0:
                batcher.defer_checkpoint(state)
            if self.should_stop():
                if batcher is not None:
                    batcher.drain()
                    batcher.cancel_deferred()
                self.report.flush()
                self._checkpoint(state)
                return False
        if batcher is not None:
            batcher.drain()
        return True

    def _checkpoint(self, state: ScanState) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(state.model_copy(deep=True))

    def _entries(self, start_after: str | None, start: str | None, end: str | None) -> Iterator[Entry | Stray]:
        prefix = self.scope.cache_prefix
        if self.listing is not None:
            objects = self.listing(start_after)
        else:
            objects = self.store.list_objects(self.scope.bucket, prefix, start_after)
        yield from group_entries(_bounded(objects, start, end), prefix)

    # ------------------------------------------------------------------ judging
    def _judge(
        self,
        window: list[Entry | Stray],
        state: ScanState,
        batcher: DeleteBatcher | None,
        previous_floor: int | None,
        may_rise: bool,
    ) -> None:
        entries = [item for item in window if isinstance(item, Entry)]
        first_look = may_rise and previous_floor is None  # counted once: later looks only add deletions
        counts = state.counts
        if first_look:
            counts.strays += len(window) - len(entries)
        incremental = first_look and not state.rises
        with_manifest = [e for e in entries if e.has_manifest]
        unchanged = {e.prefix for e in with_manifest if incremental and self._unchanged(e)}
        to_read = [e for e in with_manifest if e.prefix not in unchanged]
        bodies = self.store.read_manifests(self.scope.bucket, [e.manifest_key for e in to_read])
        manifests = dict(zip((e.prefix for e in to_read), bodies, strict=True))
        for entry in entries:
            if entry.prefix in unchanged and not state.rises:
                # Judged at this floor by an earlier clean pass; its version is at least the floor.
                counts.entries_scanned += 1
                counts.objects_scanned += len(entry.objects)
                counts.bytes_scanned += entry.size
                counts.unchanged += 1
                if state.floor not in state.kept_versions:
                    state.kept_versions.append(state.floor)
                continue
            if entry.prefix in unchanged:  # the floor rose in this window: read it after all
                [manifests[entry.prefix]] = self.store.read_manifests(self.scope.bucket, [entry.manifest_key])
            manifest: ManifestInfo | None = manifests.get(entry.prefix)
            ceiling = self.scope.ceiling
            if may_rise:
                raised = floor_after(state.floor, entry, manifest, self.scope.cache_id, self.scope.bucket, ceiling)
                if raised > state.floor:
                    state.rises.append(Rise(at=entry.prefix, floor_before=state.floor))
                    state.floor = raised
            mine = manifest is not None and ours(entry, manifest, self.scope.cache_id, self.scope.bucket)
            version = manifest.version if manifest is not None and mine else None
            if version is not None and version <= ceiling:
                state.max_seen = max(state.max_seen, version)
            elif version is not None:
                state.held_version = max(state.held_version, version)
                if first_look:
                    counts.held += 1
                self._revisit(state, entry)
            decision = self._decide(entry, manifest, state.floor, previous_floor)
            if decision.delete and self.verify is not None:
                live = self.verify(entry)
                if live is None:
                    decision = Decision(Reason.VANISHED)
                else:  # judged again on the objects S3 holds now (their age: maxAgeDays)
                    entry = live
                    decision = self._decide(entry, manifest, state.floor, previous_floor)
            size, objects = entry.size, len(entry.objects)
            if first_look:
                counts.entries_scanned += 1
                counts.objects_scanned += objects
                counts.bytes_scanned += size
                counts.ours += mine
            if decision.reason in TRANSIENT_REASONS:
                self._revisit(state, entry)
            self._count(counts, decision.reason, size, objects)
            self.report.decided(entry, decision.reason, size, objects)
            if (
                version is not None
                and version not in state.kept_versions
                and _kept_at_version(decision.reason, version, state)
            ):
                state.kept_versions.append(version)
            if decision.delete and batcher is not None:
                batcher.add(entry, self._judged(decision.reason, size, objects, first_look))
        last = window[-1]
        state.start_after = last.last_key if isinstance(last, Entry) else last.obj.key

    def _decide(self, entry: Entry, manifest: ManifestInfo | None, floor: int, previous_floor: int | None) -> Decision:
        """The rules' decision on one entry under this scan's scope, rules, time and active runs."""
        return decide(entry, manifest, cache_id=self.scope.cache_id, bucket=self.scope.bucket, floor=floor,
                      rules=self.rules, now=self.now, active_runs=self.active_runs, previous_floor=previous_floor)

    def _judged(self, reason: Reason, size: int, objects: int, first_look: bool) -> Counts:
        """The counts judging one entry adds (as in _judge)."""
        delta = Counts()
        if first_look:
            delta.entries_scanned, delta.objects_scanned, delta.bytes_scanned = 1, objects, size
            delta.ours = 1  # only this cache's entries are deleted
        self._count(delta, reason, size, objects)
        return delta

    def _unchanged(self, entry: Entry) -> bool:
        """Not re-read by an incremental scan: manifest older than the watermark and not an age candidate."""
        since, modified = self.scope.unchanged_before, entry.manifest_modified
        if since is None or modified is None or modified >= since:
            return False
        days = self.rules.max_age_days
        return days is None or self.now - entry.newest < timedelta(days=days)

    @staticmethod
    def _revisit(state: ScanState, entry: Entry) -> None:
        modified = entry.manifest_modified
        if modified is not None:
            stamp = iso_time(modified)
            state.revisit_since = min(state.revisit_since or stamp, stamp)

    @staticmethod
    def _count(counts: Counts, reason: Reason, size: int, objects: int) -> None:
        if reason in DELETE_REASONS:
            counts.stale += 1
            counts.stale_bytes += size
            counts.stale_objects += objects
        attribute = {
            Reason.CURRENT: "current",
            Reason.LEGACY: "legacy",
            Reason.EXPIRED: "expired",
            Reason.UNREADABLE: "unreadable",
            Reason.ORPHAN: "orphans",
            Reason.FOREIGN: "foreign",
            Reason.ACTIVE_RUN: "active_skipped",
            Reason.VANISHED: "vanished",
        }.get(reason)
        if attribute:
            setattr(counts, attribute, getattr(counts, attribute) + 1)


def _kept_at_version(reason: Reason, version: int, state: ScanState) -> bool:
    return reason is Reason.CURRENT or (reason is Reason.ALREADY_DECIDED and version >= state.floor)


def lowest_kept(state: ScanState) -> int | None:
    """The lowest version of this cache's entries the finished scan left in place. Entries kept under an
    earlier, lower floor were re-scanned once the floor rose, so only versions >= the final floor remain."""
    return min((v for v in state.kept_versions if v >= state.floor), default=None)


def _bounded(objects: Iterator[Any], start: str | None, end: str | None) -> Iterator[Any]:
    for obj in objects:
        if start is not None and obj.key < start:
            continue
        if end is not None and obj.key >= end:
            return
        yield obj


def _take(iterator: Iterator[Any], count: int) -> list[Any]:
    taken = []
    for item in iterator:
        taken.append(item)
        if len(taken) >= count:
            break
    return taken
