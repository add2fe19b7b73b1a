"""One run's manifest aggregated by task name (what the manifest consumer stores).

Oracle: the guide's example manifest (tests/fixtures/guide/run-manifest.example.json) and its list of
utilisation statistics; figures and prices added here are TEST FIGURES, stated where added."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from shared.cost.prices import PriceLine, price_list
from shared.cost.rightsizing import RunRightsizing
from tests.factories import REFERENCE_EVENTS

PRICES = price_list([PriceLine("omics.c.4xlarge", "us-east-1", Decimal("0.72"), "Hrs"),
                     PriceLine("omics.m.xlarge", "us-east-1", Decimal("0.24"), "Hrs")],
                    list_id="test-list", date="2026-11-01", source="test figures")


def manifest(measured: int, unmeasured: int) -> list[str]:
    run, task = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    run = {**run, "storageType": "DYNAMIC", "metrics": {"storageAverageGiB": 310.5, "storageMaximumGiB": 600}}
    records: list[dict[str, Any]] = [run]
    for i in range(measured + unmeasured):
        extra = {"metrics": {"cpusMaximum": 3.2, "memoryMaximumGiB": 10}} if i < measured else {}
        records.append({**copy.deepcopy(task), "arn": f"{task['arn']}{i}", **extra})
    return [json.dumps(r) for r in records]


def test_tasks_without_figures_are_counted_but_not_priced_into_the_saving() -> None:
    # Given geno-123 three times with our figures (peak 3.2 vCPUs, 10 GiB) and twice without (cache hits),
    sizing = RunRightsizing(PRICES, headroom=0.1)
    sizing.add_events(manifest(measured=3, unmeasured=2))
    (agg,) = sizing.by_name.values()
    # then all five are counted, three are measured, and only those are priced: each is billed 60 s
    # (startTime == stopTime in the guide), 3 x 0.72 x 60 / 3600 = 0.036 now, 3 x 0.24 x 60 / 3600 = 0.012.
    assert (agg.tasks, agg.measured, agg.seconds_by_type) == (5, 3, {"omics.c.4xlarge": Decimal(180)})
    assert (agg.current_usd, agg.recommended_usd, agg.saving_usd) == (Decimal("0.036"), Decimal("0.012"),
                                                                       Decimal("0.024"))
    assert sizing.name_recommendation(agg) == "omics.m.xlarge" and sizing.tasks == 5


def test_the_run_record_keeps_only_the_storage_figures() -> None:
    sizing = RunRightsizing(PRICES)
    sizing.add_events(manifest(measured=1, unmeasured=0))
    # The dynamic-storage figure the guide's manifest statistics carry, and no parameters or digests kept.
    assert (sizing.storage_average_gib(), sizing.storage_maximum_gib()) == (310.5, 600)
    assert sizing.run_record is not None and "parameters" not in sizing.run_record
    storage = sizing.storage()
    assert storage is not None and storage.storage_type == "DYNAMIC" and storage.current_gib is None
