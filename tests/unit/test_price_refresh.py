"""The scheduled price refresh (issue 14): GetProducts pages -> a dated price list in provenance.

Oracle: botocore's Stubber over a real `pricing` client validates every request's parameters and every
response page against the Price List Service model (PriceList entries are JSON strings there); the
entries are shaped like the Price List API's product JSON (see test_cost_prices.product). Prices here
are TEST FIGURES, not AWS prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from pricing.logic import EMPTY, FAILED, REFRESHED, UNCHANGED, fetch_pages, refresh
from shared.cost.price_source import CURRENT_SK, LINES_CHUNK_BYTES, PriceStore, prices_pk
from shared.cost.prices import get_products_request, price_list_endpoint, price_list_endpoints
from shared.errors import RetryableError
from shared.provenance.repository import ProvenanceRepository
from tests.unit.test_cost_prices import product

REGION = "us-east-1"
DAY1 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


@pytest.fixture
def store(table_name: str) -> PriceStore:
    return PriceStore(ProvenanceRepository(table_name, boto3.client("dynamodb")))


def stubbed(pages: list[list[str]] | None = None, error: str | None = None) -> tuple[Any, Stubber]:
    client = botocore.session.get_session().create_client("pricing", region_name=REGION)
    stubber = Stubber(client)
    request = get_products_request(REGION)
    if error:
        stubber.add_client_error("get_products", service_error_code=error, http_status_code=400,
                                 expected_params=request)
    for index, entries in enumerate(pages or []):
        last = index == len(pages or []) - 1
        response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": entries}
        if not last:
            response["NextToken"] = f"token-{index + 1}"
        expected = {**request, **({"NextToken": f"token-{index}"} if index else {})}
        stubber.add_response("get_products", response, expected)
    stubber.activate()
    return client, stubber


def run(client: Any, store: PriceStore, now: datetime = DAY1) -> Any:
    return refresh(fetch_pages(client, REGION), region=REGION, endpoint=REGION, store=store, now=now)


def current_pointer(store: PriceStore) -> dict[str, Any]:
    """The region's CURRENT pointer, which the test expects to exist."""
    pointer = store.current_pointer(REGION)
    assert pointer is not None, "no current price list"
    return pointer


def test_paginated_products_become_the_regions_current_dated_list(store: PriceStore) -> None:
    """Given two GetProducts pages (an instance, static and dynamic run storage, and a product of another
    region the filter let through), When the refresh runs, Then the region's current list holds the three
    on-demand lines of the region, dated, with its source, and every request matched the model."""
    client, stubber = stubbed([
        [product("omics.m.xlarge", REGION, "0.2500000000", sku="A"),
         product("Run Storage", REGION, "0.0001000000", unit="GB-Mo", sku="B")],
        [product("Dynamic Run Storage", REGION, "0.0002000000", unit="GB-Hrs", sku="C"),
         product("omics.m.xlarge", "eu-west-1", "9.9", sku="D")],
    ])
    report = run(client, store)
    stubber.assert_no_pending_responses()

    assert report.outcome == REFRESHED and report.products == 4 and report.line_count == 3
    current = store.current(REGION)
    assert current is not None and current.list_id == report.list_id and current.date == "2026-12-02"
    assert current.list_id.startswith("2026-12-02-aws-us-east-1-")
    assert "pricing GetProducts" in current.source and "AmazonOmics" in current.source
    assert current.instance_hourly("omics.m.xlarge", REGION) == Decimal("0.2500000000")
    assert current.storage_gib_hourly("DYNAMIC", REGION) == Decimal("0.0002000000")
    assert current.instance_hourly("omics.m.xlarge", "eu-west-1") is None


def test_same_products_again_are_the_same_list(store: PriceStore) -> None:
    """Given a refresh, When the same products are read again the same day, Then the list id is the same
    (idempotent), the outcome says UNCHANGED, and the region still has one list."""
    entries = [product("omics.c.large", REGION, "0.1", sku="A")]
    first = run(stubbed([entries])[0], store)
    second = run(stubbed([entries])[0], store, now=DAY1.replace(hour=9))
    assert second.list_id == first.list_id and second.outcome == UNCHANGED
    assert [stored.list_id for stored in store.lists(REGION)] == [first.list_id]


def test_a_refresh_without_usable_lines_keeps_the_good_list_and_is_recorded(store: PriceStore) -> None:
    """Given a good current list, When a later refresh yields no usable line (only reserved terms, an entry
    of another region, malformed JSON), Then the current list is unchanged and the refresh is recorded EMPTY."""
    good = run(stubbed([[product("omics.c.large", REGION, "0.1", sku="A")]])[0], store)
    unusable = ['{"product": {"attributes": {"resourceType": "omics.c.large", "regionCode": "us-east-1"}}, '
                '"terms": {"Reserved": {}}}', "not json", product("omics.c.large", "eu-west-1", "0.2")]
    report = run(stubbed([unusable])[0], store, now=DAY2)
    assert report.outcome == EMPTY and not report.usable and report.products == 3
    assert current_pointer(store)["list_id"] == good.list_id
    assert [r["outcome"] for r in store.refreshes(REGION)] == [REFRESHED, EMPTY]


def test_a_refused_request_is_recorded_and_keeps_the_list(store: PriceStore) -> None:
    """Given a good list, When GetProducts is refused (AccessDenied: retrying cannot help), Then the refresh
    is recorded FAILED with the error code, nothing is raised, and the good list stays current."""
    good = run(stubbed([[product("omics.c.large", REGION, "0.1")]])[0], store)
    report = run(stubbed(error="AccessDeniedException")[0], store, now=DAY2)
    assert report.outcome == FAILED and "AccessDeniedException" in (report.error or "")
    assert current_pointer(store)["list_id"] == good.list_id
    assert store.refreshes(REGION)[-1]["outcome"] == FAILED


def test_throttling_is_recorded_then_retried_by_lambda(store: PriceStore) -> None:
    """Given GetProducts still throttled after the client's retries, When the refresh runs, Then it is
    recorded and raised as retryable (Lambda's async retries, then the schedule's DLQ)."""
    with pytest.raises(RetryableError):
        run(stubbed(error="ThrottlingException")[0], store)
    assert store.refreshes(REGION)[-1]["outcome"] == FAILED
    assert store.current_pointer(REGION) is None


def test_the_pointer_never_moves_back_and_old_lists_stay_readable(store: PriceStore) -> None:
    """Given lists of two days, When the older day's refresh is delivered again late, Then the newer list
    stays current and both lists can still be read by id (recorded costs name them)."""
    old = run(stubbed([[product("omics.c.large", REGION, "0.1")]])[0], store)
    new = run(stubbed([[product("omics.c.large", REGION, "0.2")]])[0], store, now=DAY2)
    run(stubbed([[product("omics.c.large", REGION, "0.3")]])[0], store, now=DAY1.replace(hour=4))
    assert current_pointer(store)["list_id"] == new.list_id
    assert old.list_id and store.get(REGION, old.list_id) is not None
    assert store.get(REGION, old.list_id).instance_hourly("omics.c.large", REGION) == Decimal("0.1")  # type: ignore[union-attr]


def test_a_large_list_is_stored_in_bounded_chunks(store: PriceStore, table_name: str) -> None:
    """Given more lines than fit one chunk, When stored, Then every line item is within the chunk bound and
    the list reads back whole."""
    entries = [product(f"omics.test.{i}xlarge", REGION, f"0.{i:04d}", sku=f"S{i}") for i in range(1200)]
    pages = [entries[i:i + 100] for i in range(0, len(entries), 100)]
    report = run(stubbed(pages)[0], store)
    chunks = [i for i in ProvenanceRepository(table_name).items_with_prefix(prices_pk(REGION), "LIST#")
              if i.get("entity") == "PRICE_LINES"]
    assert len(chunks) > 1 and all(len(c["lines"].encode()) <= LINES_CHUNK_BYTES for c in chunks)
    assert report.line_count == 1200 and len(store.current(REGION).lines) == 1200  # type: ignore[union-attr]
    assert current_pointer(store)["sk"] == CURRENT_SK


def test_endpoint_regions_come_from_botocores_endpoint_data() -> None:
    """The Price List API has few endpoints (botocore's `api.pricing` entries): a region with one uses it,
    another uses one on its continent, and an override must be one of them."""
    endpoints = price_list_endpoints("us-east-1")
    data = botocore.session.get_session().get_data("endpoints")
    aws = next(p for p in data["partitions"] if p["partition"] == "aws")
    assert endpoints == tuple(aws["services"]["api.pricing"]["endpoints"]) and len(endpoints) >= 1
    for region in endpoints:
        assert price_list_endpoint(region) == region
    for region in ("eu-west-1", "ap-southeast-1", "us-west-2"):
        chosen = price_list_endpoint(region)
        assert chosen in endpoints
        if any(e.split("-")[0] == region.split("-")[0] for e in endpoints):
            assert chosen.split("-")[0] == region.split("-")[0]
    with pytest.raises(ValueError, match="not a Price List API endpoint"):
        price_list_endpoint("us-east-1", "us-west-2")


def test_two_products_of_one_resource_give_one_price_whatever_the_page_order(store: PriceStore) -> None:
    # Given two on-demand products of one resourceType in the region, at different prices (found by reviewer 3)
    a = product("omics.c.large", REGION, "0.10", sku="A")
    b = product("omics.c.large", REGION, "0.30", sku="B")
    first = run(stubbed([[a, b]])[0], store)
    second = run(stubbed([[b, a]])[0], store, now=DAY1.replace(hour=9))  # the same answer, pages reordered
    # Then one list id, one price: the higher (a cost estimate errs high, not low), and the refresh says so
    assert first.list_id == second.list_id
    prices = store.get(REGION, str(first.list_id))
    assert prices is not None and prices.instance_hourly("omics.c.large", REGION) == Decimal("0.30")
    assert "omics.c.large" in prices.source and "highest" in prices.source
    assert store.refreshes(REGION)[-1]["ambiguous"] == ["omics.c.large"]


def test_a_list_missing_lines_of_the_current_one_keeps_them_and_says_so(store: PriceStore) -> None:
    full = run(stubbed([[product("omics.c.large", REGION, "0.1", sku="A"),
                         product("Run Storage", REGION, "0.0001", unit="GB-Mo", sku="B")]])[0], store)
    # When the next day's answer lacks the instance type (a partial answer)
    partial = run(stubbed([[product("Run Storage", REGION, "0.0002", unit="GB-Mo", sku="B")]])[0], store, now=DAY2)
    # Then the new list is current with the new storage price and the instance's price carried over, named
    current = store.current(REGION)
    assert current is not None and current.list_id == partial.list_id != full.list_id
    assert current.instance_hourly("omics.c.large", REGION) == Decimal("0.1")
    assert current.lines[("Run Storage", REGION)].usd_per_unit == Decimal("0.0002")
    assert f"carried from {full.list_id}" in current.source and "omics.c.large" in current.source
    assert store.refreshes(REGION)[-1]["carried"] == ["omics.c.large"]


def test_the_same_partial_answer_read_again_keeps_the_lists_own_record(store: PriceStore) -> None:
    full = run(stubbed([[product("omics.c.large", REGION, "0.1", sku="A"),
                         product("Run Storage", REGION, "0.0001", unit="GB-Mo", sku="B")]])[0], store)
    answer = [[product("Run Storage", REGION, "0.0002", unit="GB-Mo", sku="B")]]
    partial = run(stubbed(answer)[0], store, now=DAY2)
    again = run(stubbed(answer)[0], store, now=DAY2.replace(hour=9))
    # Then the second read is the same list, UNCHANGED, and the list still names where its carried line came from
    assert (again.list_id, again.outcome) == (partial.list_id, UNCHANGED)
    current = store.current(REGION)
    assert current is not None and f"carried from {full.list_id}" in current.source
