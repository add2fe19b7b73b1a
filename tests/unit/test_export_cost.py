"""Cost in the RO-Crate export (issue 14): each attempt's run action carries the cost the recorder stored,
with the price list it used; an unknown figure is absent, never 0. Figures are TEST FIGURES."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
from rocrate.rocrate import ROCrate

from shared.exports.lineage import load_lineage
from shared.exports.ro_crate import CONTEXT, write_crate
from shared.provenance.cost_repository import CostRepository
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceRepository


def _run(repository: ProvenanceRepository, run_id: str, uuid: str, attempt: int, outcome: str) -> None:
    parent = {"parent_run_id": "1000", "parent_run_uuid": "u-0"} if attempt else {}
    repository.record_run_details(RunDetails(
        run_id=run_id, uuid=uuid, status=outcome, workflow_id="9876543", root_run_id="1000", root_run_uuid="u-0",
        attempt=attempt, sample="S-1", arn=f"arn:aws:omics:us-east-1:123456789012:run/{run_id}",
        start_time="2026-01-05T08:00:00.000000Z", stop_time="2026-01-05T09:00:00.000000Z", **parent),
        "2026-01-05T09:01:00.000000Z", outcome)


def test_run_actions_carry_known_cost_and_leave_unknown_out(table_name: str, tmp_path: Path) -> None:
    # Given a failed attempt priced with test figures, and its re-run whose storage price is unknown
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    _run(repository, "1000", "u-0", 0, "FAILED")
    _run(repository, "2000", "u-2", 1, "COMPLETED")
    costs = CostRepository(repository)
    costs.record_run_cost({"run_id": "1000", "run_uuid": "u-0"}, {
        "usd": "0.54", "known_usd": "0.54", "items": 3, "unknown": 0, "avoided_usd": "0", "avoided_items": 0,
        "avoided_known_usd": "0", "price_list_id": "test-prices", "price_list_date": "2026-01-01"}, {})
    costs.record_run_cost({"run_id": "2000", "run_uuid": "u-2"}, {
        "usd": None, "known_usd": "0.06", "items": 3, "unknown": 1, "avoided_usd": "0.36", "avoided_items": 1,
        "avoided_known_usd": "0.36", "avoided_estimated": 0, "price_list_id": "test-prices",
        "price_list_date": "2026-01-01"}, {})
    lineage = load_lineage(repository, "2000")
    assert lineage is not None
    # When the lineage is exported
    write_crate(lineage, tmp_path / "crate", created=datetime(2026, 1, 6, tzinfo=UTC))
    crate = ROCrate(tmp_path / "crate")
    runs = {e["identifier"]: e for e in crate.get_entities() if e.type == "CreateAction"
            and str(e.get("name", "")).startswith("HealthOmics run")}
    # Then the failed attempt says what it cost and with which price list
    failed, rerun = runs["1000"], runs["2000"]
    assert (failed["costUSD"], failed["priceList"], failed["priceListDate"]) == ("0.54", "test-prices", "2026-01-01")
    assert failed.get("cacheAvoidedCostUSD") is None  # it had no cache hit
    # and the re-run's total is absent (one part unknown), with what is known and how much is not,
    # and what its cache hit avoided
    assert rerun.get("costUSD") is None and rerun["costUnknownItems"] == 1 and rerun["costKnownUSD"] == "0.06"
    assert rerun["cacheAvoidedCostUSD"] == "0.36" and rerun["cacheAvoidedCostEstimated"] is False
    # and every cost term is defined in the crate's context
    terms = CONTEXT[1]
    assert {"costUSD", "costKnownUSD", "costUnknownItems", "cacheAvoidedCostUSD", "priceList"} <= set(terms)
