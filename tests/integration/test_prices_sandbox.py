"""Prices in the sandbox (issue 14): moto has no Price List API, so deploying the sandbox installs a
SYNTHETIC price list (clearly labelled, derived from the guide's instance table); the scheduled refresh
is recorded as FAILED there and keeps it current; the operator sees both with `autopilot prices`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from autopilot_cli.app import main
from autopilot_cli.target import SandboxTarget
from sandbox.local import REGION, LocalAccount
from sandbox.prices import USD_PER_GIB_HOUR, USD_PER_VCPU_HOUR, synthetic_list_id
from shared.cost import price_source
from shared.cost.instances import by_name
from shared.cost.price_source import PriceStore, current_price_list

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    with LocalAccount() as account:
        yield account


def cli(account: LocalAccount, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), target=SandboxTarget(account), stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_the_sandbox_deploys_a_labelled_synthetic_list(account: LocalAccount) -> None:
    """Given a fresh sandbox, Then the region's current list is the synthetic one: its id and source say
    so, and an instance's hourly figure follows its vCPUs and memory from the guide's table."""
    current = PriceStore(account.repository).current(REGION)
    assert current is not None
    assert current.list_id == synthetic_list_id(account.clock.now().date().isoformat())
    assert "NOT AWS prices" in current.source and "illustrative" in current.source
    instance = by_name("omics.r.2xlarge")
    assert instance is not None
    assert current.instance_hourly("omics.r.2xlarge", REGION) == \
        instance.vcpus * USD_PER_VCPU_HOUR + instance.memory_gib * USD_PER_GIB_HOUR
    assert current.storage_gib_hourly("STATIC", REGION) is not None


def test_a_recorder_in_the_sandbox_prices_with_it(account: LocalAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the sandbox's function environment, When the price provider is asked for the region, Then it
    answers the synthetic list from the table (not the all-unknown snapshot)."""
    monkeypatch.setenv("PROVENANCE_TABLE", account.table_name)
    from shared.settings import get_settings

    get_settings.cache_clear()
    price_source.clear_price_cache()
    try:
        assert current_price_list(REGION).list_id.startswith("sandbox-synthetic-")
    finally:
        price_source.clear_price_cache()
        get_settings.cache_clear()


def test_a_refresh_without_the_price_list_api_keeps_the_synthetic_list(account: LocalAccount) -> None:
    """Given the sandbox (moto answers pricing GetProducts with an error), When an operator refreshes and
    the day's schedule fires, Then each refresh is recorded FAILED, the command says so (exit 1), and the
    synthetic list stays current."""
    code, out, err = cli(account, "--json", "prices", "refresh")
    assert code == 1 and json.loads(out)["outcome"] == "FAILED" and "previous list stays current" in err
    account.step(24 * 3600 + 60)  # the daily schedule fires on the virtual clock
    store = PriceStore(account.repository)
    assert [r["outcome"] for r in store.refreshes(REGION)] == ["FAILED", "FAILED"]
    assert store.current_pointer(REGION)["list_id"].startswith("sandbox-synthetic-")  # type: ignore[index]


def test_prices_show_names_the_list_its_source_and_lines(account: LocalAccount) -> None:
    code, out, _ = cli(account, "--json", "prices", "show")
    doc: dict[str, Any] = json.loads(out)
    assert code == 0 and doc["region"] == REGION
    assert doc["current"]["list_id"].startswith("sandbox-synthetic-") and doc["current"]["from"] == "provenance table"
    line = next(row for row in doc["current"]["lines"] if row["resource"] == "omics.c.large")
    assert Decimal(line["usd_per_unit"]) > 0 and line["unit"] == "Hrs"
    assert [s["current"] for s in doc["lists"]] == [True]
    code, human, _ = cli(account, "prices", "show")
    assert code == 0 and "sandbox-synthetic-" in human and "NOT AWS prices" in human
