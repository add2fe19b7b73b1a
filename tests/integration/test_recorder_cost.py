"""The recorder prices a run from the GetRun and ListRunTasks answers it already fetched (issue 14): moto
DynamoDB, HealthOmics answered by botocore's Stubber (which raises on any call not queued, so "no extra
HealthOmics call" is enforced by the stub itself). Test prices are TEST FIGURES, not AWS prices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from shared.cost import price_source
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, PriceList, load_snapshot, price_list
from shared.errors import RetryableError
from shared.provenance.cost_repository import CostRepository
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import (
    REGION,
    get_run_response,
    list_run_tasks_response,
    run_event,
)

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` and `invoke` fixtures

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TEST_PRICES = price_list([PriceLine("omics.c.large", REGION, Decimal("0.36"), "Hrs"),
                          PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0001"), "GB-Hours")],
                         list_id="test-prices", date="2026-03-01", source="test figures")


def _static(run_id: str, status: str = "COMPLETED") -> dict[str, Any]:
    # one hour, static 1,000 GiB requested (1,200 provisioned)
    return get_run_response(run_id, status, storageType="STATIC", storageCapacity=1000)


def _emitted_metrics(out: str) -> dict[str, Any]:
    """The EMF documents Powertools printed: metric name -> value."""
    found: dict[str, Any] = {}
    for line in out.splitlines():
        if '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = document[metric["Name"]]
    return found


def test_with_the_repository_snapshot_every_cost_is_unknown_never_zero(invoke, omics, table_name, capsys) -> None:
    # Given the handler's default prices: the repository's snapshot, which has no lines
    _, stub = omics
    stub.add_response("get_run", _static("111"), {"id": "111"})
    stub.add_response("list_run_tasks", list_run_tasks_response("111", 4), {"id": "111"})
    # When a completed run is recorded (GetRun + one ListRunTasks page, nothing more: the Stubber)
    assert invoke([run_event("111", "COMPLETED", T0)]) == {"batchItemFailures": []}
    # Then its cost is stored as unknown, with the snapshot's id and date, and no figure is a 0
    snapshot = load_snapshot()
    run = CostRepository(ProvenanceRepository(table_name, boto3.client("dynamodb"))).run_cost("111")
    assert run["usd"] is None and run["known_usd"] == "0" and run["unknown"] == 3  # storage + 2 run tasks
    assert run["price_lists"] == [f"{snapshot.list_id}@{snapshot.date}"]
    ran = [t for t in run["tasks"] if not t["cache_hit"]]
    assert [t["basis"] for t in ran] == ["price_unknown", "price_unknown"] and all(t["usd"] is None for t in ran)
    # and no cost metric is emitted from unknown figures
    assert {"RunCostUSD", "CacheAvoidedCostUSD"}.isdisjoint(_emitted_metrics(capsys.readouterr().out))


def test_a_priced_run_emits_its_cost_metric(invoke, omics, table_name, monkeypatch, capsys) -> None:
    # Given a price provider with test figures (the lead wires a table-backed provider the same way)
    monkeypatch.setattr(price_source, "current_price_list", lambda region: TEST_PRICES)  # imported on use
    _, stub = omics
    tasks = list_run_tasks_response("222", 2)  # task-0 a cache hit, task-1 ran 0 s (billed 60 s)
    stub.add_response("get_run", _static("222"), {"id": "222"})
    stub.add_response("list_run_tasks", tasks, {"id": "222"})
    assert invoke([run_event("222", "COMPLETED", T0)]) == {"batchItemFailures": []}
    # Then storage 1,200 GiB x 1 h x 0.0001 = 0.12, task-1 0.36 x 60 / 3600 = 0.006: 0.126 in all
    metrics = _emitted_metrics(capsys.readouterr().out)
    assert metrics["RunCostUSD"] == [pytest.approx(0.126)]
    # and the hit's avoided cost is unknown here (no parent attempt, no same-name history): not emitted
    assert "CacheAvoidedCostUSD" not in metrics


def test_re_recording_a_run_rewrites_the_same_cost(table_name, omics) -> None:
    # Given a run priced once
    client, stub = omics
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    recorder = Recorder(repository, omics=lambda: client, now=lambda: T0 + timedelta(hours=2),
                        prices=lambda region: TEST_PRICES)
    for _ in range(2):
        stub.add_response("get_run", _static("333"), {"id": "333"})
        stub.add_response("list_run_tasks", list_run_tasks_response("333", 3), {"id": "333"})
    recorder._enrich_run("333", "uuid-333", "COMPLETED")
    first = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    # When it is priced again (a retry after a partial failure)
    recorder._enrich_run("333", "uuid-333", "COMPLETED")
    # Then the table holds exactly the same items
    again = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    key = lambda i: (i["pk"]["S"], i["sk"]["S"])  # noqa: E731
    assert sorted(again, key=key) == sorted(first, key=key)
    assert Decimal(CostRepository(repository).run_cost("333")["usd"]) == Decimal("0.126")


def test_price_provider_is_asked_for_the_runs_region(table_name, omics) -> None:
    client, stub = omics
    asked: list[str | None] = []

    def prices(region: str | None) -> PriceList:
        asked.append(region)
        return TEST_PRICES

    stub.add_response("get_run", _static("444"), {"id": "444"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "444"})
    Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client,
             prices=prices)._enrich_run("444", "uuid-444", "COMPLETED")
    assert asked == [REGION]


def _enriched(table_name: str, omics: Any, run_id: str, operation: str) -> tuple[ProvenanceRepository, list[Any]]:
    """A completed static run with 3 tasks, enriched; the parameters of every `operation` request it made."""
    client, stub = omics
    stub.add_response("get_run", _static(run_id), {"id": run_id})
    stub.add_response("list_run_tasks", list_run_tasks_response(run_id, 3), {"id": run_id})
    dynamodb = boto3.client("dynamodb")
    requests: list[dict[str, Any]] = []
    dynamodb.meta.events.register(f"provide-client-params.dynamodb.{operation}",
                                  lambda params, **_: requests.append(dict(params)))
    repository = ProvenanceRepository(table_name, dynamodb)
    Recorder(repository, omics=lambda: client, prices=lambda region: TEST_PRICES)._enrich_run(
        run_id, f"uuid-{run_id}", "COMPLETED")
    return repository, requests


def test_enriching_a_run_reads_no_index(table_name, omics) -> None:
    # Given a completed first attempt (it may have re-runs recorded before it, waiting to be repriced),
    # when it is enriched
    _, queries = _enriched(table_name, omics, "555", "Query")
    # Then it looks for those re-runs in its own partition, strongly consistent: not in the lineage index,
    # which is eventually consistent (a re-run written just before may not be in it yet) and whose Query
    # the sandbox's moto answers by reading the whole table (quadratic in a cohort)
    assert queries and not [q for q in queries if "IndexName" in q]
    own = [q for q in queries if q["ExpressionAttributeValues"][":pk"] == {"S": "RUN#555"}]
    assert own and all(q.get("ConsistentRead") for q in own)


def test_enriching_a_run_writes_its_summary_once_with_its_details_and_its_cost(table_name, omics) -> None:
    # Given a completed run whose tasks are priced, when it is enriched
    repository, updates = _enriched(table_name, omics, "666", "UpdateItem")
    # Then its summary is written once, its details and its cost in the same request: a reader never sees
    # one without the other, and an enrichment costs one request less
    summary_key = ProvenanceRepository.run_summary_key("666", "uuid-666")
    on_summary = [u for u in updates if u["Key"] == {"pk": {"S": summary_key["pk"]}, "sk": {"S": summary_key["sk"]}}]
    assert len(on_summary) == 1
    summary = repository.run_summary("666", "uuid-666")
    assert summary is not None and "details_recorded_at" in summary
    assert Decimal(summary["cost"]["usd"]) == Decimal("0.126")


def test_enriching_a_run_writes_its_tasks_and_its_cost_line_in_one_request(table_name, omics) -> None:
    # Given a completed run with 3 tasks, priced, when it is enriched
    repository, writes = _enriched(table_name, omics, "777", "BatchWriteItem")
    # Then its task items and its workflow-day cost line go in one BatchWriteItem (the line is written once every
    # task is priced, with the last page's tasks), not one request each
    assert len(writes) == 1
    written = [request["PutRequest"]["Item"] for request in writes[0]["RequestItems"][table_name]]
    assert sorted(item["entity"]["S"] for item in written) == ["COST_LINE", "TASK", "TASK", "TASK"]
    assert len(CostRepository(repository).run_tasks("777", "uuid-777")) == 3


@pytest.mark.parametrize(("unwritten_entity", "raised"), [("TASK", RetryableError), ("COST_LINE", ProvenanceError)])
def test_a_task_or_cost_line_left_unwritten_fails_the_enrichment_as_before(
        table_name, omics, monkeypatch, unwritten_entity, raised) -> None:
    # Given a table that leaves one kind of item of the combined request unprocessed, whatever the retries
    client, stub = omics
    stub.add_response("get_run", _static("888"), {"id": "888"})
    stub.add_response("list_run_tasks", list_run_tasks_response("888", 3), {"id": "888"})
    dynamodb = boto3.client("dynamodb")
    write = dynamodb.batch_write_item

    def leaving_unprocessed(**params: Any) -> dict[str, Any]:
        requests = params["RequestItems"][table_name]
        kept = [r for r in requests if r["PutRequest"]["Item"]["entity"]["S"] != unwritten_entity]
        if kept:
            write(RequestItems={table_name: kept})
        return {"UnprocessedItems": {table_name: [r for r in requests if r not in kept]}}

    monkeypatch.setattr(dynamodb, "batch_write_item", leaving_unprocessed)
    repository = ProvenanceRepository(table_name, dynamodb, sleep=lambda _: None)
    # When the run is enriched, then it fails as the separate writes failed (a task: retried; the line: the
    # record's error), and its details are not written: a retry enriches it again
    with pytest.raises(raised):
        Recorder(repository, omics=lambda: client, prices=lambda region: TEST_PRICES)._enrich_run(
            "888", "uuid-888", "COMPLETED")
    assert "details_recorded_at" not in (repository.run_summary("888", "uuid-888") or {})
