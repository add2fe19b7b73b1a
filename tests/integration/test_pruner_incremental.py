"""Incremental prune passes (issue 13): an entry judged current at the current floor stays current until
the floor rises (guide, "Call caching": "when a service update invalidates entries, the service
increments the version"), so a pass after a clean one at the same floor reads only the manifests
modified since (S3 LastModified from the listing). The floor rising, an entry kept for a transient
reason (active run), or `full` makes it read again. S3 is the in-memory fake (its LastModified is
settable; request counts per operation); the provenance table is moto's."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pruner.config import PrunerConfig, PruneRequest, RulesModel
from pruner.dispatch import InlineQueue
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from shared.provenance.items import StatusObservation
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time, order_key, run_rank
from tests.pruner_synthetic import FakeS3, SyntheticCache, SyntheticEntry, make_cache

BUCKET = "cache-bucket"
REPORTS = "reports"
DAY1 = datetime(2026, 3, 1, tzinfo=UTC)


class World:
    def __init__(self, table_name: str) -> None:
        self.s3 = FakeS3()
        self.s3.create_bucket(BUCKET)
        self.s3.create_bucket(REPORTS)
        self.repository = ProvenanceRepository(table_name)
        self.cache = make_cache(
            random.Random(4), runs=6, tasks_per_run=5, kinds={"current": 3, "stale": 2, "legacy": 1}, versions=(1, 2)
        )
        self.write(self.cache.entries, DAY1)

    def write(self, entries: list[SyntheticEntry], when: datetime) -> None:
        view = SyntheticCache(self.cache.cache_id, self.cache.cache_prefix, entries)
        view.write(lambda key, body, size, at: self.s3.put(BUCKET, key, body, size, at), now=when)

    def prune(self, at: datetime, full: bool = False) -> dict[str, Any]:
        queue = InlineQueue()
        config = PrunerConfig(
            cache_ids=[self.cache.cache_id], report_bucket=REPORTS, allow_unversioned_buckets=[BUCKET]
        )
        pruner = Pruner(
            self.repository, S3Store(self.s3, sleep=lambda _: None), lambda: None, config, queue, clock=lambda: at
        )
        target = CacheTarget(self.cache.cache_id, f"s3://{BUCKET}/{self.cache.cache_prefix}")
        before = self.s3.calls["GetObject"]
        started = pruner.start_pass(target, "enforce", full=PruneRequest(full=full).full)
        queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
        record = self.repository.prune_history(self.cache.cache_id)[-1]
        return {**started, "record": record, "gets": self.s3.calls["GetObject"] - before}

    def entry(self, run: str, task: str, n: int, version: int | None, kind: str = "current") -> SyntheticEntry:
        return SyntheticEntry(
            self.cache.entries[0].cache_uuid, run, task, f"{n:08x}-0000-4000-8000-000000000000", kind, version, (50,)
        )

    def keys(self) -> set[str]:
        return self.s3.keys(BUCKET)


def keys_of(world: World, entries: list[SyntheticEntry]) -> set[str]:
    view = SyntheticCache(world.cache.cache_id, world.cache.cache_prefix, entries)
    return {key for entry in entries for key in view.keys_of(entry)}


@pytest.fixture
def world(table_name: str) -> World:
    return World(table_name)


def test_a_pass_after_a_clean_one_reads_only_the_new_manifests(world: World) -> None:
    # Given a first (full) pass that deleted the stale entries
    first = world.prune(DAY1 + timedelta(days=1))
    # (every manifest, and those before the first version-2 entry once more: the in-range re-scan)
    assert first["incrementalSince"] is None and first["gets"] >= len(world.cache.entries)
    survivors = [e for e in world.cache.entries if not world.cache.is_stale(e)]
    # When new entries arrive (current, stale, legacy) and the next pass runs
    new = [world.entry("9000001", "9100001", 1, 2), world.entry("9000001", "9100002", 2, 1, "stale"),
           world.entry("9000001", "9100003", 3, None, "legacy")]
    world.write(new, DAY1 + timedelta(days=2))
    second = world.prune(DAY1 + timedelta(days=3))
    # Then it read exactly the new manifests, deleted the new stale ones, and counted the rest unchanged
    assert second["incrementalSince"] == iso_time(DAY1 + timedelta(days=1, hours=-1))
    assert second["gets"] == len(new)
    assert world.keys() == keys_of(world, [*survivors, new[0]])
    record = second["record"]
    assert (record["unchanged"], record["entries_deleted"]) == (len(survivors), 2)
    assert record["entries_scanned"] == len(survivors) + len(new)
    # And on demand a full pass reads every manifest again
    full = world.prune(DAY1 + timedelta(days=4), full=True)
    assert full["incrementalSince"] is None and full["gets"] == len(survivors) + 1


def test_a_version_rise_during_an_incremental_pass_rereads_and_deletes_the_unchanged_entries(world: World) -> None:
    world.prune(DAY1 + timedelta(days=1))
    survivors = [e for e in world.cache.entries if not world.cache.is_stale(e)]
    # When a service update writes version-3 entries (one step over the recorded floor 2)
    newer = [world.entry("9000002", "9200001", 7, 3)]
    world.write(newer, DAY1 + timedelta(days=2))
    second = world.prune(DAY1 + timedelta(days=3))
    # Then the incremental pass saw the rise and re-read (and deleted) the version-2 entries
    assert second["incrementalSince"] is not None
    assert world.keys() == keys_of(world, newer)
    assert second["record"]["entries_deleted"] == len(survivors)
    assert world.repository.cache_version(world.cache.cache_id) == 3


def test_an_entry_kept_for_an_active_run_is_read_again_by_the_next_incremental_pass(world: World) -> None:
    # Given a stale entry of a run that provenance shows as still running
    active = world.entry("7000001", "7100001", 9, 1, "stale")
    world.write([active], DAY1)
    observe(world.repository, "7000001", "RUNNING", DAY1)
    first = world.prune(DAY1 + timedelta(days=1))
    assert keys_of(world, [active]) <= world.keys() and first["record"]["active_skipped"] == 1
    # When the run finished and the next (incremental) pass runs
    observe(world.repository, "7000001", "COMPLETED", DAY1 + timedelta(days=1, hours=2))
    second = world.prune(DAY1 + timedelta(days=3))
    # Then the entry was re-read (its manifest is older than the last pass) and deleted
    assert second["incrementalSince"] == iso_time(DAY1 - timedelta(days=1))  # written a day before DAY1
    assert not keys_of(world, [active]) & world.keys()


def observe(repository: ProvenanceRepository, run_id: str, status: str, when: datetime) -> None:
    repository.advance_run(
        StatusObservation(
            kind="RUN",
            entity_id=run_id,
            run_id=run_id,
            run_uuid=f"uuid-{run_id}",
            status=status,
            rank=run_rank(status),
            event_id=f"{run_id}-{status}",
            event_time=iso_time(when),
            order=order_key(run_rank(status), when, f"{run_id}-{status}"),
        ),
        {},
    )


class CheckedRepository(ProvenanceRepository):
    """At every checkpoint write, checks that every key deleted so far has its undo record in a stored
    report part (the checkpoint lets a retry resume past those deletions)."""

    def __init__(self, table_name: str, s3: FakeS3, written: set[str]) -> None:
        super().__init__(table_name)
        self.s3, self.written, self.checked = s3, written, 0

    def reported(self) -> set[str]:
        lines = [
            json.loads(line)
            for key in self.s3.keys(REPORTS)
            if key.endswith(".jsonl")
            for line in self.s3.get_object(Bucket=REPORTS, Key=key)["Body"].read().decode().splitlines()
        ]
        return {line["key"] for line in lines if line.get("action") == "deleted"}

    def update_prune_record(self, cache_id: str, sk: str, sets: dict[str, Any]) -> None:
        if "checkpoint" in sets:
            deleted = self.written - self.s3.keys(BUCKET)
            assert deleted <= self.reported(), "a checkpoint was written before the undo records of its deletions"
            self.checked += bool(deleted)
        super().update_prune_record(cache_id, sk, sets)


def test_every_checkpoint_follows_the_stored_undo_records_of_the_deletions_before_it(table_name: str) -> None:
    # Given a cache large enough for several DeleteObjects batches and a checkpoint after every window
    s3 = FakeS3()
    s3.create_bucket(BUCKET)
    s3.create_bucket(REPORTS)
    cache = make_cache(random.Random(9), runs=30, tasks_per_run=10, kinds={"current": 1, "stale": 1},
                       versions=(2, 3), objects_per_entry=8)
    cache.write(lambda key, body, size, at: s3.put(BUCKET, key, body, size, at), now=DAY1)
    written = s3.keys(BUCKET)
    repository = CheckedRepository(table_name, s3, written)
    queue = InlineQueue()
    config = PrunerConfig(
        cache_ids=[cache.cache_id], report_bucket=REPORTS, allow_unversioned_buckets=[BUCKET],
        rules=RulesModel(min_version=3),
    )
    pruner = Pruner(repository, S3Store(s3, sleep=lambda _: None), lambda: None, config, queue,
                    clock=lambda: DAY1, scan_window=4, checkpoint_every=1)
    # When an enforce pass runs
    pruner.start_pass(CacheTarget(cache.cache_id, f"s3://{BUCKET}/{cache.cache_prefix}"), "enforce")
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    # Then checkpoints were written after deletions, each after their undo records; all deletions are reported
    assert repository.checked > 0
    stale = {key for entry in cache.entries if cache.is_stale(entry) for key in cache.keys_of(entry)}
    assert written - s3.keys(BUCKET) == stale == repository.reported()
