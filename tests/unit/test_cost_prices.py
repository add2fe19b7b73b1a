"""The HealthOmics price list model (issue 14).

Oracles: botocore's `pricing` service model (GetProducts' request and response shapes), and the
Run Analyzer's product lookup (resourceType + regionCode; terms.OnDemand...pricePerUnit.USD).
Prices in these tests are TEST FIGURES, not AWS prices."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from shared.cost.prices import (
    DYNAMIC_RUN_STORAGE,
    SNAPSHOT_FILE,
    STATIC_RUN_STORAGE,
    from_snapshot,
    get_products_request,
    load_snapshot,
    parse_price_item,
    price_lines,
    price_list,
    to_snapshot,
)

MODEL = botocore.session.get_session().get_service_model("pricing")


def product(resource: str, region: str, usd: str, unit: str = "Hrs", sku: str = "SKU1") -> str:
    """A GetProducts PriceList entry in the Price List API's JSON format (a string, per the model)."""
    return json.dumps({
        "product": {"productFamily": "Omics", "sku": sku,
                    "attributes": {"resourceType": resource, "regionCode": region, "servicecode": "AmazonOmics"}},
        "serviceCode": "AmazonOmics",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": unit, "beginRange": "0", "endRange": "Inf", "pricePerUnit": {"USD": usd}}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def test_refresh_request_is_valid_for_botocores_getproducts() -> None:
    # Given our request, When botocore validates it against the pricing model, Then it has no errors.
    shape = MODEL.operation_model("GetProducts").input_shape
    for request in (get_products_request("us-east-1"), get_products_request("us-east-1", "omics.m.xlarge")):
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
        assert request["ServiceCode"] == "AmazonOmics"


def test_response_price_list_entries_are_json_strings() -> None:
    # The model says PriceList is a list of strings: each entry is parsed as JSON.
    price_list_shape = MODEL.operation_model("GetProducts").output_shape.members["PriceList"]
    assert price_list_shape.member.type_name == "string"
    page: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [
        product("omics.m.xlarge", "us-east-1", "0.5000000000"),
        product(STATIC_RUN_STORAGE, "us-east-1", "0.0002000000", unit="GB-Hours", sku="SKU2"),
        "not json", json.dumps({"product": {"attributes": {}}}),
    ]}
    lines = list(price_lines([page]))
    prices = price_list(lines, list_id="pricing-api:20261101000000", date="2026-11-01", source="test")
    assert prices.instance_hourly("omics.m.xlarge", "us-east-1") == Decimal("0.5")
    assert prices.storage_gib_hourly("STATIC", "us-east-1") == Decimal("0.0002")
    # Missing lines are unknown (None), never 0.
    assert prices.instance_hourly("omics.r.large", "us-east-1") is None
    assert prices.instance_hourly("omics.m.xlarge", "eu-west-1") is None
    assert prices.storage_gib_hourly("DYNAMIC", "us-east-1") is None


def test_monthly_storage_price_is_converted_and_unknown_units_are_unknown() -> None:
    month = parse_price_item(product(DYNAMIC_RUN_STORAGE, "us-east-1", "0.730", unit="GB-Mo"))
    odd = parse_price_item(product("omics.c.large", "us-east-1", "1", unit="Requests"))
    assert month is not None and month.usd_per_hour == Decimal("0.001")
    assert odd is not None and odd.usd_per_hour is None


def test_later_price_tiers_are_not_taken_as_the_on_demand_rate() -> None:
    entry = json.loads(product("omics.c.large", "us-east-1", "9"))
    dims = entry["terms"]["OnDemand"]["SKU1.JRTCKXETXF"]["priceDimensions"]
    dims["SKU1.JRTCKXETXF.6YS6EN2CT7"]["beginRange"] = "100"
    assert parse_price_item(entry) is None


def test_snapshot_is_dated_sourced_and_round_trips() -> None:
    # Given the repository's snapshot, Then it names its source, date and region, each line its source.
    document = json.loads(SNAPSHOT_FILE.read_text())
    assert {"source", "date", "region", "price_list_id"} <= document.keys()
    assert all(line.get("source") for line in document["lines"])
    prices = load_snapshot()
    assert prices.ref.date == document["date"] and prices.ref.list_id == document["price_list_id"]
    # Instance prices were not found: they are unknown, not 0.
    assert prices.instance_hourly("omics.m.xlarge", document["region"]) is None
    again = from_snapshot(to_snapshot(prices, document["region"]))
    assert again.lines == prices.lines and again.ref == prices.ref
