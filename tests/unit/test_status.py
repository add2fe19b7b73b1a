"""Status ordering: a late event never regresses what was recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.omics import TokenBucket
from shared.status import batch_rank, iso_time, order_key, run_rank

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_run_ranks_follow_the_lifecycle() -> None:
    walk = ["PENDING", "STARTING", "RUNNING", "STOPPING", "COMPLETED", "DELETED"]
    assert [run_rank(s) for s in walk] == sorted(run_rank(s) for s in walk)
    assert run_rank("FAILED") == run_rank("CANCELLED") == run_rank("COMPLETED")
    assert run_rank("SOMETHING_NEW") == 0


def test_batch_ranks_follow_the_lifecycle() -> None:
    walk = ["CREATING", "PENDING", "SUBMITTING", "INPROGRESS", "PROCESSED", "RUNS_DELETING", "RUNS_DELETED"]
    assert [batch_rank(s) for s in walk] == sorted(batch_rank(s) for s in walk)
    assert batch_rank("STOPPING") < batch_rank("CANCELLED")


def test_late_running_never_outranks_completed_even_if_later_in_time() -> None:
    completed = order_key(run_rank("COMPLETED"), T0, "COMPLETED")
    late_running = order_key(run_rank("RUNNING"), T0 + timedelta(hours=1), "RUNNING")
    assert late_running < completed


def test_same_rank_orders_by_time_then_status_name() -> None:
    assert order_key(3, T0, "RUNNING") < order_key(3, T0 + timedelta(microseconds=1), "RUNNING")
    assert order_key(5, T0, "COMPLETED") < order_key(5, T0, "FAILED")


def test_iso_time_is_fixed_width_utc() -> None:
    assert iso_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"


def test_token_bucket_paces_calls_without_real_sleep() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    # 2 tokens of burst, then one every 0.5 s: 4 more calls need 2 s in all.
    assert round(sum(slept), 6) == 2.0
