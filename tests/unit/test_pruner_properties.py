"""Properties of a range scan over random caches with hostile neighbours (in-memory S3, see
tests/pruner_synthetic.py: entry-shaped run outputs, invalid, forged, mismatched and version-jumping
manifests, other caches' entries, orphans; caches under a prefix or at a bucket root): only stale entries
of this cache are ever deleted, and every one of them is;
a scan interrupted at random points and resumed reaches the same final state with the same counts;
a scan that crashes at a random request and resumes from its last checkpoint reaches the same state."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pruner.rules import Rules
from pruner.s3_store import S3Store
from pruner.scan import RangeScanner, ReportWriter, ScanScope, ScanState
from tests.pruner_synthetic import BASE_TIME, JUMP_VERSION, KINDS, FakeS3, SyntheticCache, make_cache

BUCKET = "cache-bucket"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
CEILING = 3  # as after a pass recorded floor 2: versions 1-3 are believable, 10**9 is held
OUTSIDE = ["cache", "cachex/u/1/2/e/e.json", "other/u/1/2/e/e.json", "cache/stray.json", "cache/u/1/loose.txt"]


def load(cache: SyntheticCache) -> FakeS3:
    s3 = FakeS3()
    s3.create_bucket(BUCKET)
    rows = []
    cache.write(lambda key, body, size, when: rows.append((key, body, size, when)))
    s3.bulk_load(BUCKET, rows)
    return s3


def scanner(
    s3: FakeS3,
    cache: SyntheticCache,
    window: int,
    stop: list[bool] | None = None,
    checkpoints: list[ScanState] | None = None,
    unchanged_before: datetime | None = None,
) -> RangeScanner:
    stops = iter(stop or [])
    return RangeScanner(
        S3Store(s3, max_workers=4, sleep=lambda _: None),
        ScanScope(BUCKET, cache.cache_prefix, cache.cache_id, ceiling=CEILING, unchanged_before=unchanged_before),
        rules=Rules(),
        enforce=True,
        now=NOW,
        active_runs=(),
        report=ReportWriter(io.BytesIO(), True),
        should_stop=lambda: next(stops, False),
        on_checkpoint=checkpoints.append if checkpoints is not None else None,
        checkpoint_every=1,
        window=window,
    )


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
@given(cache=caches, window=st.integers(1, 4), stops=st.lists(st.booleans(), max_size=40))
def test_interrupted_scans_delete_exactly_the_stale_entries_with_the_same_counts(
    cache: SyntheticCache, window: int, stops: list[bool]
) -> None:
    cache.outside = OUTSIDE
    kept, stale, freed = expected_final(cache)

    s3 = load(cache)
    whole = scanner(s3, cache, window).run(ScanState(floor=0))
    assert whole.phase == "done"
    assert s3.keys(BUCKET) == kept  # nothing outside, nothing current, every stale entry
    assert (whole.counts.stale, whole.counts.entries_deleted, whole.counts.bytes_reclaimed) == (stale, stale, freed)
    if cache.cache_prefix:
        assert whole.counts.entries_scanned == len(cache.entries)
    jumps = sum(1 for e in cache.entries if e.kind == "jump")
    assert (whole.counts.held, whole.held_version) == (jumps, JUMP_VERSION if jumps else 0)

    s3 = load(cache)
    state, invocations = ScanState(floor=0), 0
    while state.phase != "done":
        state = scanner(s3, cache, window, stop=stops).run(state)
        invocations += 1
        assert invocations < 500
    assert s3.keys(BUCKET) == kept
    assert state.counts == whole.counts
    assert state.floor == whole.floor == (cache.current_version or 0)


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
