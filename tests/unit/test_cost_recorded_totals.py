"""What the recorder stores as a run's cost, on the guide's example run manifest (issue 14).

The guide's 'Run manifest' example (tests/fixtures/guide/run-manifest.example.json): run 1695324 with
storageCapacity 9600 (static), task geno-123 asking 16 vCPUs + 32 GiB, the task's startTime equal to its
stopTime. test_cost_rightsizing.py already checks the per-task and per-storage arithmetic; this checks the
recorder's path: GetRun/ListRunTasks-shaped answers -> its mapping -> stored totals (money as strings,
unknown as absent) -> roll-up. Prices are TEST FIGURES, not AWS prices."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.cost.calculator import combine
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, price_list
from shared.cost.run_cost import RunPricer, entry_origin
from shared.provenance.from_omics import run_details, task_details
from shared.provenance.items import RunDetails, TaskDetails
from tests.factories import REFERENCE_EVENTS

REGION = "us-east-1"
# omics.c.4xlarge is what the service picks for 16 vCPUs + 32 GiB (the guide's instance table).
PRICES = price_list([PriceLine("omics.c.4xlarge", REGION, Decimal("0.72"), "Hrs"),
                     PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours")],
                    list_id="test-prices", date="2026-03-01", source="test figures")


def _api(record: dict[str, Any]) -> dict[str, Any]:
    """A manifest record as boto3 returns the same fields from GetRun / ListRunTasks (datetimes)."""
    out = {k: (datetime.fromisoformat(v.replace("Z", "+00:00")) if k.endswith("Time") else v)
           for k, v in record.items()}
    out["id"] = record["arn"].rsplit("/", 1)[1]
    return out


def _guide(run_stop: str | None = None, capacity: int | None = None) -> tuple[Any, list[Any]]:
    run, task = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    run = {**run, "storageType": "STATIC", **({"stopTime": run_stop} if run_stop else {}),
           **({"storageCapacity": capacity} if capacity else {})}
    details = run_details(_api(run))
    row = {**_api(task), "taskId": task["arn"].rsplit("/", 1)[1], "instanceType": "omics.c.4xlarge"}
    return details, [task_details(details.run_id, str(details.uuid), row)]


def _none(*_: Any) -> list[dict[str, Any]]:
    return []


def test_guide_run_as_printed_costs_its_task_minimum_and_no_storage_time() -> None:
    details, tasks = _guide()
    cost = RunPricer(details, PRICES, parent_tasks=_none, workflow_lines=_none).price_all(tasks)
    # task geno-123: 0 s running -> billed 60 s (minimum): 0.72 x 60 / 3600 = 0.012
    # storage: 9,600 GiB (4 x 2,400: kept) x 0 s (startTime == stopTime) = 0
    assert Decimal(cost.totals["usd"]) == Decimal("0.012") and Decimal(cost.totals["storage_usd"]) == 0
    assert cost.task_attributes["1245938"]["cost"]["billed_seconds"] == "60"
    assert (cost.totals["price_list_id"], cost.totals["price_list_date"]) == ("test-prices", "2026-03-01")


def test_guide_run_one_hour_with_a_capacity_the_service_rounds_up() -> None:
    # Given the guide's run stopping one hour after it started, asking 9,601 GiB
    details, tasks = _guide(run_stop="2022-08-24T21:08:22.582Z", capacity=9601)
    cost = RunPricer(details, PRICES, parent_tasks=_none, workflow_lines=_none).price_all(tasks)
    # Then storage is provisioned as ceil(9,601 / 2,400) x 2,400 = 12,000 GiB: 12,000 x 1 h x 0.0002 = 2.4
    # and the run is 2.4 + 0.012 = 2.412
    assert Decimal(cost.totals["storage_usd"]) == Decimal("2.4")
    assert Decimal(cost.totals["usd"]) == Decimal("2.412")
    # and two such runs roll up to 4.824, with the price list named
    rolled = combine([cost.totals, cost.totals])
    assert Decimal(rolled["usd"]) == Decimal("4.824") and rolled["price_lists"] == ["test-prices@2026-03-01"]


def test_unknown_price_is_stored_absent_and_the_roll_up_is_unknown_not_zero() -> None:
    details, tasks = _guide()
    empty = price_list([], list_id="snapshot-empty", date="2026-12-02", source="no lines")
    cost = RunPricer(details, empty, parent_tasks=_none, workflow_lines=_none).price_all(tasks)
    assert cost.totals["usd"] is None and cost.totals["unknown"] == 2 and cost.usd is None
    assert "usd" not in cost.task_attributes["1245938"]["cost"]
    rolled = combine([cost.totals, None])  # and a run not priced yet
    assert rolled["usd"] is None and rolled["runs_without_cost"] == 1 and rolled["known_usd"] == "0"


def _parent_task(task_id: str, usd: str) -> dict[str, Any]:
    """A parent attempt's completed task item as the recorder stores it (its `cost` map)."""
    return {"task_id": task_id, "name": "HaplotypeCaller", "status": "COMPLETED", "cache_hit": False,
            "cache_s3_uri": f"s3://cache/uuid/1000001/{task_id}/entry-{task_id}/",
            "cost": {"usd": usd, "basis": "priced", "price_list_id": "test-prices", "price_list_date": "2026-03-01"}}


def test_two_hits_of_one_task_name_avoid_the_sum_of_their_own_producers() -> None:
    """What went wrong: the failed attempt ran the scatter task HaplotypeCaller twice (two shards, one
    priced 0.10 USD, one 3.20 USD); the re-run hit the cache for both, and the user was told the cache
    saved 6.40 USD: producers were mapped by task name only, one task per name, so both hits were credited
    with the same producer's cost. Each hit's ListRunTasks cacheS3Uri names the entry's producer (the
    guide, '실행 캐시의 내용': `s3://{cache.S3location}/{cache.uuid}/runID/taskID/{cacheentry.uuid}/`):
    what the cache saved is 0.10 + 3.20 = 3.30 USD."""
    child = RunDetails(run_id="1000002", uuid="u2", arn=f"arn:aws:omics:{REGION}:123456789012:run/1000002",
                       status="COMPLETED", storage_type="STATIC", storage_capacity=1200,
                       start_time="2026-03-01T02:00:00Z", stop_time="2026-03-01T03:00:00Z", workflow_id="w",
                       root_run_id="1000001", root_run_uuid="u1", parent_run_id="1000001", parent_run_uuid="u1",
                       attempt=1)
    parent_tasks = [_parent_task("2000001", "0.10"), _parent_task("2000002", "3.20")]
    pricer = RunPricer(child, PRICES, parent_tasks=lambda: parent_tasks, workflow_lines=lambda: [])
    hits = [TaskDetails(task_id=f"300000{i}", run_id="1000002", run_uuid="u2", name="HaplotypeCaller",
                        status="COMPLETED", cache_hit=True,
                        cache_s3_uri=f"s3://cache/uuid/1000001/200000{i}/entry-200000{i}/",
                        instance_type=None, start_time="2026-03-01T02:01:00Z", stop_time="2026-03-01T02:01:05Z")
            for i in (1, 2)]
    attributes = pricer.add(hits)
    cost = pricer.finish(attributes)
    assert cost.avoided_usd == Decimal("3.30"), f"the cache is said to have avoided {cost.avoided_usd} USD"
    assert [attributes[f"300000{i}"]["avoided"]["producer_task_id"] for i in (1, 2)] == ["2000001", "2000002"]
    # A hit whose location names no recorded task falls back to the parent's task of its name.
    unnamed = hits[0].model_copy(update={"task_id": "3000003", "cache_s3_uri": None})
    assert pricer.add([unnamed])["3000003"]["avoided"]["usd"] == "3.20"


def test_a_cache_entrys_producer_is_read_from_its_location() -> None:
    # The guide's example manifest (tests/fixtures/guide/run-cache-entry-manifest.v2.json): its s3uri
    assert entry_origin("s3://example/1234567-d0d1-e230-d599-10f1539f4a32/1348677/4795326/"
                        "7e8c69b1-145f-3991-a1fa-ffffcef0a6a4") == ("1348677", "4795326")
    assert entry_origin("s3://bucket/prefix/cache-uuid/1348677/4795326/entry/entry.json") == ("1348677", "4795326")
    assert entry_origin("s3://bucket/too/short/") is None
    assert entry_origin(None) is None
