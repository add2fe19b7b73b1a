"""The recorder's price provider (issue 14): the table's current list for a region, else the repository's
snapshot (all unknown: costs unknown, never 0), cached per process for a short time. Prices here are
TEST FIGURES, not AWS prices."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from shared.cost import price_source
from shared.cost.price_source import PriceSource, PriceStore, current_price_list
from shared.cost.prices import PriceLine, PriceList, load_snapshot, price_list
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.settings import ENV_TABLE, get_settings

REGION = "us-east-1"


def a_list(list_id: str, usd: str, date: str = "2026-12-02") -> PriceList:
    line = PriceLine("omics.c.large", REGION, Decimal(usd), "Hrs")
    return price_list([line], list_id=list_id, date=date, source="test figures")


class CountingStore:
    def __init__(self, store: PriceStore) -> None:
        self.store, self.reads = store, 0

    def current(self, region: str) -> PriceList | None:
        self.reads += 1
        return self.store.current(region)


def test_without_a_list_in_the_table_the_snapshot_is_used(table_name: str) -> None:
    """Given an empty table, When a region's prices are asked for, Then the answer is the snapshot, whose
    prices are unknown (None), never 0."""
    source = PriceSource(lambda: PriceStore(ProvenanceRepository(table_name)))
    prices = source(REGION)
    assert prices.list_id == load_snapshot().list_id
    assert prices.instance_hourly("omics.c.large", REGION) is None


def test_the_current_list_is_read_once_per_ttl(table_name: str) -> None:
    """Given a current list, When asked twice within the TTL, Then the table is read once; after the TTL
    the newer current list is seen."""
    store = PriceStore(ProvenanceRepository(table_name))
    first = a_list("2026-12-02-test-a", "0.1")
    store.save(first, REGION, "2026-12-02T03:00:00+00:00", "a")
    store.make_current(first, REGION, "2026-12-02T03:00:00+00:00")
    counting, now = CountingStore(store), [0.0]
    source = PriceSource(lambda: counting, ttl=300, clock=lambda: now[0])  # type: ignore[arg-type,return-value]
    assert source(REGION).list_id == "2026-12-02-test-a"
    second = a_list("2026-12-03-test-b", "0.2", date="2026-12-03")
    store.save(second, REGION, "2026-12-03T03:00:00+00:00", "b")
    store.make_current(second, REGION, "2026-12-03T03:00:00+00:00")
    now[0] = 299.0
    assert source(REGION).list_id == "2026-12-02-test-a" and counting.reads == 1
    now[0] = 301.0
    assert source(REGION).instance_hourly("omics.c.large", REGION) == Decimal("0.2") and counting.reads == 2


def test_an_unreadable_table_falls_back_to_the_snapshot() -> None:
    """Given a table read that fails, When prices are asked for, Then the snapshot answers (costs unknown)."""
    class Broken:
        def current(self, region: str) -> None:
            raise ProvenanceError("GetItem failed: AccessDeniedException", False)

    assert PriceSource(lambda: Broken()).__call__(REGION).list_id == load_snapshot().list_id  # type: ignore[arg-type,return-value]


def test_current_price_list_reads_the_functions_table(table_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the function's table (PROVENANCE_TABLE) with a current list, When current_price_list is called,
    Then it is that list."""
    monkeypatch.setenv(ENV_TABLE, table_name)
    get_settings.cache_clear()
    price_source.clear_price_cache()
    store = PriceStore(ProvenanceRepository(table_name, boto3.client("dynamodb")))
    prices = a_list("2026-12-02-test-c", "0.3")
    store.save(prices, REGION, "2026-12-02T03:00:00+00:00", "c")
    store.make_current(prices, REGION, "2026-12-02T03:00:00+00:00")
    try:
        assert current_price_list(REGION).list_id == "2026-12-02-test-c"
        assert current_price_list("eu-west-1").list_id == load_snapshot().list_id
    finally:
        price_source.clear_price_cache()
        get_settings.cache_clear()
