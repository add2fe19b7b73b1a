"""A pass whose work items were dead-lettered: settled (INCOMPLETE, with the counts of what it deleted) once
the next pass takes the cache after its lease expired, or when the operator asks (`autopilot cache settle`),
and then restorable; a worker of it that comes later (a DLQ redrive) deletes nothing.

Lambda's SQS semantics are played in-process: a message whose invocation fails is received again, and goes to
the dead-letter queue after five receives (the prune queue's maxReceiveCount)."""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pruner.config import PrunerConfig, WorkItem
from pruner.dispatch import InlineQueue
from pruner.restore import restore_pass
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from pruner.settle import PassBusy, settle_pass
from shared.errors import RetryableError
from shared.provenance.repository import ProvenanceRepository
from tests.integration.test_pruner_hostile import BUCKET, CACHE_ID, REPORTS, a_cache, cache_entry, keys, put_all
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture

MAX_RECEIVES = 5
STUCK_RUN = "1003"


class DiesDeletingRun:
    """The moto client, except that every DeleteObjects of keys of `run` after the first one raises (a worker that
    deletes an entry's data files, then dies before its manifests, on every receive)."""

    def __init__(self, client: Any, run: str) -> None:
        self._client, self.run, self.calls = client, run, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        if any(f"/{self.run}/" in o["Key"] for o in Delete["Objects"]):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset by peer")
        return self._client.delete_objects(Bucket=Bucket, Delete=Delete)  # type: ignore[no-any-return]


def deliver(queue: InlineQueue, pruner: Pruner) -> list[WorkItem]:
    """Every queued message to a worker until the queue is empty; returns the dead-lettered ones."""
    pending: deque[tuple[WorkItem, int]] = deque((item, 0) for item in queue.items)
    queue.items.clear()
    dead: list[WorkItem] = []
    while pending:
        item, receives = pending.popleft()
        try:
            pruner.work(item, lambda: False, invocation_id=f"inv-{item.item_id}-{receives}")
        except Exception:
            if receives + 1 >= MAX_RECEIVES:
                dead.append(item)
            else:
                pending.append((item, receives + 1))
        pending.extend((sent, 0) for sent in queue.items)  # continuations, catch-up rounds
        queue.items.clear()
    return dead


@dataclass
class StuckPass:
    everything: dict[str, bytes]  # every object of the cache before the pass
    deleted: dict[str, bytes]  # what the pass deleted, its dead-lettered item included
    repository: ProvenanceRepository
    pass_id: str
    dead: list[WorkItem]
    clock: list[datetime]
    config: PrunerConfig

    def pruner(self, client: Any, queue: InlineQueue | None = None) -> Pruner:
        return Pruner(self.repository, S3Store(client, sleep=lambda _: None), omics=lambda: None, config=self.config,
                      send=queue or InlineQueue(), clock=lambda: self.clock[0])

    def record(self) -> dict[str, Any]:
        return next(p for p in self.repository.prune_history(CACHE_ID) if p["pass_id"] == self.pass_id)


def a_pass_with_a_dead_lettered_item(s3: Any, table_name: str) -> StuckPass:
    """An enforce pass of three work items (one run each): run 1002's stale entries deleted whole, run 1003's
    item deletes its entries' data files and dies before their manifests on every receive: dead-lettered."""
    current, stale = a_cache("cache/")
    stuck = {**cache_entry("cache/", STUCK_RUN, "2005", 5, 1), **cache_entry("cache/", STUCK_RUN, "2006", 6, None)}
    everything = {**current, **stale, **stuck}
    put_all(s3, everything)
    stuck_data = {key: body for key, body in stuck.items() if not key.endswith(".json")}
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS, runs_per_item=1)
    made = StuckPass(everything, {**stale, **stuck_data}, ProvenanceRepository(table_name), "", [],
                     [datetime(2026, 3, 2, 8, 0, tzinfo=UTC)], config)
    made.repository.raise_cache_version(CACHE_ID, 2, "2026-03-01T00:00:00.000000Z")  # every range judged at floor 2
    queue = InlineQueue()
    pruner = made.pruner(DiesDeletingRun(s3, STUCK_RUN), queue)
    made.pass_id = pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "enforce")["passId"]
    made.dead = deliver(queue, pruner)
    assert [item.item_id for item in made.dead] == ["00002"] and keys(s3) == set(everything) - set(made.deleted)
    assert made.record()["status"] == "RUNNING"
    return made


def test_a_dead_lettered_pass_is_settled_by_the_next_pass_and_restored(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose last work item was dead-lettered after deleting its entries' data files
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    # When its lease has expired and the next (scheduled, dry-run) pass takes the cache
    stuck.clock[0] += timedelta(seconds=stuck.config.lease_seconds + 1)
    started = stuck.pruner(s3).start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "dry-run",
                                          scheduled_time="2026-03-03T00:00:00Z")
    assert started["status"] == "STARTED"
    # Then the stuck pass is settled: a final status of its own, naming the unfinished item and the dead-letter
    # queue, and counting everything it deleted, the dead-lettered item's files too
    record = stuck.record()
    assert record["status"] == "INCOMPLETE", record["status"]
    assert record["items_unfinished"] == 1 and "dead-letter" in record["reason"]
    assert record["finished_at"] == "2026-03-02T14:00:01.000000Z"
    assert (record["objects_deleted"], record["bytes_reclaimed"]) == (
        len(stuck.deleted), sum(map(len, stuck.deleted.values())))
    # And a restore of it brings back everything it deleted
    restored = restore_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id)
    assert restored.complete and restored.restored == len(stuck.deleted)
    assert keys(s3) == set(stuck.everything)
    # And the dead-lettered message, redriven now, deletes nothing and changes no count
    assert stuck.pruner(s3).work(stuck.dead[0], lambda: False, invocation_id="redrive") == "settled"
    assert keys(s3) == set(stuck.everything)
    assert stuck.record()["objects_deleted"] == record["objects_deleted"]


def test_a_settle_waits_for_the_workers_of_the_pass_and_its_late_message_then_deletes_nothing(
    s3: Any, table_name: str
) -> None:
    from pruner.settle import PassBusy, SettleError, settle_pass

    # Given the pass with a dead-lettered item, and a worker of that item running (a redrive in progress)
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    item_lease = f"prune-item:{stuck.pass_id}:r1:00002"
    now = int(stuck.clock[0].timestamp())
    assert stuck.repository.acquire_lease(item_lease, "a-worker", now, 960)
    # When the operator settles it: refused while the worker may still delete, nothing changed
    with pytest.raises(PassBusy, match="00002"):
        settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=stuck.clock[0], settled_by="operator")
    assert stuck.record()["status"] == "RUNNING"
    # and while a finish of the pass's round is running
    stuck.repository.release_lease(item_lease, "a-worker")
    assert stuck.repository.acquire_lease(f"prune-finish:{stuck.pass_id}:r01", "a-finish", now, 960)
    with pytest.raises(PassBusy, match="round 1's finish"):
        settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=stuck.clock[0], settled_by="operator")
    # Then once they are gone the pass is settled, before its lease expired, and the cache is free
    stuck.repository.release_lease(f"prune-finish:{stuck.pass_id}:r01", "a-finish")
    settled = settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=stuck.clock[0], settled_by="operator")
    assert settled["status"] == "INCOMPLETE" and settled["settled_by"] == "operator"
    assert stuck.repository.acquire_lease(f"prune:{CACHE_ID}", "next-pass", now, 60)
    # And a second settle is refused (the pass is no longer running)
    with pytest.raises(SettleError, match="INCOMPLETE"):
        settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=stuck.clock[0], settled_by="operator")
    # And the item's message, delivered late, deletes nothing
    before = keys(s3)
    assert stuck.pruner(s3).work(stuck.dead[0], lambda: False, invocation_id="late") == "settled"
    assert keys(s3) == before


def test_a_worker_whose_pass_was_settled_while_it_ran_adds_nothing_to_its_counts(s3: Any, table_name: str) -> None:
    from pruner.settle import TAKEOVER_GRACE_SECONDS, settle_pass

    # Given the pass with a dead-lettered item, whose message is redriven, and a settle run (between two of the
    # worker's DeleteObjects) by a clock so far ahead that the worker's item lease looks long expired to it
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    far_ahead = stuck.clock[0] + timedelta(seconds=stuck.config.item_lease_seconds + TAKEOVER_GRACE_SECONDS + 1)
    settled: list[dict[str, Any]] = []

    class SettlesBeforeDeleting:
        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
            if not settled:
                settled.append(settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=far_ahead,
                                           settled_by="operator"))
            return s3.delete_objects(Bucket=Bucket, Delete=Delete)  # type: ignore[no-any-return]

    # When the worker completes its item after the settle
    outcome = stuck.pruner(SettlesBeforeDeleting()).work(stuck.dead[0], lambda: False, invocation_id="redrive")
    # Then its completion is refused by the final pass: the pass's counts are the settle's, not added to again
    assert outcome == "settled"
    record = stuck.record()
    assert record["status"] == "INCOMPLETE"
    assert (record["objects_deleted"], record["items_done"]) == (settled[0]["objects_deleted"],
                                                                  settled[0]["items_done"])
    # and the item's own record keeps what it did, marked done after the pass was final
    [item] = [i for i in stuck.repository.prune_pass_items(CACHE_ID, stuck.pass_id) if i["item_id"] == "00002"]
    assert item["done"] and item["after_final"]


# ---------------------------------------------------------------------------------------------- review of c9328d9
# An operator's settle from a clock ahead of AWS's, a next pass that cannot read the history to settle.


class SettlesDuringDelete:
    """The moto client; the first DeleteObjects a redriven worker sends is preceded by the operator's `cache
    settle` of the pass, run from a laptop whose clock is 2 minutes ahead of AWS's, 14.5 minutes into that
    worker's 15-minute invocation (its item lease, 960 s from its start, has 90 s to go)."""

    def __init__(self, client: Any, settle: Any) -> None:
        self._client, self._settle = client, settle
        self.settled: Any = None
        self.keys_at_settle: set[str] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        if self.settled is None:
            try:
                self.settled = self._settle()
            except PassBusy:
                self.settled = "refused"
            self.keys_at_settle = keys(self._client)
        return self._client.delete_objects(Bucket=Bucket, Delete=Delete)  # type: ignore[no-any-return]


def _redrive_while_the_operator_settles(s3: Any, table_name: str) -> tuple[Any, SettlesDuringDelete, str]:
    # Given the pass with a dead-lettered item, whose message the operator redrives once S3 is fine again
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    started = stuck.clock[0]  # the worker's clock (AWS's) when it takes the item lease
    laptop_now = started + timedelta(minutes=14, seconds=30) + timedelta(minutes=2)  # StackTarget.now()

    def operator_settle() -> Any:
        return settle_pass(stuck.repository, s3, CACHE_ID, stuck.pass_id, now=laptop_now, settled_by="operator")

    client = SettlesDuringDelete(s3, operator_settle)
    # When the redriven worker runs, and the operator settles the pass while it is between two DeleteObjects
    outcome = stuck.pruner(client).work(stuck.dead[0], lambda: False, invocation_id="redrive")
    return stuck, client, outcome


def test_an_operator_settle_lets_no_worker_of_the_pass_delete_after_it(s3: Any, table_name: str) -> None:
    _stuck, client, outcome = _redrive_while_the_operator_settles(s3, table_name)
    # Then the settle was refused (a worker of the pass is running: PassBusy), or nothing was deleted after it
    if client.settled == "refused":
        return
    assert client.settled["status"] == "INCOMPLETE"  # it went through
    assert keys(s3) == client.keys_at_settle, (
        f"the worker ({outcome}) deleted {len(client.keys_at_settle - keys(s3))} keys after the settle")


def test_an_operator_settle_counts_each_deleted_object_once(s3: Any, table_name: str) -> None:
    stuck, client, _ = _redrive_while_the_operator_settles(s3, table_name)
    # Then the settle was refused, or the settled pass's counts are what was deleted, each object once
    if client.settled == "refused":
        return
    record = stuck.record()
    deleted_objects = len(set(stuck.everything) - keys(s3))
    assert record["objects_deleted"] == deleted_objects, (
        f"objects_deleted {record['objects_deleted']} for {deleted_objects} objects deleted "
        f"(the settle counted {client.settled['objects_deleted']})")


def test_a_next_pass_that_cannot_read_the_history_to_settle_does_not_keep_the_cache_lease(
    s3: Any, table_name: str
) -> None:
    # Given a cache whose last pass is stuck (a dead-lettered item) and whose lease expired
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    stuck.clock[0] += timedelta(seconds=stuck.config.lease_seconds + 1)
    pruner = stuck.pruner(s3)
    # When the next pass takes the cache's lease and the read of the cache's passes (to settle the stuck one)
    # is throttled, so that the new pass fails before anything of it is recorded
    history = pruner.repository.prune_history
    calls = {"n": 0}

    def throttled_once(cache_id: str) -> list[dict[str, Any]]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RetryableError("ProvisionedThroughputExceededException")
        return history(cache_id)

    pruner.repository.prune_history = throttled_once  # type: ignore[method-assign]
    with contextlib.suppress(RetryableError):  # on demand, no request id
        pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "enforce")
    # Then, as for any failure before a pass is recorded, the lease it took is released: another prune of the
    # cache may start now, not 6 hours later
    assert [p["pass_id"] for p in stuck.repository.prune_history(CACHE_ID)] == [stuck.pass_id]
    now = int(stuck.clock[0].timestamp())
    assert stuck.repository.acquire_lease(f"prune:{CACHE_ID}", "another-prune", now, 60), \
        "the cache's lease is held by a pass that was never recorded"
