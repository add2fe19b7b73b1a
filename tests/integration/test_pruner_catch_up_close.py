"""A pass closed by a catch-up round speaks for every round's items: catch-up rounds re-scan only the ranges
left behind, so a round-1 item that aborted (README: "its pass ends ABORTED ... the next one is full") or asked
for a re-read (an entry kept for a then-active run) still decides the pass's status and its `revisit_since`.
Found by review: `Pruner._close` read the items of the round it closed only, so a pass whose round-1 item
aborted was closed COMPLETED and the next, incremental pass skipped the aborted range's unjudged entries."""

from __future__ import annotations

from typing import Any

from pruner.config import PrunerConfig
from pruner.dispatch import InlineQueue
from pruner.service import CacheTarget, cache_lease
from tests.integration.test_pruner_pass import (
    CACHE_BUCKET,
    CACHE_ID,
    cached,
    last_pass,
    make_pruner,
    remaining,
)
from tests.integration.test_pruner_pass import world as world


def _put(world: dict[str, Any], objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        world["s3"].put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)


def _pass_with_a_round_1_abort(world: dict[str, Any]) -> tuple[list[tuple[int, str | None, str]], dict[str, bytes]]:
    """An enforce pass, one work item per run prefix: run 1000 (first in key order) holds only version-1 entries, so
    its range needs a catch-up round once run 1001's version 2 is seen (as test_pruner_pass's fan-out test); run
    1002's range holds a stale version-1 entry of this cache, and its round-1 invocation finds the cache's lease
    taken by another pass (ours had expired). The outcomes (round, range start, outcome) and the stale entry."""
    _put(world, cached("1000", "2000", "bbbb0001", 1, (123,)))
    stale = cached("1002", "2010", "cccc0001", 1, (55,))
    _put(world, stale)
    repository = world["repository"]
    queue = InlineQueue()
    pruner = make_pruner(world, queue, runs_per_item=1, clock_days=1)  # the entries are a day old at the pass
    started = pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")
    assert started["items"] == 4
    later = int(pruner.clock().timestamp()) + PrunerConfig().lease_seconds + 1
    outcomes: list[tuple[int, str | None, str]] = []

    def work(item: Any) -> str:
        lost = item.round == 1 and (item.start or "").endswith("/1002/")
        if lost:
            assert repository.acquire_lease(cache_lease(CACHE_ID), "another-pass", later, 3600)
        try:
            outcome = pruner.work(item, lambda: False, invocation_id=f"inv-{len(outcomes)}")
        finally:
            if lost:  # that other pass ends and gives the lease back
                repository.release_lease(cache_lease(CACHE_ID), "another-pass")
        outcomes.append((item.round, item.start, outcome))
        return outcome

    queue.drain(work)
    return outcomes, stale


def _next_pass(world: dict[str, Any]) -> dict[str, Any]:
    """The next scheduled enforce pass (not asked to be full), a day later, run to its end; its start answer."""
    queue = InlineQueue()
    following = make_pruner(world, queue, runs_per_item=1, clock_days=2)
    started = following.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")
    queue.drain(lambda item: following.work(item, lambda: False, invocation_id="inv2"))
    return started


def test_a_pass_whose_round_1_item_aborted_is_not_closed_completed_by_its_catch_up_round(
    world: dict[str, Any],
) -> None:
    # Given a pass whose run-1002 item was aborted in round 1, and a catch-up round for run 1000's range
    outcomes, _ = _pass_with_a_round_1_abort(world)
    assert (1, next(s for r, s, _ in outcomes if (s or "").endswith("/1002/")), "aborted") in outcomes
    assert any(r == 2 for r, _, _ in outcomes)
    record = last_pass(world)
    [aborted] = [i for i in world["repository"].prune_items(CACHE_ID, record["pass_id"], 1) if i.get("aborted")]
    assert aborted["aborted"] == "cache lease lost"
    # Then the pass is ABORTED (README: an item that finds the cache's lease taken is aborted and its pass
    # ends ABORTED, an unclean pass), not COMPLETED as if every range had been judged
    assert record["status"] == "ABORTED", (
        f"pass closed {record['status']} (round {record['round']}, aborted_items={record.get('aborted_items')}) "
        "although a round-1 item was aborted before judging its range")


def test_the_pass_after_one_whose_round_1_item_aborted_judges_the_aborted_range_again(
    world: dict[str, Any],
) -> None:
    # Given the same pass: run 1002's range aborted in round 1, a catch-up round for run 1000's
    _, stale = _pass_with_a_round_1_abort(world)
    assert set(stale) <= remaining(world)  # the aborted item never judged it
    # When the next scheduled pass runs (not asked to be full), a day later
    started = _next_pass(world)
    # Then it is full (README: after an aborted item "the next one is full") and deletes the stale entry the
    # aborted range held
    assert not set(stale) & remaining(world), (
        f"the stale entry of the aborted range is kept: the next pass is incremental since "
        f"{started.get('incrementalSince')} and skips the aborted range's unjudged entries as judged")
    assert started.get("incrementalSince") is None


def test_an_entry_kept_for_an_active_run_in_round_1_is_read_again_after_a_catch_up_round(
    world: dict[str, Any],
) -> None:
    """Same root cause, not an aborted item: `_close` takes `revisit_since` (and held versions, aborts) from the
    items of the round it closes only, so what a round-1 item asked the next pass to re-read is lost when a
    catch-up round closes the pass."""
    from datetime import UTC, datetime, timedelta

    from tests.integration.test_pruner_incremental import observe
    from tests.integration.test_pruner_pass import ACTIVE_RUN

    # Given a pass with a catch-up round (run 1000's range), while run 1003 still runs: its stale version-1
    # entry is kept (ACTIVE_RUN) and its range's item records when to re-read it
    _put(world, cached("1000", "2000", "bbbb0001", 1, (123,)))
    active = world["objects"]["active-v1"][0]
    queue = InlineQueue()
    pruner = make_pruner(world, queue, runs_per_item=1, clock_days=1)
    pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    record = last_pass(world)
    assert record["round"] == 2 and record["active_skipped"] == 1 and set(active) <= remaining(world)
    revisits = [i for i in world["repository"].prune_items(CACHE_ID, record["pass_id"], 1) if i.get("revisit_since")]
    assert revisits, "no round-1 item asked for a re-read"
    # When the run has finished and the next (incremental) pass runs
    observe(world["repository"], ACTIVE_RUN, "COMPLETED", datetime.now(UTC) + timedelta(days=1, hours=1))
    started = _next_pass(world)
    # Then the entry kept for the active run is read again and deleted (as without a catch-up round)
    assert not set(active) & remaining(world), (
        f"pass revisit_since={record.get('revisit_since')} though round-1 item asked "
        f"{revisits[0]['revisit_since']}; the next pass (incremental since {started.get('incrementalSince')}) "
        "skipped the entry kept for the then-active run")
