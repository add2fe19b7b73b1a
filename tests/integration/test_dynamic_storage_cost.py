"""A DYNAMIC run's storage cost, through the recorder and the right-sizer, in either order (issue 14).

The guide, 'HealthOmics 워크플로에서 스토리지 유형 실행' (Run storage types in HealthOmics workflows):
"기본적으로 HealthOmics는 DYNAMIC 실행 스토리지를 제공합니다" (by default HealthOmics provides DYNAMIC run
storage); "대부분의 실행에는 동적 실행 스토리지를 사용하는 것이 좋습니다" (dynamic run storage is recommended for
most runs); "HealthOmics는 실행 중 파일 시스템 사용률에 따라 스토리지 크기를 동적으로 늘리거나 줄입니다" (it grows or
shrinks the storage with the file system's use during the run); and, in its Note, "스토리지 사용량을 실행하면 계정에
요금이 발생합니다" (run storage usage is charged to your account). So a dynamic run is billed on what it used,
which GetRun does not tell: the run manifest's storageAverageGiB does (the guide stored here does not spell
that field out; the Run Analyzer, awslabs/amazon-omics-tools `add_metrics`, bills dynamic storage on it, and
our emulator writes it). The recorder prices from GetRun + ListRunTasks; the right-sizer reads the manifest:
whichever acts last completes the figure, and both write the same values.

moto DynamoDB + CloudWatch Logs; HealthOmics answered by botocore's Stubber (any unqueued call raises). The
prices are TEST FIGURES: omics.c.large 0.36 USD/h, dynamic run storage 0.0002 USD per GiB-hour."""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import recorder.handler as handler_module
import rightsizer.handler as rightsizer_handler
from rightsizer.dal import ManifestLogs
from rightsizer.logic import Config, ManifestConsumer
from shared.cost import price_source
from shared.cost.prices import DYNAMIC_RUN_STORAGE, PriceLine, price_list
from shared.cost.rightsizing import LOG_GROUP, manifest_stream
from shared.provenance.cost_repository import CostRepository
from shared.provenance.repository import ProvenanceRepository, _Update
from shared.provenance.rightsizing_repository import RightsizingRepository
from shared.settings import get_settings
from tests.factories import (
    REFERENCE_EVENTS,
    REGION,
    FakeLambdaContext,
    get_run_response,
    list_run_tasks_response,
    run_event,
    sqs_event,
)

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics`, `invoke` and `repo` fixtures

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # the factories' GetRun: started then, stopped one hour later
PRICES = price_list([PriceLine("omics.c.large", REGION, Decimal("0.36"), "Hrs"),
                     PriceLine(DYNAMIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours")],
                    list_id="test-prices", date="2026-01-01", source="test figures")
AVERAGE_GIB = 250.0  # TEST FIGURE: the manifest's storageAverageGiB
ATTEMPTS = 3


@pytest.fixture
def logs(aws: None) -> Any:
    return boto3.client("logs", region_name=REGION)


@pytest.fixture
def record(invoke: Callable[..., dict[str, Any]], omics: tuple[Any, Stubber],
           monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The recorder's handler recording a run's COMPLETED event (GetRun + one ListRunTasks page queued)."""
    monkeypatch.setattr(price_source, "current_price_list", lambda region: PRICES)  # imported on use

    def _record(run_id: str) -> None:
        queue_enrichment(omics[1], run_id)
        assert invoke([run_event(run_id, "COMPLETED", T0)]) == {"batchItemFailures": []}

    return _record


@pytest.fixture
def consumer(repo: ProvenanceRepository, logs: Any) -> ManifestConsumer:
    return ManifestConsumer(RightsizingRepository(repo), ManifestLogs(lambda: logs), lambda: PRICES,
                            Config(headroom=0.1, manifest_attempts=ATTEMPTS))


def queue_enrichment(stub: Stubber, run_id: str) -> None:
    stub.add_response("get_run", get_run_response(run_id, "COMPLETED"), {"id": run_id})  # storageType DYNAMIC
    # task-0 a cache hit (0), task-1 ran 0 s, billed 60 s: 0.36 x 60 / 3600 = 0.006
    stub.add_response("list_run_tasks", list_run_tasks_response(run_id, 2), {"id": run_id})


def write_manifest(logs: Any, run_id: str) -> None:
    """The guide's manifest run record and task, as this DYNAMIC run's, with the average use above; one task
    record per task ListRunTasks listed (two): the right-sizer waits for a manifest that holds them all."""
    run, task = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    tasks = [{**copy.deepcopy(task), "arn": f"{task['arn']}{i}"} for i in range(2)]
    run = {**copy.deepcopy(run), "arn": get_run_response(run_id, "COMPLETED")["arn"], "uuid": f"uuid-{run_id}",
           "storageType": "DYNAMIC", "metrics": {"storageAverageGiB": AVERAGE_GIB, "storageMaximumGiB": 400.0}}
    run.pop("storageCapacity", None)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    stream = manifest_stream(run_id, f"uuid-{run_id}")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[
        {"timestamp": now, "message": json.dumps(r)} for r in (run, *tasks)])


def stored(repo: ProvenanceRepository, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run summary's cost map and its workflow-day line's."""
    summary = repo.run_summary(run_id, f"uuid-{run_id}") or {}
    (line,) = [r for r in CostRepository(repo).workflow_day_cost("1234567", "2026-01-01")["per_run"]
               if r["run_id"] == run_id]
    return summary["cost"], line["cost"]


def test_a_dynamic_run_recorded_then_sized_has_its_storage_priced_on_the_manifest_average(
        record, consumer, repo, logs) -> None:
    # Given a DYNAMIC run recorded from GetRun + ListRunTasks (no average use there: storage unknown)
    record("111")
    assert stored(repo, "111")[0].get("storage_usd") is None
    # When the right-sizer reads its manifest (storageAverageGiB 250)
    write_manifest(logs, "111")
    assert consumer.handle("111", "uuid-111").kind == "SIZED"
    # Then its storage is 0.0002 x 250 GiB x 1 h = 0.05, the run 0.05 + 0.006 = 0.056, on summary and line
    summary_cost, line_cost = stored(repo, "111")
    assert summary_cost.get("storage_usd") is not None, f"the DYNAMIC run's storage stayed unknown: {summary_cost}"
    assert Decimal(summary_cost["storage_usd"]) == Decimal("0.05") and summary_cost == line_cost
    assert Decimal(summary_cost["usd"]) == Decimal("0.056") and summary_cost["unknown"] == 0
    # and the storage figure says what it was priced on, and with which price list
    figure = summary_cost["storage"]
    assert (figure["basis"], Decimal(figure["charged_gib"]), figure["price_list_id"], figure["price_list_date"]) == (
        "priced", Decimal("250.0"), "test-prices", "2026-01-01")
    assert CostRepository(repo).workflow_day_cost("1234567", "2026-01-01")["usd"] == summary_cost["usd"]


def test_either_order_and_duplicates_store_the_same_figures(record, consumer, repo, logs, omics) -> None:
    # Given run 111 recorded before it is sized, and run 222 sized first (its last receive: no details yet)
    record("111")
    write_manifest(logs, "111")
    consumer.handle("111", "uuid-111")
    write_manifest(logs, "222")
    assert consumer.handle("222", "uuid-222", receive_count=ATTEMPTS).kind == "SIZED"
    record("222")
    # Then both orders store the same totals (same inputs, same values)
    first = stored(repo, "111")
    assert first[0].get("usd") is not None, f"the DYNAMIC run's storage stayed unknown: {first[0]}"
    assert Decimal(first[0]["usd"]) == Decimal("0.056") and stored(repo, "222") == first
    # When the right-sizer's event is delivered again, and the recorder prices the run again
    assert consumer.handle("111", "uuid-111").kind == "DUPLICATE"
    queue_enrichment(omics[1], "111")
    handler_module._recorder()._enrich_run("111", "uuid-111", "COMPLETED")  # a retried enrichment
    # Then nothing changed: the storage is not put back to unknown
    assert stored(repo, "111") == first


def test_without_a_manifest_the_dynamic_storage_stays_unknown_never_zero(record, consumer, repo) -> None:
    # Given a DYNAMIC run whose manifest never appeared (the right-sizer's last receive: MANIFEST_MISSING)
    assert consumer.handle("333", "uuid-333", receive_count=ATTEMPTS).kind == "MISSING"
    # When the recorder prices it
    record("333")
    # Then its storage is unknown (no usd, not 0) and so is the run's total; the tasks' 0.006 stays known
    summary_cost, line_cost = stored(repo, "333")
    assert summary_cost == line_cost
    assert summary_cost["storage"]["basis"] == "usage_unknown" and "usd" not in summary_cost["storage"]
    assert summary_cost.get("storage_usd") is None and summary_cost.get("usd") is None
    assert (Decimal(summary_cost["known_usd"]), summary_cost["unknown"]) == (Decimal("0.006"), 1)


def test_totals_changed_while_the_storage_is_priced_are_read_again_not_overwritten(
        record, repo, monkeypatch) -> None:
    # Given a recorded DYNAMIC run, and the recorder repricing its cache hits just after our read of its totals
    record("444")
    costs = CostRepository(repo)
    read = repo.run_summary
    concurrent = {"avoided_known_usd": "0.5", "avoided_usd": "0.5", "avoided_unknown": 0}

    def read_then_concurrent_write(run_id: str, run_uuid: str) -> Any:
        summary = read(run_id, run_uuid)
        if summary and summary["cost"].get("avoided_known_usd") != "0.5":
            repo._update(repo.run_summary_key(run_id, run_uuid),
                         _Update(sets={"cost": {**summary["cost"], **concurrent}}))
        return summary

    monkeypatch.setattr(repo, "run_summary", read_then_concurrent_write)
    # When the storage is priced on the manifest's average
    updated = costs.record_dynamic_storage("444", "uuid-444", AVERAGE_GIB, PRICES)
    # Then the write over the stale totals was refused, and the totals read again keep both changes
    stored_cost = read("444", "uuid-444")["cost"]
    assert updated == stored_cost
    assert stored_cost["avoided_known_usd"] == "0.5" and Decimal(stored_cost["storage_usd"]) == Decimal("0.05")


def record_failed(invoke: Callable[..., dict[str, Any]], stub: Stubber, run_id: str, **get_run: Any) -> None:
    """The recorder's handler recording a run's FAILED event (its GetRun, a field given None left out, + one
    ListRunTasks page)."""
    response = {k: v for k, v in get_run_response(run_id, "FAILED", **get_run).items() if v is not None}
    stub.add_response("get_run", response, {"id": run_id})
    stub.add_response("list_run_tasks", list_run_tasks_response(run_id, 2), {"id": run_id})
    assert invoke([run_event(run_id, "FAILED", T0)]) == {"batchItemFailures": []}


def test_a_failed_dynamic_run_gets_its_storage_cost_from_its_manifest(
        invoke: Callable[..., dict[str, Any]], omics: tuple[Any, Stubber], repo: ProvenanceRepository,
        logs: Any, table_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What went wrong: a run on DYNAMIC storage (the guide's default and recommendation) failed, and its
    storage, so its cost, its sample's, its batch's and the re-run decisions' failed_attempt_cost_usd, stayed
    unknown forever: only COMPLETED runs reached the right-sizer (its rule and its handler), the only
    component that reads the manifest, where the average use a dynamic run is billed on is. The guide
    ('CloudWatch의 로그': every workflow log but the engine's is written for failed and successful runs; run
    manifest logs: 'manifest/run/<runID>/<runUUID>'; and 'HealthOmics 워크플로에서 스토리지 유형 실행': after a
    run ends, on the success or the failure path, the run manifest log has its storage figures)."""
    monkeypatch.setattr(price_source, "current_price_list", lambda region: PRICES)
    record_failed(invoke, omics[1], "333")  # storageType DYNAMIC, ran one hour
    write_manifest(logs, "333")  # HealthOmics writes the manifest of a failed run too
    # The run's only terminal event, FAILED, as the right-sizing rule routes it to the right-sizer
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setattr(rightsizer_handler, "_prices", lambda: PRICES)
    monkeypatch.setattr(rightsizer_handler, "_logs_client", lambda: logs)
    get_settings.cache_clear()
    assert rightsizer_handler.lambda_handler(sqs_event([run_event("333", "FAILED", T0)]),
                                             FakeLambdaContext()) == {"batchItemFailures": []}
    summary_cost, line_cost = stored(repo, "333")
    storage_basis = summary_cost.get("storage", {}).get("basis")
    assert summary_cost.get("storage_usd") is not None, (
        f"failed DYNAMIC run: storage {storage_basis}, run usd {summary_cost.get('usd')}")
    # 0.0002 x 250 GiB x 1 h = 0.05, plus the tasks' 0.006
    assert Decimal(summary_cost["usd"]) == Decimal("0.056") and summary_cost == line_cost
    # A failed run's peaks are a partial run's: no task-name advice, no storage recommendation, no batch index
    rightsizing = RightsizingRepository(repo)
    marker = rightsizing.marker("333", "uuid-333") or {}
    assert (marker.get("status"), marker.get("run_status"), marker.get("names")) == ("DONE", "FAILED", 0)
    assert "storage_recommended_gib" not in marker and "batch_pk" not in marker


def test_a_failed_static_run_or_one_that_never_started_is_not_read(
        invoke: Callable[..., dict[str, Any]], omics: tuple[Any, Stubber], consumer: ManifestConsumer,
        logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # STATIC storage is priced from GetRun's capacity; a run that never started had none: no manifest read
    monkeypatch.setattr(price_source, "current_price_list", lambda region: PRICES)
    record_failed(invoke, omics[1], "555", storageType="STATIC", storageCapacity=1200)
    record_failed(invoke, omics[1], "666", startTime=None)
    assert consumer.handle("555", "uuid-555", run_status="FAILED").kind == "SKIPPED"
    assert consumer.handle("666", "uuid-666", run_status="FAILED").kind == "SKIPPED"
    assert consumer.logs.pages_read == 0
