"""Task, run-storage and avoided cost, and the roll-ups (issue 14).

Oracles: the guide ('Run storage types': static storage is 1,200 GiB or a multiple of 2,400 GiB,
rounded up: 1,000 -> 1,200, 5,000 -> 7,200, 42,000 -> 43,200) and the Run Analyzer
(awslabs/amazon-omics-tools, run_analyzer `add_metrics`: tasks billed max(60, running) seconds).
Prices here are TEST FIGURES, not AWS prices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.cost.calculator import (
    AVOIDED,
    RunContext,
    avoided_cost,
    billed_seconds,
    per_attempt_chain,
    per_batch,
    per_run,
    per_sample,
    per_workflow_day,
    run_cost_items,
    run_totals,
    static_capacity_gib,
    task_cost,
)
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, price_list
from shared.provenance.items import RunDetails, TaskDetails

REGION = "us-east-1"
PRICES = price_list([
    PriceLine("omics.c.large", REGION, Decimal("0.36"), "Hrs"),
    PriceLine("omics.m.xlarge", REGION, Decimal("0.72"), "Hrs"),
    PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0001"), "GB-Hours"),
], list_id="test-list", date="2026-11-01", source="test figures")


def run(run_id: str, *, root: str | None = None, attempt: int = 0, sample: str = "S1", batch: str = "B1",
        hours: int = 1, capacity: int | None = 1000, storage_type: str = "STATIC") -> RunDetails:
    return RunDetails(run_id=run_id, root_run_id=root or run_id, attempt=attempt, sample=sample,
                      root_batch_id=batch, workflow_id="wf1", storage_type=storage_type,
                      storage_capacity=capacity, arn=f"arn:aws:omics:{REGION}:123456789012:run/{run_id}",
                      start_time="2026-11-02T10:00:00.000000Z", stop_time=f"2026-11-02T{10 + hours:02d}:00:00.000000Z")


def task(task_id: str, seconds: int, instance: str | None = "omics.c.large", name: str = "align",
         cache_hit: bool = False) -> TaskDetails:
    return TaskDetails(task_id=task_id, run_id="r", run_uuid="u", name=name, instance_type=instance,
                       cache_hit=cache_hit,
                       start_time="2026-11-02T10:00:00.000000Z",
                       stop_time=f"2026-11-02T10:{seconds // 60:02d}:{seconds % 60:02d}.000000Z")


@pytest.mark.parametrize(("requested", "provisioned"), [
    (None, 1200), (1000, 1200), (1200, 1200), (1201, 2400), (2400, 2400), (5000, 7200), (9600, 9600),
    (42000, 43200)])
def test_static_storage_is_rounded_as_the_guide_says(requested: int | None, provisioned: int) -> None:
    assert static_capacity_gib(requested) == provisioned


def test_tasks_are_billed_per_second_with_a_60_second_minimum() -> None:
    assert billed_seconds("2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z") == 60
    assert billed_seconds("2026-01-01T00:00:00Z", "2026-01-01T00:01:30.5Z") == Decimal("90.5")
    assert billed_seconds(None, "2026-01-01T00:00:10Z") is None


def test_task_and_storage_cost_hand_calculation() -> None:
    # Given a 1-hour static run asking 1,000 GiB and two tasks: 10 s on omics.c.large, 30 min on m.xlarge.
    items = list(run_cost_items(run("r1"), [task("t1", 10), task("t2", 1800, "omics.m.xlarge")], PRICES))
    storage, t1, t2 = items
    # Then storage = 1,200 GiB (rounded up) x 1 h x 0.0001 = 0.12
    assert storage.usd == Decimal("0.12") and storage.detail["charged_gib"] == 1200
    # t1 = 0.36 $/h x 60 s (the minimum) / 3600 = 0.006 ; t2 = 0.72 x 1800 / 3600 = 0.36
    assert t1.usd == Decimal("0.006") and t1.detail["billed_seconds"] == 60
    assert t2.usd == Decimal("0.36")
    # And every item records the price list it used.
    assert {(i.price.list_id, i.price.date) for i in items} == {("test-list", "2026-11-01")}
    assert t1.record()["price_list_id"] == "test-list" and t1.record()["usd"] == "0.006"


def test_a_missing_price_is_unknown_never_zero() -> None:
    # Given a task on a type with no price, and a dynamic run without its average storage figure.
    items = list(run_cost_items(run("r1", storage_type="DYNAMIC"), [task("t1", 120, "omics.r.large"),
                                                                    task("t2", 120)], PRICES))
    assert [(i.usd, i.basis) for i in items] == [(None, "usage_unknown"), (None, "price_unknown"),
                                                 (Decimal("0.012"), "priced")]
    total = per_run(items)["r1"]
    # Then the roll-up sums what is known and says 2 items are unknown: it is not complete.
    assert total.usd == Decimal("0.012") and total.unknown == 2 and not total.complete
    assert total.record()["complete"] is False


def test_dynamic_storage_uses_the_average_and_has_no_price_in_this_list() -> None:
    item = next(run_cost_items(run("r1", storage_type="DYNAMIC"), [], PRICES, dynamic_average_gib=50.0))
    assert item.usd is None and item.basis == "price_unknown" and item.detail["charged_gib"] == Decimal("50.0")


def test_avoided_cost_is_the_producers_cost_else_an_estimate_else_unknown() -> None:
    context = RunContext.of(run("r2", root="r1", attempt=1))
    hit = task("t9", 0, None, cache_hit=True)
    assert task_cost(hit, context, PRICES).usd == 0  # a cache hit did not run
    producer = task_cost(task("t1", 1800, "omics.m.xlarge"), RunContext.of(run("r1")), PRICES)
    by_producer = avoided_cost(hit, context, PRICES, producer=producer)
    assert (by_producer.usd, by_producer.basis, by_producer.detail["producer_run_id"]) == (Decimal("0.36"),
                                                                                          "producer", "r1")
    # Producer unknown: the mean of same-name tasks of the same workflow, marked estimated.
    others = [task_cost(task(f"x{s}", s), RunContext.of(run("r0")), PRICES) for s in (600, 1200)]
    estimate = avoided_cost(hit, context, PRICES, producer=None, same_name=others)
    assert estimate.usd == Decimal("0.09") and estimate.estimated  # (0.06 + 0.12) / 2
    other_name = avoided_cost(task("t8", 0, None, name="call", cache_hit=True), context, PRICES, same_name=others)
    assert other_name.usd is None and other_name.basis == "unknown"


def test_roll_ups_sample_is_sum_of_attempts_batch_is_sum_of_samples() -> None:
    # Given sample S1: a failed attempt r1 and its re-run r2 (from cache); sample S2: one run r3.
    failed = list(run_cost_items(run("r1"), [task("a", 1800, "omics.m.xlarge"), task("b", 600)], PRICES))
    rerun_ctx = RunContext.of(run("r2", root="r1", attempt=1))
    rerun = list(run_cost_items(run("r2", root="r1", attempt=1),
                                [task("a2", 0, None, cache_hit=True), task("b2", 600)], PRICES))
    rerun.append(avoided_cost(task("a2", 0, None, cache_hit=True), rerun_ctx, PRICES, producer=failed[1]))
    other = list(run_cost_items(run("r3", sample="S2"), [task("c", 60)], PRICES))
    items = failed + rerun + other
    runs = per_run(items)
    # r1 = 0.12 storage + 0.36 + 0.06 = 0.54 ; r2 = 0.12 + 0 + 0.06 = 0.18 ; r3 = 0.12 + 0.006 = 0.126
    assert {k: v.usd for k, v in runs.items()} == {"r1": Decimal("0.54"), "r2": Decimal("0.18"),
                                                    "r3": Decimal("0.126")}
    assert runs["r2"].usd < runs["r1"].usd  # the re-run from cache cost less than its failed attempt
    chain = per_attempt_chain(items)["r1"]
    samples = per_sample(items)
    assert chain.usd == runs["r1"].usd + runs["r2"].usd == samples["S1"].usd
    assert per_batch(items)["B1"].usd == samples["S1"].usd + samples["S2"].usd
    assert per_workflow_day(items)[("wf1", "2026-11-02")].usd == per_batch(items)["B1"].usd
    # Avoided cost is its own roll-up: the producer's cost of the hit task.
    assert per_sample(items, kinds=(AVOIDED,))["S1"].usd == Decimal("0.36")


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_a_run_that_never_started_has_no_storage_cost(status: str) -> None:
    # Run storage is provisioned when the run starts running (its startTime) until it stops: a run that
    # ended without a startTime had none. The Run Analyzer (awslabs/amazon-omics-tools,
    # omics/cli/run_analyzer/__main__.py, add_metrics) likewise takes 0 running seconds without it.
    never = run("r1").model_copy(update={"status": status, "start_time": None})
    item = next(run_cost_items(never, [], PRICES))
    assert (item.usd, item.basis) == (Decimal(0), "never_started")
    assert per_run([item])["r1"].complete


def test_a_completed_run_without_a_start_time_stays_unknown() -> None:
    odd = run("r1").model_copy(update={"status": "COMPLETED", "start_time": None})
    assert next(run_cost_items(odd, [], PRICES)).basis == "duration_unknown"


def test_a_task_cancelled_before_it_started_costs_nothing_and_keeps_the_run_cost_known() -> None:
    """What went wrong: a run failed while its second task was still PENDING; HealthOmics cancelled that
    task (ListRunTasks: CANCELLED, a creationTime and a stopTime, no startTime). It was priced as
    `duration_unknown` (usd None), which made the whole failed run's cost unknown (and its sample's, its
    batch's, the workflow's day and the re-run decision's failed_attempt_cost_usd). The guide ('실행 상태의
    요금 영향', and '취소됨': no charge for what is cancelled while pending or starting) bills running tasks
    only: a task that never started costs 0, as a run that never started has no storage cost."""
    failed = run("r1", capacity=1200).model_copy(update={"status": "FAILED"})
    ran = TaskDetails(task_id="1", run_id="r1", run_uuid="u1", name="align", status="FAILED",
                      instance_type="omics.c.large", creation_time="2026-11-02T10:01:00Z",
                      start_time="2026-11-02T10:02:00Z", stop_time="2026-11-02T10:32:00Z")
    never_ran = TaskDetails(task_id="2", run_id="r1", run_uuid="u1", name="qc", status="CANCELLED",
                            instance_type=None, creation_time="2026-11-02T10:31:00Z",
                            start_time=None, stop_time="2026-11-02T10:32:00Z")
    item = task_cost(never_ran, RunContext.of(failed), PRICES)
    totals = run_totals(run_cost_items(failed, [ran, never_ran], PRICES))
    run_usd = None if totals["usd"] is None else Decimal(totals["usd"])
    # storage 1,200 GiB x 1 h x 0.0001 = 0.12; the task that ran: 0.36 $/h x 30 min = 0.18
    assert (item.usd, item.basis, run_usd) == (Decimal(0), "never_started", Decimal("0.30")), (
        f"never-started task: usd {item.usd} ({item.basis}); run total usd {totals['usd']} "
        f"({totals['unknown']} unknown item(s), known {totals['known_usd']})")
    # A task that COMPLETED without a startTime did run: its duration stays unknown, never 0.
    odd = never_ran.model_copy(update={"status": "COMPLETED"})
    assert task_cost(odd, RunContext.of(failed), PRICES).basis == "duration_unknown"
