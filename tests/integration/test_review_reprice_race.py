"""A re-run priced before the attempt it resumes (its parent) was fully recorded: its cache hits must end up
priced from the parent's producers, whatever the interleaving, and every read that decides it must be
strongly consistent (moto is always consistent, so the request itself is checked).

HealthOmics is answered by botocore's Stubber. Prices are TEST FIGURES, not AWS prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from botocore.stub import Stubber

from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, price_list
from shared.errors import RetryableError
from shared.lineage import TAG_PARENT_RUN, TAG_PARENT_RUN_UUID, TAG_ROOT_RUN, TAG_ROOT_RUN_UUID
from shared.provenance.cost_repository import CostRepository
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import REGION, get_run_response

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRICES = price_list([PriceLine("omics.c.large", REGION, Decimal("0.36"), "Hrs"),
                     PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0001"), "GB-Hours")],
                    list_id="test-prices", date="2026-03-01", source="test figures")


def _task(run_id: str, name: str, hit: bool = False) -> dict[str, Any]:
    return {"taskId": f"{run_id}-{name}", "status": "COMPLETED", "name": name, "cpus": 2, "memory": 4,
            "cacheHit": hit, "instanceType": "omics.c.large", "creationTime": T0, "startTime": T0,
            "stopTime": T0 + timedelta(hours=1)}


PARENT, CHILD = "1000001", "1000002"
PARENT_PAGES = ({"items": [_task(PARENT, "align")], "nextToken": "page-2"}, {"items": [_task(PARENT, "call")]})
CHILD_TASKS = {"items": [_task(CHILD, "align", hit=True), _task(CHILD, "call", hit=True),
                         _task(CHILD, "annotate")]}
CHILD_RUN = get_run_response(CHILD, "COMPLETED", runId=PARENT, storageType="STATIC", storageCapacity=1200,
                             tags={TAG_PARENT_RUN: PARENT, TAG_PARENT_RUN_UUID: f"uuid-{PARENT}",
                                   TAG_ROOT_RUN: PARENT, TAG_ROOT_RUN_UUID: f"uuid-{PARENT}",
                                   "autopilot:attempt": "2"})
PARENT_RUN = get_run_response(PARENT, "FAILED", storageType="STATIC", storageCapacity=1200)


def _recorder(table_name: str, client: Any, dynamodb: Any = None) -> Recorder:
    repository = ProvenanceRepository(table_name, dynamodb or boto3.client("dynamodb"))
    return Recorder(repository, omics=lambda: client, prices=lambda region: PRICES)


def _parent_fully(stub: Stubber) -> None:
    stub.add_response("get_run", PARENT_RUN, {"id": PARENT})
    stub.add_response("list_run_tasks", PARENT_PAGES[0], {"id": PARENT})
    stub.add_response("list_run_tasks", PARENT_PAGES[1], {"id": PARENT, "startingToken": "page-2"})


def _child(stub: Stubber) -> None:
    stub.add_response("get_run", CHILD_RUN, {"id": CHILD})
    stub.add_response("list_run_tasks", CHILD_TASKS, {"id": CHILD})


def _child_hits(table_name: str) -> dict[str, dict[str, Any]]:
    cost = CostRepository(ProvenanceRepository(table_name, boto3.client("dynamodb"))).run_cost(CHILD)
    return {t["name"]: t for t in cost["tasks"] if t["cache_hit"]}


def test_a_rerun_recorded_while_its_parent_is_half_recorded_is_repriced_from_every_producer(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    # Given the failed parent's enrichment throttled after its first ListRunTasks page was written
    client, stub = omics
    stub.add_response("get_run", PARENT_RUN, {"id": PARENT})
    stub.add_response("list_run_tasks", PARENT_PAGES[0], {"id": PARENT})
    stub.add_client_error("list_run_tasks", service_error_code="ThrottlingException", http_status_code=400,
                          expected_params={"id": PARENT, "startingToken": "page-2"})
    recorder = _recorder(table_name, client)
    try:
        recorder._enrich_run(PARENT, f"uuid-{PARENT}", "FAILED")
        raise AssertionError("the throttled enrichment should have raised")
    except RetryableError:
        pass
    # When the re-run completes and is recorded before the parent's retry, then the parent is retried
    _child(stub)
    recorder._enrich_run(CHILD, f"uuid-{CHILD}", "COMPLETED")
    _parent_fully(stub)
    recorder._enrich_run(PARENT, f"uuid-{PARENT}", "FAILED")
    # Then both hits are priced from the parent's tasks that produced them (0.36 x 1 h each), none estimated
    hits = _child_hits(table_name)
    assert {name: (hit["avoided_basis"], Decimal(str(hit["avoided_usd"]))) for name, hit in hits.items()} == {
        "align": ("producer", Decimal("0.36")), "call": ("producer", Decimal("0.36"))}


def test_the_rerun_and_its_parent_read_each_other_strongly_consistent(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    # Given a re-run recorded before its parent (events reorder), then its parent
    client, stub = omics
    dynamodb = boto3.client("dynamodb")
    queries: list[dict[str, Any]] = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.Query",
                                  lambda params, **_: queries.append(dict(params)))
    recorder = _recorder(table_name, client, dynamodb)
    _child(stub)
    recorder._enrich_run(CHILD, f"uuid-{CHILD}", "COMPLETED")
    _parent_fully(stub)
    recorder._enrich_run(PARENT, f"uuid-{PARENT}", "FAILED")
    # Then every Query of a run's partition was strongly consistent: the re-run's check of its parent's tasks
    # after leaving its marker, and the parent's read of the re-run's tasks to reprice them, would otherwise
    # miss writes made just before (a re-run's cost left pending, or repriced from a partial task list)
    run_queries = [q for q in queries if q["ExpressionAttributeValues"][":pk"]["S"].startswith("RUN#")]
    assert run_queries and not [q for q in run_queries if "IndexName" in q]
    assert [q for q in run_queries if not q.get("ConsistentRead")] == []
    # and the hits are priced from their producers
    assert {hit["avoided_basis"] for hit in _child_hits(table_name).values()} == {"producer"}
