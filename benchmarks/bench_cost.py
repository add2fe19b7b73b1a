"""Cost enrichment benchmark (issue 14): a completed run of N tasks, priced and right-sized from data the
recorder already holds (GetRun + ListRunTasks rows, in memory) plus one read of the run's manifest
stream (simulated here: a generator of log events, counted as one read).

Printed, not asserted: HealthOmics calls (must be 0), log reads (1), and the tracemalloc peak of the
enrichment at 1,000 and at 10,000 tasks (flat: the tasks are streamed, aggregates are per task name).
Sizes: COST_BENCH_SIZES="1000,10000" (comma-separated).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from shared.cost.calculator import TASK, Total, run_cost_items
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, PriceList, price_list
from shared.cost.rightsizing import BatchRightsizing, manifest_stream
from shared.provenance.items import RunDetails, TaskDetails

REGION = "us-east-1"
NAMES = [f"step{i:02d}" for i in range(20)]
TYPES = ["omics.c.large", "omics.m.xlarge", "omics.r.2xlarge", "omics.c.4xlarge"]
RUN = RunDetails(run_id="1695324", root_run_id="1695324", sample="S1", root_batch_id="B1", workflow_id="wf1",
                 arn=f"arn:aws:omics:{REGION}:123456789012:run/1695324", storage_type="STATIC",
                 storage_capacity=5000, uuid="a3b0ca7e-9597-4ecc-94a4-6ed45481aeab",
                 start_time="2026-11-02T10:00:00.000000Z", stop_time="2026-11-02T14:00:00.000000Z")


def bench_prices() -> PriceList:
    """BENCHMARK FIGURES, not AWS prices: only the arithmetic's cost is measured here."""
    lines = [PriceLine(t, REGION, Decimal("0.1") * (i + 1), "Hrs") for i, t in enumerate(TYPES)]
    lines.append(PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours"))
    return price_list(lines, list_id="bench", date="2026-11-01", source="benchmark figures")


class CountingOmics:
    """Any HealthOmics call would be counted here; enrichment must make none."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> dict[str, Any]:
            self.calls += 1
            return {}
        return call


class SimulatedLogs:
    """One read of the manifest stream, yielding its events lazily (as GetLogEvents pages would)."""

    def __init__(self, tasks: int) -> None:
        self.tasks, self.reads = tasks, 0

    def read(self, stream: str) -> Iterator[dict[str, Any]]:
        self.reads += 1
        yield {"timestamp": 0, "message": json.dumps({"arn": RUN.arn, "storageCapacity": 5000})}
        for i in range(self.tasks):
            yield {"timestamp": i + 1, "message": json.dumps({
                "arn": f"arn:aws:omics:{REGION}:123456789012:task/{i}", "name": NAMES[i % len(NAMES)],
                "instanceType": TYPES[i % len(TYPES)], "cpus": 2, "memory": 4,
                "startTime": "2026-11-02T10:00:00.000Z", "stopTime": f"2026-11-02T10:{i % 60:02d}:30.000Z",
                "metrics": {"cpusMaximum": 1.5, "memoryMaximumGiB": 2.5}})}


def task_rows(count: int) -> Iterator[TaskDetails]:
    """The ListRunTasks rows the recorder fetched (generated lazily: they are not part of the measure)."""
    for i in range(count):
        yield TaskDetails(task_id=str(i), run_id=RUN.run_id, name=NAMES[i % len(NAMES)],
                          instance_type=TYPES[i % len(TYPES)], cache_hit=(i % 10 == 0),
                          start_time="2026-11-02T10:00:00.000000Z", stop_time=f"2026-11-02T10:{i % 60:02d}:30.000000Z")


def enrich(tasks: int) -> dict[str, Any]:
    omics, logs, prices = CountingOmics(), SimulatedLogs(tasks), bench_prices()
    tracemalloc.start()
    started = time.perf_counter()
    # One pass over the streamed items: the run total and per-task-name totals, items not kept.
    run_total, by_name = Total(), dict[str | None, Total]()
    for item in run_cost_items(RUN, task_rows(tasks), prices):
        run_total.add(item)
        if item.kind == TASK:
            by_name.setdefault(item.name, Total()).add(item)
    sizing = BatchRightsizing(prices)
    sizing.add_manifest(logs.read(manifest_stream(RUN.run_id, RUN.uuid or "")))
    advice = list(sizing.results())
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tasks": tasks, "omics_calls": omics.calls, "log_reads": logs.reads, "peak_kib": peak / 1024,
            "seconds": seconds, "run_usd": run_total.usd, "names": len(advice), "name_totals": len(by_name)}


def main() -> None:
    sizes = [int(s) for s in os.environ.get("COST_BENCH_SIZES", "1000,10000").split(",")]
    enrich(10)  # warm-up: the instance table and module caches load once, outside the measure
    results = [enrich(n) for n in sizes]
    for r in results:
        print(f"tasks={r['tasks']:>6}  HealthOmics calls={r['omics_calls']}  log reads={r['log_reads']}  "
              f"peak={r['peak_kib']:.0f} KiB  time={r['seconds']:.2f} s  run cost (bench prices)={r['run_usd']:.4f}"
              f"  task names advised={r['names']}  per-name totals={r['name_totals']}")
    if len(results) > 1:
        print(f"peak memory ratio {results[-1]['tasks']}/{results[0]['tasks']} tasks: "
              f"{results[-1]['peak_kib'] / results[0]['peak_kib']:.2f} (flat ~ 1.0)")


if __name__ == "__main__":
    main()
