"""Cost enrichment benchmark (issue 14): a completed run of N tasks, priced from data the recorder already
holds (GetRun + ListRunTasks rows, generated lazily) and right-sized by the real manifest consumer
(rightsizer.logic) reading the run's manifest stream from (moto) CloudWatch Logs and writing its per task
name items to (moto) DynamoDB.

Printed, not asserted: HealthOmics calls (must be 0: an emulator answers every omics call in the process
and counts them), manifest streams read (1) and their GetLogEvents pages, items written, and the
tracemalloc peak of the enrichment at each size (flat: one log page and one aggregate per task name; moto
answers in-process, so its side of each GetLogEvents call is inside the peak too).
Sizes: COST_BENCH_SIZES="1000,10000" (comma-separated); page size: COST_BENCH_PAGE_EVENTS (default: the
consumer's).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from rightsizer.dal import PAGE_EVENTS, ManifestLogs
from rightsizer.logic import Config, ManifestConsumer
from sandbox.omics import OmicsEmulator, mock_omics
from shared.cost.calculator import TASK, Total, run_cost_items
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, PriceList, price_list
from shared.cost.rightsizing import LOG_GROUP, manifest_stream
from shared.provenance.items import RunDetails, TaskDetails
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.rightsizing_repository import RightsizingRepository
from tests.factories import create_provenance_table

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


def manifest_records(tasks: int) -> Iterator[str]:
    """The run's manifest in the guide's format: the run record, then one record per task."""
    yield json.dumps({"arn": RUN.arn, "uuid": RUN.uuid, "status": "COMPLETED", "storageType": "STATIC",
                      "storageCapacity": 5000, "startTime": "2026-11-02T10:00:00.000Z",
                      "stopTime": "2026-11-02T14:00:00.000Z", "metrics": {"storageMaximumGiB": 900}})
    for i in range(tasks):
        yield json.dumps({
            "arn": f"arn:aws:omics:{REGION}:123456789012:task/{i}", "name": NAMES[i % len(NAMES)],
            "instanceType": TYPES[i % len(TYPES)], "cpus": 2, "memory": 4, "run": RUN.arn, "status": "SUCCESS",
            "startTime": "2026-11-02T10:00:00.000Z", "stopTime": f"2026-11-02T10:{i % 60:02d}:30.000Z",
            "metrics": {"cpusMaximum": 1.5, "memoryMaximumGiB": 2.5, "cpusReserved": 2, "memoryReservedGiB": 4}})


def write_manifest(logs: Any, tasks: int) -> None:
    stream = manifest_stream(RUN.run_id, RUN.uuid or "")
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now, batch = int(time.time() * 1000), []
    for message in manifest_records(tasks):
        batch.append({"timestamp": now, "message": message})
        if len(batch) == 5000:
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=batch)
            batch = []
    if batch:
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=batch)


def task_rows(count: int) -> Iterator[TaskDetails]:
    """The ListRunTasks rows the recorder fetched (generated lazily: they are not part of the measure)."""
    for i in range(count):
        yield TaskDetails(task_id=str(i), run_id=RUN.run_id, run_uuid=RUN.uuid or "", name=NAMES[i % len(NAMES)],
                          instance_type=TYPES[i % len(TYPES)], cache_hit=(i % 10 == 0),
                          start_time="2026-11-02T10:00:00.000000Z", stop_time=f"2026-11-02T10:{i % 60:02d}:30.000000Z")


def enrich(tasks: int, page_events: int) -> dict[str, Any]:
    prices = bench_prices()
    with mock_aws():
        logs, dynamodb = boto3.client("logs", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        write_manifest(logs, tasks)
        repository = ProvenanceRepository(create_provenance_table(dynamodb), dynamodb)
        repository.record_run_details(RUN, "2026-11-02T14:00:01.000000Z", "COMPLETED")  # the recorder's part
        requests: Counter[str] = Counter()
        logs.meta.events.register("provide-client-params.logs.GetLogEvents",
                                  lambda params, **_: requests.update([params["logStreamName"]]))
        consumer = ManifestConsumer(RightsizingRepository(repository), ManifestLogs(lambda: logs, page_events),
                                    lambda: prices, Config(headroom=0.05, manifest_attempts=4))
        emulator = OmicsEmulator()  # answers (and counts) any HealthOmics call made in this process
        with mock_omics(emulator):
            tracemalloc.start()
            started = time.perf_counter()
            # One pass over the streamed ListRunTasks rows: the run total and per-task-name totals.
            run_total, by_name = Total(), dict[str | None, Total]()
            for item in run_cost_items(RUN, task_rows(tasks), prices):
                run_total.add(item)
                if item.kind == TASK:
                    by_name.setdefault(item.name, Total()).add(item)
            outcome = consumer.handle(RUN.run_id, RUN.uuid or "")
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        items = list(RightsizingRepository(repository).batch_items(RUN.root_batch_id or ""))
    return {"tasks": tasks, "omics_calls": sum(emulator.calls.values()), "streams_read": len(requests),
            "log_pages": sum(requests.values()), "peak_kib": peak / 1024, "seconds": seconds,
            "run_usd": run_total.usd, "names": outcome.names, "items": len(items), "kind": outcome.kind}


def main() -> None:
    sizes = [int(s) for s in os.environ.get("COST_BENCH_SIZES", "1000,10000").split(",")]
    page_events = int(os.environ.get("COST_BENCH_PAGE_EVENTS") or PAGE_EVENTS)
    enrich(10, page_events)  # warm-up: the instance table and module caches load once, outside the measure
    results = [enrich(n, page_events) for n in sizes]
    for r in results:
        print(f"tasks={r['tasks']:>6}  HealthOmics calls={r['omics_calls']}  manifest streams read="
              f"{r['streams_read']} (GetLogEvents pages={r['log_pages']}, {page_events} events/page)  "
              f"peak={r['peak_kib']:.0f} KiB  time={r['seconds']:.2f} s  run cost (bench prices)={r['run_usd']:.4f}"
              f"  {r['kind']}: task names={r['names']}, right-sizing items written={r['items']}")
    for r in results[1:]:
        print(f"peak memory ratio {r['tasks']}/{results[0]['tasks']} tasks: "
              f"{r['peak_kib'] / results[0]['peak_kib']:.2f} (flat ~ 1.0)")


if __name__ == "__main__":
    main()
