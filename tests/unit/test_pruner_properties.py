"""Properties of a range scan over random caches with hostile neighbours (in-memory S3, see
tests/pruner_synthetic.py: entry-shaped run outputs, invalid, forged, mismatched and version-jumping
manifests, other caches' entries, orphans; caches under a prefix or at a bucket root): only stale entries
of this cache are ever deleted, and every one of them is;
a scan interrupted at random points and resumed reaches the same final state with the same counts, sends no
DeleteObjects once told to stop, and reports each decision and deletion once;
a scan that crashes at a random request and resumes from its last checkpoint reaches the same state."""

from __future__ import annotations

import io
import itertools
import json
import random
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pruner.entries import S3Object
from pruner.inventory import InventoryListing, is_manifest_key, live_entry
from pruner.rules import Rules
from pruner.s3_store import DELETE_BATCH, S3Store
from pruner.scan import RangeScanner, ReportWriter, ScanScope, ScanState
from tests.pruner_synthetic import BASE_TIME, JUMP_VERSION, KINDS, FakeS3, SyntheticCache, make_cache

BUCKET = "cache-bucket"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
CEILING = 3  # as after a pass recorded floor 2: versions 1-3 are believable, 10**9 is held
# The stores' manifest reads run on one pool of the same 4 threads for every scanner of every example: a pool
# of their own started up to 4 threads per scanner, a few per example (0.3-0.5 of 4.5 CPU-s, 1 s of wall time).
MANIFEST_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="manifest")
OUTSIDE = ["cache", "cachex/u/1/2/e/e.json", "other/u/1/2/e/e.json", "cache/stray.json", "cache/u/1/loose.txt"]


def load(cache: SyntheticCache, flaky: int = 0) -> StopWatchedS3:
    """The cache in a fresh fake S3; with `flaky`, about one key in `flaky` fails its first deletion with
    SlowDown (retried by S3Store after a backoff)."""
    s3 = StopWatchedS3()
    s3.create_bucket(BUCKET)
    rows = []
    cache.write(lambda key, body, size, when: rows.append((key, body, size, when)))
    s3.bulk_load(BUCKET, rows)
    if flaky:
        s3.delete_faults = {key: ("SlowDown", 1) for key, *_ in rows if zlib.crc32(key.encode()) % flaky == 0}
    return s3


def scanner(
    s3: FakeS3,
    cache: SyntheticCache,
    window: int,
    should_stop: Callable[[], bool] = lambda: False,
    checkpoints: list[ScanState] | None = None,
    unchanged_before: datetime | None = None,
    delete_batch: int = DELETE_BATCH,
    listing: list[S3Object] | None = None,
    report: io.BytesIO | None = None,
) -> RangeScanner:
    store = S3Store(s3, max_workers=4, sleep=lambda _: None)
    store._pool = MANIFEST_READERS
    return RangeScanner(
        store,
        ScanScope(BUCKET, cache.cache_prefix, cache.cache_id, ceiling=CEILING, unchanged_before=unchanged_before),
        rules=Rules(),
        enforce=True,
        now=NOW,
        active_runs=(),
        report=ReportWriter(report if report is not None else io.BytesIO(), True),
        should_stop=should_stop,
        on_checkpoint=checkpoints.append if checkpoints is not None else None,
        checkpoint_every=1,
        window=window,
        delete_batch=delete_batch,
        # an inventory pass: a static listing of the manifests, each candidate verified against S3
        listing=InventoryListing(listing) if listing is not None else None,
        verify=(lambda entry: live_entry(store, BUCKET, entry)) if listing is not None else None,
    )


def manifest_rows(s3: FakeS3, cache: SyntheticCache) -> list[S3Object]:
    """What an inventory report taken now lists as candidates: manifests at entry depth, in key order."""
    prefix = cache.cache_prefix
    return [
        S3Object(key, size, when)
        for key, (_, size, when) in sorted(s3.buckets[BUCKET].items())
        if key.startswith(prefix) and is_manifest_key(key[len(prefix) :])
    ]


class StopWatchedS3(FakeS3):
    """Counts DeleteObjects sent while the invocation has been told to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.told_to_stop = False
        self.deletes_after_stop = 0

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.deletes_after_stop += self.told_to_stop
        return super().delete_objects(Bucket=Bucket, Delete=Delete)


def told_to_stop_after(s3: StopWatchedS3, budget: int | None) -> Callable[[], bool]:
    """An invocation's should_stop: told at its check number budget + 1 (never when None), and from then on."""
    checks = itertools.count(1)

    def should_stop() -> bool:
        s3.told_to_stop = s3.told_to_stop or (budget is not None and next(checks) > budget)
        return s3.told_to_stop

    return should_stop


def report_lines(*reports: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for report in reports for line in report.getvalue().splitlines()]


def decision_sums(lines: list[dict[str, Any]]) -> tuple[int, int, int]:
    deletes = [line for line in lines if line["action"] == "delete"]
    return (sum(d["entries"] for d in deletes), sum(d["objects"] for d in deletes), sum(d["bytes"] for d in deletes))


def kept_lines(lines: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((line["entry"], line["reason"]) for line in lines if line["action"] == "keep")


caches = st.builds(
    lambda seed, runs, tasks, objects, weights, prefix: make_cache(
        random.Random(seed),
        runs=runs,
        tasks_per_run=tasks,
        objects_per_entry=objects,
        versions=(1, 2, 3),
        kinds=dict(zip(KINDS, weights, strict=True)),
        cache_prefix=prefix,
    ),
    prefix=st.sampled_from(["cache/", ""]),  # "": the cache at a bucket root, next to everything else
    seed=st.integers(0, 2**32 - 1),
    runs=st.integers(1, 5),
    tasks=st.integers(1, 4),
    objects=st.integers(0, 3),
    weights=st.tuples(*[st.integers(0, 3) for _ in KINDS]).filter(any),
)


def expected_final(cache: SyntheticCache) -> tuple[set[str], int, int]:
    kept = set(OUTSIDE)
    stale, freed = 0, 0
    for entry in cache.entries:
        if cache.is_stale(entry):
            stale += 1
            freed += cache.bytes_of(entry)
        else:
            kept |= set(cache.keys_of(entry))
    return kept, stale, freed


@settings(max_examples=120, deadline=None)
@given(
    cache=caches,
    window=st.integers(1, 4),
    stops=st.lists(st.integers(0, 12), max_size=12),
    delete_batch=st.sampled_from([1, 2, 3, 5, DELETE_BATCH]),  # small: DeleteObjects inside windows too
    inventory=st.booleans(),
    flaky=st.sampled_from([0, 3]),
)
def test_interrupted_scans_delete_exactly_the_stale_entries_with_the_same_counts(
    cache: SyntheticCache, window: int, stops: list[int], delete_batch: int, inventory: bool, flaky: int
) -> None:
    cache.outside = OUTSIDE
    kept, stale, freed = expected_final(cache)

    s3 = load(cache, flaky)
    listing = manifest_rows(s3, cache) if inventory else None
    whole_report = io.BytesIO()
    whole = scanner(s3, cache, window, delete_batch=delete_batch, listing=listing, report=whole_report).run(
        ScanState(floor=0)
    )
    assert whole.phase == "done"
    assert s3.keys(BUCKET) == kept  # nothing outside, nothing current, every stale entry
    assert (whole.counts.stale, whole.counts.entries_deleted, whole.counts.bytes_reclaimed) == (stale, stale, freed)
    if cache.cache_prefix and not inventory:
        assert whole.counts.entries_scanned == len(cache.entries)
    jumps = sum(1 for e in cache.entries if e.kind == "jump")
    assert (whole.counts.held, whole.held_version) == (jumps, JUMP_VERSION if jumps else 0)

    # Interrupted: invocation i is told to stop at its stops[i]-th check (between windows, before a
    # DeleteObjects or a retry of one), and stays told, like a clock; the invocations after those run out
    s3 = load(cache, flaky)
    budgets: Iterator[int] = iter(stops)
    state, reports = ScanState(floor=0), []
    while state.phase != "done":
        s3.told_to_stop = False
        reports.append(io.BytesIO())
        state = scanner(s3, cache, window, told_to_stop_after(s3, next(budgets, None)), delete_batch=delete_batch,
                        listing=listing, report=reports[-1]).run(state)
        assert len(reports) <= len(stops) + 1
    assert s3.deletes_after_stop == 0
    assert s3.keys(BUCKET) == kept
    assert state.counts == whole.counts
    assert state.floor == whole.floor == (cache.current_version or 0)
    # Each deletion has one undo record, each decision is reported once: the report sums to the counts
    lines = report_lines(*reports)
    undo = [line["key"] for line in lines if line["action"] == "deleted"]
    assert len(undo) == len(set(undo)) and set(undo) == load(cache).keys(BUCKET) - kept
    assert decision_sums(lines) == decision_sums(report_lines(whole_report)) == (
        state.counts.stale, state.counts.stale_objects, state.counts.stale_bytes
    )
    assert kept_lines(lines) == kept_lines(report_lines(whole_report))


@settings(max_examples=80, deadline=None)
@given(cache=caches, window=st.integers(1, 3), crash_at=st.integers(1, 60))
def test_a_crash_at_any_request_then_resume_from_the_last_checkpoint_reaches_the_same_state(
    cache: SyntheticCache, window: int, crash_at: int
) -> None:
    cache.outside = OUTSIDE
    kept, stale, _ = expected_final(cache)
    s3 = load(cache)
    s3.fail_after = crash_at
    checkpoints: list[ScanState] = []
    try:
        state = scanner(s3, cache, window, checkpoints=checkpoints).run(ScanState(floor=0))
    except RuntimeError:
        state = checkpoints[-1] if checkpoints else ScanState(floor=0)
        state = scanner(s3, cache, window).run(state)
    assert state.phase == "done"
    assert s3.keys(BUCKET) == kept
    # checkpoints hold exactly the entries judged before them (plus later ones already gone)
    assert state.counts.entries_deleted == state.counts.stale == stale


@settings(max_examples=80, deadline=None)
@given(old=caches, new=caches, window=st.integers(1, 4))
def test_an_incremental_scan_after_a_clean_one_leaves_what_a_full_scan_leaves(
    old: SyntheticCache, new: SyntheticCache, window: int
) -> None:
    """Issue 13: entries unchanged since a clean scan at this floor are not re-read; new entries (which may
    raise the floor, as a service update does) are; the result is the full scan's."""
    new = SyntheticCache(old.cache_id, old.cache_prefix, new.entries)
    # HealthOmics writes an entry once (a new entry uuid per export): the new entries are new keys
    assume(not {k for e in old.entries for k in old.keys_of(e)} & {k for e in new.entries for k in new.keys_of(e)})
    s3 = load(old)  # written at BASE_TIME - 1 day
    first = scanner(s3, old, window).run(ScanState(floor=0))
    rows: list[tuple[str, bytes | None, int, datetime]] = []
    new.write(lambda key, body, size, when: rows.append((key, body, size, when)), now=BASE_TIME + timedelta(days=5))
    for key, body, size, when in rows:
        s3.put(BUCKET, key, body, size, when)
    full_s3 = FakeS3()
    full_s3.create_bucket(BUCKET)
    full_s3.bulk_load(BUCKET, [(k, *s3.buckets[BUCKET][k]) for k in s3.keys(BUCKET)])
    # When one scan re-reads only manifests written after the first scan, and another reads everything
    before = s3.calls["GetObject"]
    incremental = scanner(s3, old, window, unchanged_before=BASE_TIME + timedelta(days=1)).run(
        ScanState(floor=first.floor)
    )
    gets = s3.calls["GetObject"] - before
    full = scanner(full_s3, old, window).run(ScanState(floor=first.floor))
    # Then both leave the same objects; without a rise, the incremental one read exactly the new manifests
    assert s3.keys(BUCKET) == full_s3.keys(BUCKET)
    assert incremental.floor == full.floor
    if incremental.floor == first.floor:
        assert gets == sum(1 for e in new.entries if e.has_manifest)
        assert incremental.counts.unchanged == sum(
            1 for e in old.entries if not old.is_stale(e) and e.has_manifest
        )
