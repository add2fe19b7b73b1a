"""Review of c9328d9 (a pass whose work items were dead-lettered is settled INCOMPLETE).

Built on the harness of tests/integration/test_pruner_settle.py: an enforce pass of three items whose last one
deleted its entries' data files and died before their manifests on each of five receives (dead-lettered)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from pruner.service import CacheTarget
from pruner.settle import PassBusy, settle_pass
from shared.errors import RetryableError
from tests.integration.test_pruner_hostile import BUCKET, CACHE_ID, keys
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture
from tests.integration.test_pruner_settle import a_pass_with_a_dead_lettered_item


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
