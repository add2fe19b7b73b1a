"""Cost recording benchmark (issue 14): the recorder enriching one completed run of N tasks against moto
DynamoDB, with and without pricing, side by side.

Printed, not asserted: HealthOmics calls (GetRun 1 + ListRunTasks pages, the same as without pricing:
pricing adds 0), DynamoDB requests and items written with pricing vs without (the cost rides on the task
items: no item per task), and the tracemalloc peak of the whole enrichment at each size, with and without
pricing (each page is priced and written as it arrives: flat in the number of tasks).
Sizes: COST_RECORD_BENCH_SIZES="1000,10000" (comma-separated).
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
NAMES = [f"step{i:02d}" for i in range(20)]
T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


class FakeOmics:
    """GetRun and ListRunTasks pages of 100, counted (any other call would fail)."""

    def __init__(self, tasks: int) -> None:
        self.tasks, self.calls = tasks, Counter[str]()

    def get_run(self, id: str) -> dict[str, Any]:
        self.calls["GetRun"] += 1
        return {"id": id, "uuid": f"uuid-{id}", "arn": f"arn:aws:omics:{REGION}:123456789012:run/{id}",
                "status": "COMPLETED", "workflowId": "wf1", "storageType": "STATIC", "storageCapacity": 5000,
                "creationTime": T0, "startTime": T0, "stopTime": T0 + timedelta(hours=4), "tags": {}}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_run_tasks"
        outer = self

        class Pages:
            def paginate(self, **_: Any) -> Any:
                for start in range(0, outer.tasks, 100):
                    outer.calls["ListRunTasks"] += 1
                    yield {"items": [{"taskId": f"t{i:06d}", "name": NAMES[i % len(NAMES)], "status": "COMPLETED",
                                      "instanceType": "omics.c.large", "cpus": 2, "memory": 4, "cacheHit": False,
                                      "startTime": T0, "stopTime": T0 + timedelta(seconds=30 + i % 300)}
                                     for i in range(start, min(start + 100, outer.tasks))]}

        return Pages()


def _prices() -> Any:
    from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, price_list

    # BENCHMARK FIGURES, not AWS prices: only the work of pricing is measured.
    return price_list([PriceLine("omics.c.large", REGION, Decimal("0.1"), "Hrs"),
                       PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours")],
                      list_id="bench", date="2026-11-01", source="benchmark figures")


def enrich(tasks: int, priced: bool, trace: bool = False) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from shared.provenance.repository import ProvenanceRepository
    from shared.recorder import Recorder
    from tests.factories import create_provenance_table

    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        repository = ProvenanceRepository(create_provenance_table(client), client)
        requests: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.update([model.name]))
        omics = FakeOmics(tasks)
        prices = _prices()
        recorder = Recorder(repository, omics=lambda: omics, now=lambda: T0 + timedelta(hours=5),
                            prices=lambda region: prices)
        peak = 0
        if not priced:  # the same enrichment with pricing removed: what the recorder did before issue 14
            recorder._pricer = lambda details: _Unpriced(details)  # type: ignore[method-assign,assignment,return-value]
            recorder.costs.record_run_cost = lambda *_a, **_k: None  # type: ignore[method-assign]
            recorder._reprice_later_attempts = lambda details: None  # type: ignore[method-assign]
        if trace:
            # The task items written are moto's memory, not the recorder's: in this run moto answers
            # BatchWriteItem without storing them (every item still goes through botocore's serializer).
            client.meta.events.register("before-call.dynamodb.BatchWriteItem",
                                        lambda **_: (_Ok(), {"UnprocessedItems": {}}))
        started = time.perf_counter()
        if trace:  # memory in its own run: tracemalloc slows what it traces
            tracemalloc.start()
        try:
            recorder._enrich_run("1695324", "uuid-1695324", "COMPLETED")
        finally:
            if trace:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        elapsed = time.perf_counter() - started
        # A Scan page stops at 1 MB (priced task items are larger): count every page.
        pages = boto3.client("dynamodb", region_name=REGION).get_paginator("scan").paginate(
            TableName=repository.table_name, Select="COUNT")
        items = sum(page["Count"] for page in pages)
    return {"omics": dict(omics.calls), "requests": dict(requests), "items": items, "peak": peak,
            "seconds": elapsed}


class _Ok:
    status_code = 200
    headers: dict[str, str] = {}


class _Unpriced:
    """The pricer's interface, pricing nothing: the task items carry no cost, the run no totals."""

    def __init__(self, details: Any) -> None:
        self.details = details

    def add(self, tasks: Any) -> dict[str, Any]:
        return {}

    def finish(self) -> Any:
        from shared.cost.calculator import RunContext
        from shared.cost.run_cost import RunCost

        return RunCost(RunContext.of(self.details), {})


def main() -> None:
    sizes = [int(s) for s in os.environ.get("COST_RECORD_BENCH_SIZES", "1000,10000").split(",") if s.strip()]
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    peaks: dict[int, tuple[int, int]] = {}
    for tasks in sizes:
        plain, priced = enrich(tasks, priced=False), enrich(tasks, priced=True)
        peak = enrich(tasks, priced=True, trace=True)["peak"]
        peaks[tasks] = (peak, enrich(tasks, priced=False, trace=True)["peak"])
        extra_items = priced["items"] - plain["items"]
        extra_requests = sum(priced["requests"].values()) - sum(plain["requests"].values())
        print(f"{tasks:>6} tasks: HealthOmics calls without pricing {plain['omics']}, with pricing {priced['omics']} "
              f"-> extra {sum(priced['omics'].values()) - sum(plain['omics'].values())} (goal 0)")
        print(f"        DynamoDB requests {sum(plain['requests'].values())} -> {sum(priced['requests'].values())} "
              f"(+{extra_requests}: {priced['requests']}); items {plain['items']} -> {priced['items']} "
              f"(+{extra_items}, goal: not one per task)")
        print(f"        enrichment peak memory {peak / 1e6:.2f} MB with pricing, {peaks[tasks][1] / 1e6:.2f} MB "
              f"without (tracemalloc over the whole enrichment: GetRun, every ListRunTasks page, the "
              f"writes); {plain['seconds']:.1f} s -> {priced['seconds']:.1f} s against moto "
              f"(ratio {priced['seconds'] / plain['seconds']:.2f})")
    if len(peaks) > 1:
        (small, (small_peak, _)), (large, (large_peak, _)) = min(peaks.items()), max(peaks.items())
        print(f"enrichment peak with pricing, {large:,} vs {small:,} tasks: {large_peak / small_peak:.2f}x "
              f"(flat: ~1; the tasks are {large / small:.0f}x)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lambdas"))
    sys.path.insert(0, str(ROOT))
    main()
