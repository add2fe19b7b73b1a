"""Scan one key range of a run cache: group entries, read manifests, decide, delete, count, report.

Memory is bounded by a window of entries (manifests are read for a window at a time) and by the
delete queue (at most one DeleteObjects batch plus the manifests waiting for their entry's data, from at
most MAX_UNSETTLED_WINDOWS windows).

Deleting an entry: its data objects first, its manifest last, and only once every data object is
gone. A partial failure (or an interruption) therefore leaves a stale entry with its manifest, which
the next pass recognises and finishes, never an orphan that looks unknown.

Resumable: the scan stops when `should_stop()` says so, between windows or before any DeleteObjects
request (a retry included): from then on it sends none, since a request under throttling can outlast the
invocation, and a killed invocation loses the undo records since its last checkpoint. It returns a
`ScanState` at the last window boundary before which every judged entry is settled (see DeleteBatcher);
the entries after it, whose deletions were not all sent, are listed and judged again by the next
invocation, so the work item is never done while some of its deletions are unsent.

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
# A partial DeleteObjects batch is sent once the oldest entry waiting for its deletion was judged this many
# windows ago: bounds what a stop leaves to be judged again (and the report lines held meanwhile), and lets
# an invocation that judges more windows than this settle the entries it started with. Where stale keys
# are dense, the manifests of one full batch wait for the next (~2 batch periods): 8 sends no extra request
# on the benchmark's cache (4 sent 196 DeleteObjects instead of 121 for 100,000 entries).
MAX_UNSETTLED_WINDOWS = 8


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
    # A stopped scan resumes before entries it already judged. A static listing (an inventory report) still
    # names those it deleted whole or found gone; the checkpoint counted them, so up to this key an entry
    # found gone is not counted again.
    judged_through: str | None = None


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
        # Decision lines held back while the entries they judge may be judged again (hold(), DeleteBatcher):
        # a stopped scan's successor reports those, so each entry is reported once.
        self._held: list[bytes] | None = None

    @staticmethod
    def _encode(line: dict[str, Any]) -> bytes:
        return json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    def _write(self, line: dict[str, Any]) -> None:
        self.sink.write(self._encode(line))

    def _decision(self, line: dict[str, Any]) -> None:
        if self._held is None:
            self._write(line)
        else:
            self._held.append(self._encode(line))

    def hold(self) -> None:
        """From now on decision lines wait for take_held(); deletions and errors are written at once."""
        self._held = []

    def take_held(self) -> list[bytes]:
        """The decision lines held so far (the current aggregate closed), no longer held."""
        self.flush()
        if self._held is None:
            return []
        lines, self._held = self._held, []
        return lines

    def commit(self, lines: list[bytes]) -> None:
        for line in lines:
            self.sink.write(line)

    def release(self) -> None:
        """Write what is held and stop holding."""
        self.commit(self.take_held())
        self._held = None

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
            self._decision(
                {
                    "runId": entry.run_id,
                    "taskId": entry.task_id,
                    "entry": entry.prefix,
                    "action": "keep",
                    "reason": reason.value,
                    "bytes": size,
                }
            )

    def partly_deleted(self, entry: Entry, objects: int, size: int) -> None:
        """Objects of an entry deleted by a scan that stopped before the rest: the scan that resumes judges,
        deletes and reports what is left of it (so the delete lines of a report sum to its counts)."""
        self.flush()
        self._decision(
            {
                "runId": entry.run_id,
                "taskId": entry.task_id,
                "entry": entry.prefix,
                "action": "delete",
                "partial": True,
                "entries": 0,
                "objects": objects,
                "bytes": size,
                "reasons": {},
            }
        )

    def deleted(self, key: str, delete_marker: str | None) -> None:
        """One deleted key and its delete marker: what `autopilot cache restore` needs to undo the pass."""
        self._write({"action": "deleted", "key": key, "deleteMarkerVersionId": delete_marker})

    def error(self, key: str, code: str) -> None:
        self._write({"action": "delete-failed", "key": key, "code": code})

    def flush(self) -> None:
        if self._group is not None:
            self._decision(self._agg)
        self._group, self._agg = None, {}


@dataclass
class _Pending:
    entry: Entry
    reason: Reason  # the decision on it, reported again if a stop drops its line (DeleteBatcher.stop)
    manifest_key: str | None
    outstanding: int
    sizes: dict[str, int]
    seq: int  # order in which entries were judged
    judged: Counts  # what judging this entry added to the counts
    deleted_bytes: int = 0
    deleted_objects: int = 0
    failed: int = 0
    gone: bool = False  # not deleted by this scan: found gone (DeleteBatcher.gone)

    def deletion(self) -> Counts:
        return Counts(
            objects_deleted=self.deleted_objects,
            bytes_reclaimed=self.deleted_bytes,
            entries_deleted=0 if self.failed else 1,
            errors=self.failed,
        )

    def partial(self) -> Counts:
        """What judging this entry again (after a resume) will not count: the objects already deleted. It is
        listed again with the rest of its objects, and judged, counted and deleted as that rest."""
        first_look = self.judged.entries_scanned > 0
        objects, size = self.deleted_objects, self.deleted_bytes
        return Counts(
            objects_deleted=objects,
            bytes_reclaimed=size,
            stale_objects=objects,
            stale_bytes=size,
            objects_scanned=objects if first_look else 0,
            bytes_scanned=size if first_look else 0,
        )


@dataclass
class _Boundary:
    """The scan's state between two windows: the entries judged before it have seqs <= last_seq."""

    state: ScanState
    last_seq: int
    since: int  # DeleteBatcher.settled position when taken: what settled after it is counted from there
    lines: list[bytes]  # report lines of the decisions of the window that ends here
    checkpoint: bool = False  # a periodic checkpoint: written once the boundary is safe


@dataclass
class DeleteBatcher:
    """Queues keys of entries to delete; sends full DeleteObjects batches; manifests go last.

    A boundary is taken after every window; it is safe once every entry judged before it is settled
    (deleted, or failed and left with its manifest for the next pass). A scan resumes only from the latest
    safe boundary, with exactly the outcomes of the entries judged before it plus what a scan resumed from
    it will not count again: later entries deleted whole (not listed again) and the objects already deleted
    of later entries (listed and judged again). That state is both the periodic checkpoint (written when a
    requested boundary becomes safe: full batches are not flushed for it) and what a stopped scan returns.

    Once `should_stop()` says stop, no DeleteObjects is sent (unsent keys stay queued, their entries
    unsettled); the decision lines of the entries after the resumed boundary are dropped with them.
    """

    store: S3Store
    bucket: str
    counts: Counts
    report: ReportWriter
    emit: Callable[[ScanState], None] = lambda _: None
    should_stop: Callable[[], bool] = lambda: False
    batch_size: int = DELETE_BATCH
    queue: deque[str] = field(default_factory=deque)
    owner: dict[str, _Pending] = field(default_factory=dict)
    seq: int = 0
    unfinished: dict[int, _Pending] = field(default_factory=dict)  # by seq, in judging order
    boundaries: deque[_Boundary] = field(default_factory=deque)  # the latest safe one, then later ones
    # Entries settled since the first boundary was taken (from absolute position settled_base)
    settled: list[_Pending] = field(default_factory=list)
    settled_base: int = 0
    stopped: bool = False

    def mark(self, state: ScanState, checkpoint: bool = False) -> None:
        """A boundary after the entries judged so far (the decision lines judged since the last one go with
        it); a checkpoint of it is written once it is safe, if `checkpoint`."""
        since = self.settled_base + len(self.settled)
        self.boundaries.append(
            _Boundary(state.model_copy(deep=True), self.seq, since, self.report.take_held(), checkpoint)
        )
        self._advance()

    def lagging(self) -> bool:
        """The oldest entry waiting for a DeleteObjects was judged MAX_UNSETTLED_WINDOWS windows ago (this
        window included: it is called before this window's boundary is taken)."""
        return bool(self.queue) and len(self.boundaries) >= MAX_UNSETTLED_WINDOWS

    def gone(self, entry: Entry, judged: Counts, reason: Reason) -> None:
        """An entry of a static listing found gone: a scan resumed from any boundary taken so far lists it
        again and skips it (ScanState.judged_through), so it counts as settled after each of them."""
        self.seq += 1
        self.settled.append(_Pending(entry, reason, None, 0, {}, self.seq, judged, gone=True))

    def stop(self) -> ScanState:
        """Send nothing more; the state to resume from (the latest safe boundary). The decisions judged after
        it are reported by the scan that resumes, except those on entries settled for good (deleted whole,
        or gone), which it will not judge again; objects deleted of the others are reported as such."""
        self.stopped = True
        self.report.take_held()
        boundary = self.boundaries[0]
        for pending in self.settled[boundary.since - self.settled_base :]:
            if pending.seq > boundary.last_seq and not pending.failed:
                self.report.decided(pending.entry, pending.reason, pending.entry.size, len(pending.entry.objects))
            elif pending.seq > boundary.last_seq and pending.deleted_objects:
                self.report.partly_deleted(pending.entry, pending.deleted_objects, pending.deleted_bytes)
        for pending in self.unfinished.values():
            if pending.deleted_objects:
                self.report.partly_deleted(pending.entry, pending.deleted_objects, pending.deleted_bytes)
        self.report.commit(self.report.take_held())
        return self._resume_state()

    def add(self, entry: Entry, judged: Counts, reason: Reason) -> None:
        manifest = entry.manifest_key if entry.has_manifest else None
        sizes = {o.key: o.size for o in entry.objects}
        data = [o.key for o in entry.objects if o.key != manifest]
        self.seq += 1
        pending = _Pending(entry, reason, manifest, len(data), sizes, self.seq, judged)
        self.unfinished[self.seq] = pending
        for key in data:
            self.owner[key] = pending
            self.queue.append(key)
        if not data:
            self._data_done(pending)
        while len(self.queue) >= self.batch_size and not self.stopped:
            self._send()

    def drain(self) -> None:
        while self.queue and not self.stopped:
            self._send()

    def _send(self) -> None:
        if self.stopped or self.should_stop():
            self.stopped = True
            return
        batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
        outcome = self.store.delete(self.bucket, batch, self.should_stop)
        if outcome.unsent:
            # Told to stop before retrying these: not deleted, their entries stay unsettled.
            self.stopped = True
            self.queue.extendleft(reversed(outcome.unsent))
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
        # Counted whole when the entry is settled, as a boundary taken before it counts it (deletion()).
        self.counts.objects_deleted += pending.deleted_objects
        self.counts.bytes_reclaimed += pending.deleted_bytes
        self.counts.errors += pending.failed
        if not pending.failed:
            self.counts.entries_deleted += 1
        del self.unfinished[pending.seq]
        pending.sizes = {}
        self.settled.append(pending)
        self._advance()

    def _safe(self, boundary: _Boundary) -> bool:
        return not self.unfinished or next(iter(self.unfinished)) > boundary.last_seq

    def _advance(self) -> None:
        """Keep the latest safe boundary and the later ones; report the decisions judged before it; write a
        requested checkpoint once its boundary (or a later one) is safe."""
        requested = False
        while True:
            first = self.boundaries[0]
            self.report.commit(first.lines)
            first.lines = []
            requested, first.checkpoint = requested or first.checkpoint, False
            if len(self.boundaries) > 1 and self._safe(self.boundaries[1]):
                self.boundaries.popleft()
                continue
            break
        drop = self.boundaries[0].since - self.settled_base
        if drop:
            del self.settled[:drop]
            self.settled_base += drop
        if requested:
            self.emit(self._resume_state())

    def _resume_state(self) -> ScanState:
        """The state of the latest safe boundary with what settled since (see the class docstring)."""
        boundary = self.boundaries[0]
        state = boundary.state.model_copy(deep=True)
        extra = Counts()
        for pending in self.settled[boundary.since - self.settled_base :]:
            if pending.seq <= boundary.last_seq:
                extra = extra.add(pending.deletion())
            elif pending.failed:  # kept with its manifest: judged again, as what is left of it
                extra = extra.add(pending.partial())
            else:  # gone for good: a resumed scan does not list it (or skips it) again
                extra = extra.add(pending.judged)
                if not pending.gone:
                    extra = extra.add(pending.deletion())
        for pending in self.unfinished.values():  # all judged after the boundary: it is safe
            if pending.deleted_objects:
                extra = extra.add(pending.partial())
        state.counts = state.counts.add(extra)
        return state


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
        delete_batch: int = DELETE_BATCH,
    ) -> None:
        """`listing` replaces the LIST of the cache prefix (an inventory report's rows after a key, in key
        order); `verify` returns the entry as S3 holds it now, or None when it is gone: called before an
        entry the rules would delete is counted or deleted (inventory passes). `delete_batch`: keys per
        DeleteObjects (smaller in tests only)."""
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
        self.delete_batch = delete_batch
        self._judged_to: str | None = None  # the last key of the last entry judged in this segment

    # ------------------------------------------------------------------ driver
    def run(self, state: ScanState) -> ScanState:
        """Scan until done, or until told to stop: then the state to resume from (also checkpointed)."""
        state = state.model_copy(deep=True)
        batcher = None
        if self.enforce:
            self.report.hold()
            batcher = DeleteBatcher(
                self.store, self.scope.bucket, state.counts, self.report, self._emit, self.should_stop,
                self.delete_batch,
            )
        try:
            return self._run(state, batcher)
        except BaseException:
            if batcher is not None and batcher.boundaries and not batcher.stopped:
                # A failing enforce scan (S3 or DynamoDB raised) checkpoints where a stop would have: the
                # retry resumes there, with the counts of what this one deleted since (the objects of the
                # request that raised are not known: judged again, counted if they are still there).
                try:
                    self._stopped(state, batcher)
                except Exception:  # the first error is the one to raise
                    self.report.release()
            else:
                # It resumes from its last checkpoint: report every decision it took, as before decisions
                # were held (a line may repeat; none of an entry deleted since goes missing).
                self.report.release()
            raise

    def _run(self, state: ScanState, batcher: DeleteBatcher | None) -> ScanState:
        while state.phase != "done":
            if state.phase == "main":
                scope = self.scope
                resume = self._segment(state, batcher, scope.start, scope.end, state.previous_floor, True)
                if resume is not None:
                    return resume
                state.phase, state.start_after = ("rescan" if state.rises else "done"), None
            else:
                index = state.rescan_index
                start = self.scope.start if index == 0 else state.rises[index - 1].at
                end = state.rises[index].at
                resume = self._segment(state, batcher, start, end, state.rises[index].floor_before, False)
                if resume is not None:
                    return resume
                state.rescan_index += 1
                state.start_after = None
                if state.rescan_index >= len(state.rises):
                    state.phase = "done"
            state.judged_through = None  # a new segment lists its range from the start
        self.report.release()
        return state

    def _segment(
        self,
        state: ScanState,
        batcher: DeleteBatcher | None,
        start: str | None,
        end: str | None,
        previous_floor: int | None,
        may_rise: bool,
    ) -> ScanState | None:
        """Scan [start, end) from state.start_after; None when the segment is finished, else the state to
        resume from."""
        self._judged_to = None
        if batcher is not None:
            batcher.mark(state)
        entries = self._entries(state.start_after or (start[:-1] if start else None), start, end)
        windows = 0
        while True:
            window = _take(entries, self.window)
            if not window:
                break
            self._judge(window, state, batcher, previous_floor, may_rise)
            windows += 1
            if batcher is not None:
                if batcher.lagging():
                    batcher.drain()
                if batcher.stopped:  # told to stop before a DeleteObjects, possibly inside the window
                    return self._stopped(state, batcher)
                batcher.mark(state, checkpoint=windows % self.checkpoint_every == 0)
            if self.should_stop():
                return self._stopped(state, batcher)
        if batcher is not None:
            batcher.drain()
            if batcher.stopped:
                return self._stopped(state, batcher)
        return None

    def _stopped(self, state: ScanState, batcher: DeleteBatcher | None) -> ScanState:
        """Checkpoint and return the state to resume from. A dry run resumes after its last window; an
        enforce scan at its latest safe boundary, sending no more deletions."""
        if batcher is not None:
            state = self._with_judged_through(batcher.stop())
        self.report.flush()
        self._checkpoint(state)
        return state

    def _with_judged_through(self, state: ScanState) -> ScanState:
        """`state` (a boundary's) with judged_through: a static listing names again what this scan judged."""
        if self.listing is not None and self._judged_to is not None:
            state.judged_through = max(state.judged_through or "", self._judged_to)
        return state

    def _emit(self, state: ScanState) -> None:
        self._checkpoint(self._with_judged_through(state))

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
            if batcher is not None and batcher.stopped:
                return  # the rest of the window is judged again by the scan that resumes
            self._judged_to = entry.last_key
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
            static_gone = decision.reason is Reason.VANISHED and self.listing is not None
            if static_gone and state.judged_through is not None and entry.last_key <= state.judged_through:
                continue  # deleted or found gone before this item's last stop, and counted then
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
                batcher.add(entry, self._judged(decision.reason, size, objects, first_look, mine), decision.reason)
            elif static_gone and batcher is not None:
                batcher.gone(entry, self._judged(decision.reason, size, objects, first_look, mine), decision.reason)
        last = window[-1]
        state.start_after = last.last_key if isinstance(last, Entry) else last.obj.key

    def _decide(self, entry: Entry, manifest: ManifestInfo | None, floor: int, previous_floor: int | None) -> Decision:
        """The rules' decision on one entry under this scan's scope, rules, time and active runs."""
        return decide(entry, manifest, cache_id=self.scope.cache_id, bucket=self.scope.bucket, floor=floor,
                      rules=self.rules, now=self.now, active_runs=self.active_runs, previous_floor=previous_floor)

    def _judged(self, reason: Reason, size: int, objects: int, first_look: bool, mine: bool) -> Counts:
        """The counts judging one entry to delete, or found gone, adds (as in _judge)."""
        delta = Counts()
        if first_look:
            delta.entries_scanned, delta.objects_scanned, delta.bytes_scanned = 1, objects, size
            delta.ours = int(mine)
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
