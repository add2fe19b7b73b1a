"""Right-sizing from the run manifest (issue 14).

Oracles: the guide's example manifest (tests/fixtures/guide/run-manifest.example.json, copied from the
guide's 'Run manifest' example: a run with storageCapacity 9600 and task geno-123 asking 16 vCPUs and
32 GiB, whose startTime equals its stopTime), the guide's list of manifest utilisation statistics
(cpusMaximum, memoryMaximumGiB, ...), its instance tables, and the Run Analyzer's recommendation rule
(ceil(peak x (1 + headroom)), smallest type that fits; tasks billed max(60, running) seconds).
Prices here are TEST FIGURES, not AWS prices; utilisation figures added to the guide's task are ours and
stated where added."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from shared.cost.calculator import RunContext, task_cost
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, price_list
from shared.cost.rightsizing import (
    BatchRightsizing,
    RunRightsizing,
    TaskUsage,
    manifest_records,
    manifest_stream,
    recommend_storage,
    recommendations,
)
from shared.provenance.items import TaskDetails
from tests.factories import REFERENCE_EVENTS

REGION = "us-east-1"
PRICES = price_list([
    PriceLine("omics.c.4xlarge", REGION, Decimal("0.72"), "Hrs"),
    PriceLine("omics.m.xlarge", REGION, Decimal("0.24"), "Hrs"),
    PriceLine("omics.m.2xlarge", REGION, Decimal("0.48"), "Hrs"),
    PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours"),
], list_id="test-list", date="2026-11-01", source="test figures")


def guide_manifest() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    return records


def as_log_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record is one CloudWatch Logs event of the manifest stream."""
    return [{"timestamp": i, "message": json.dumps(r)} for i, r in enumerate(records)]


def with_metrics(records: list[dict[str, Any]], cpus_max: float, memory_max: float) -> list[dict[str, Any]]:
    changed = copy.deepcopy(records)
    changed[1]["metrics"] = {"cpusReserved": 16, "memoryReservedGiB": 32, "cpusMaximum": cpus_max,
                             "memoryMaximumGiB": memory_max}
    return changed


def test_guide_manifest_task_is_billed_the_60_second_minimum_on_the_services_choice() -> None:
    # Given the guide's manifest (no instanceType on its task; startTime == stopTime),
    (usage,) = [TaskUsage.of(r) for r in manifest_records(as_log_events(guide_manifest())) if "task/" in r["arn"]]
    # Then the task is placed as the service places 16 vCPUs + 32 GiB: omics.c.4xlarge (16 vCPUs, 32 GiB),
    # billed 60 s (0 s running, 60-second minimum), in the region of its arn.
    assert (usage.name, usage.instance_type, usage.billed_seconds, usage.region) == (
        "geno-123", "omics.c.4xlarge", 60, REGION)
    # And without utilisation figures there is no recommendation, only the current cost: 0.72 x 60/3600.
    (rec,) = recommendations(as_log_events(guide_manifest()), PRICES)
    assert rec.recommended_type is None and rec.current_usd == Decimal("0.012") and rec.saving_usd is None


def test_hand_calculation_on_the_guide_manifest_with_utilisation() -> None:
    # Given the guide's task with our figures: peak 3.2 vCPUs, 10 GiB; headroom 10 %.
    events = as_log_events(with_metrics(guide_manifest(), 3.2, 10))
    (rec,) = recommendations(events, PRICES, headroom=0.1)
    # Then need ceil(3.2 x 1.1) = ceil(3.52) = 4 vCPUs, ceil(10 x 1.1) = 11 GiB:
    # c.xlarge (4, 8 GiB) is too small, m.xlarge (4, 16 GiB) fits.
    assert (rec.current_type, rec.recommended_type) == ("omics.c.4xlarge", "omics.m.xlarge")
    # Current 0.72 $/h x 60 s / 3600 = 0.012 ; recommended 0.24 x 60 / 3600 = 0.004 ; saving 0.008.
    assert (rec.current_usd, rec.recommended_usd, rec.saving_usd) == (Decimal("0.012"), Decimal("0.004"),
                                                                       Decimal("0.008"))
    # And the calculator prices the same task identically (one rule for cost and right-sizing).
    task = TaskDetails(task_id="1245938", run_id="1695324", run_uuid="u", name="geno-123",
                       instance_type="omics.c.4xlarge",
                       start_time="2022-08-24T20:08:22.278Z", stop_time="2022-08-24T20:08:22.278Z")
    context = RunContext(run_id="1695324", region=REGION)
    assert task_cost(task, context, PRICES).usd == rec.current_usd


def test_static_storage_hand_calculation_on_the_guide_run() -> None:
    run = guide_manifest()[0]
    # The guide's run: 9,600 GiB (a multiple of 2,400: kept) for 0 s (startTime == stopTime) costs 0.
    as_printed = recommend_storage(run, PRICES)
    assert (as_printed.current_gib, as_printed.seconds, as_printed.current_usd) == (9600, 0, Decimal(0))
    # With our figures: stopTime one hour later, peak use 1,000 GiB, headroom 10 %:
    run = {**run, "stopTime": "2022-08-24T21:08:22.582Z", "metrics": {"storageMaximumGiB": 1000}}
    rec = recommend_storage(run, PRICES, headroom=0.1)
    # current 9,600 GiB x 1 h x 0.0002 = 1.92 ; need ceil(1,100) / 0.93 (the file system's 7 %) = 1,183 ->
    # rounded up to the 1,200 GiB minimum: 1,200 x 1 x 0.0002 = 0.24.
    assert (rec.current_gib, rec.recommended_gib) == (9600, 1200)
    assert (rec.current_usd, rec.recommended_usd) == (Decimal("1.92"), Decimal("0.24"))
    # A requested 5,000 GiB is provisioned (and priced) as 7,200 GiB: 7,200 x 1 x 0.0002 = 1.44.
    assert recommend_storage({**run, "storageCapacity": 5000}, PRICES).current_usd == Decimal("1.44")


def test_batch_aggregates_by_task_name_at_the_batch_peak() -> None:
    # Given two runs of a batch: geno-123 peaks at 3.2 vCPUs/10 GiB in one and 6 vCPUs/20 GiB in the other.
    batch = BatchRightsizing(PRICES, headroom=0.1)
    batch.add_manifest(as_log_events(with_metrics(guide_manifest(), 3.2, 10)))
    batch.add_manifest(as_log_events(with_metrics(guide_manifest(), 6, 20)))
    (result,) = batch.results()
    # Then the batch needs ceil(6.6) = 7 vCPUs and ceil(22) = 22 GiB -> omics.m.2xlarge (8, 32 GiB).
    assert (result.name, result.tasks, result.current_types, result.recommended_type) == (
        "geno-123", 2, ("omics.c.4xlarge",), "omics.m.2xlarge")
    # Over 2 x 60 billed seconds: current 0.72 x 120/3600 = 0.024 ; recommended 0.48 x 120/3600 = 0.016.
    assert (result.current_usd, result.recommended_usd, result.saving_usd) == (
        Decimal("0.024"), Decimal("0.016"), Decimal("0.008"))
    # And memory is one aggregate per task name, not per task.
    assert len(batch.by_name) == 1


def test_unreadable_log_lines_are_skipped_and_the_stream_name_matches_the_guide() -> None:
    events = ["not json", json.dumps([1, 2]), json.dumps(guide_manifest()[1])]
    assert [r["name"] for r in manifest_records(events)] == ["geno-123"]
    assert manifest_stream("1695324", "a3b0ca7e-9597-4ecc-94a4-6ed45481aeab") == (
        "manifest/run/1695324/a3b0ca7e-9597-4ecc-94a4-6ed45481aeab")


def _dynamic_guide_run(peak_gib: int, average_gib: int) -> dict[str, Any]:
    """The guide's run, one hour long, on DYNAMIC storage with our peak and average use."""
    return {**guide_manifest()[0], "storageType": "DYNAMIC", "stopTime": "2022-08-24T21:08:22.582Z",
            "metrics": {"storageMaximumGiB": peak_gib, "storageAverageGiB": average_gib}}


def test_recommended_static_storage_leaves_room_for_the_file_systems_7_percent() -> None:
    """What went wrong: a DYNAMIC run peaked at 1,130 GiB and the right-sizer recommended 1,200 GiB of
    STATIC storage (ceil(1,130 x 1.05) = 1,187 -> 1,200). The guide ('HealthOmics 워크플로에서 스토리지 유형
    실행', '필요한 정적 실행 스토리지 계산': static storage required = dynamic maximum + 0.07 x static size)
    says the static file system's installation takes 7 % of its capacity: 1,130 + 0.07 x 1,200 = 1,214 GiB
    > 1,200, so a user following the advice got FILE_SYSTEM_OUT_OF_SPACE. 2,400 GiB holds it."""
    rec = recommend_storage(_dynamic_guide_run(1130, 700), PRICES)  # default headroom 5 %
    assert rec.recommended_gib is not None
    assert rec.recommended_gib - 0.07 * rec.recommended_gib >= 1130, (
        f"recommended {rec.recommended_gib} GiB static storage leaves "
        f"{rec.recommended_gib * 0.93:.0f} GiB usable for a 1,130 GiB peak")
    assert rec.recommended_gib == 2400


def test_right_sizer_stores_a_static_size_that_fits_the_guides_own_formula() -> None:
    """The same through the manifest consumer's aggregate (what lands in provenance as
    storage_recommended_gib): a 2,250 GiB peak was recommended 2,400 GiB (ceil(2,362.5) -> 2,400), but
    2,250 + 0.07 x 2,400 = 2,418 GiB is needed (guide, '필요한 정적 실행 스토리지 계산'): 4,800 GiB is right."""
    sizing = RunRightsizing(PRICES)
    sizing.add_events([json.dumps(_dynamic_guide_run(2250, 1000))])
    storage = sizing.storage()
    assert storage is not None
    assert storage.recommended_gib == 4800, f"recommended {storage.recommended_gib} GiB for a 2,250 GiB peak"
