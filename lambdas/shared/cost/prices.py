"""HealthOmics price lists: parsed from the AWS Price List API (pricing GetProducts, service code
AmazonOmics) or from the dated snapshot in the repository (price_snapshot.json, the offline default).

A price that is not in the list is unknown (None), never 0: a cost computed from it is reported as
unknown. Products are keyed as the HealthOmics Run Analyzer (awslabs/amazon-omics-tools,
omics/cli/run_analyzer/__main__.py) looks them up: attribute `resourceType` (an omics instance type,
"Run Storage" for static run storage, "Dynamic Run Storage") and attribute `regionCode`; the price is
terms.OnDemand.<term>.priceDimensions.<dimension>.pricePerUnit.USD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SERVICE_CODE = "AmazonOmics"
STATIC_RUN_STORAGE = "Run Storage"
DYNAMIC_RUN_STORAGE = "Dynamic Run Storage"
SNAPSHOT_FILE = Path(__file__).with_name("price_snapshot.json")
# AWS prices monthly storage on 730 hours a month (the AWS Pricing Calculator's convention).
HOURS_PER_MONTH = Decimal(730)
_HOURLY = re.compile(r"(hr|hour)", re.IGNORECASE)
_MONTHLY = re.compile(r"(mo|month)", re.IGNORECASE)


@dataclass(frozen=True)
class PriceRef:
    """Which price list a cost figure used: recorded with every cost."""

    list_id: str
    date: str


@dataclass(frozen=True)
class PriceLine:
    resource: str  # resourceType: an omics instance type, STATIC_RUN_STORAGE or DYNAMIC_RUN_STORAGE
    region: str
    usd_per_unit: Decimal
    unit: str  # as published: "Hrs" for instances, GB-hours or GB-months for storage
    sku: str | None = None
    source: str | None = None

    @property
    def usd_per_hour(self) -> Decimal | None:
        """Per hour (instances) or per GiB-hour (storage); None for a unit we do not understand."""
        if _HOURLY.search(self.unit):
            return self.usd_per_unit
        if _MONTHLY.search(self.unit):
            return self.usd_per_unit / HOURS_PER_MONTH
        return None


@dataclass(frozen=True)
class PriceList:
    list_id: str
    date: str
    source: str
    lines: Mapping[tuple[str, str], PriceLine] = field(default_factory=dict)

    @property
    def ref(self) -> PriceRef:
        return PriceRef(self.list_id, self.date)

    def hourly(self, resource: str | None, region: str | None) -> Decimal | None:
        line = self.lines.get((resource or "", region or ""))
        return line.usd_per_hour if line else None

    def instance_hourly(self, instance_type: str | None, region: str | None) -> Decimal | None:
        return self.hourly(instance_type, region)

    def storage_gib_hourly(self, storage_type: str | None, region: str | None) -> Decimal | None:
        resource = DYNAMIC_RUN_STORAGE if (storage_type or "STATIC") == "DYNAMIC" else STATIC_RUN_STORAGE
        return self.hourly(resource, region)


def get_products_request(region: str, resource_type: str | None = None) -> dict[str, Any]:
    """GetProducts parameters for one region (optionally one resourceType), for the scheduled refresh."""
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    if resource_type:
        filters.append({"Type": "TERM_MATCH", "Field": "resourceType", "Value": resource_type})
    return {"ServiceCode": SERVICE_CODE, "Filters": filters, "FormatVersion": "aws_v1"}


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def parse_price_item(item: str | Mapping[str, Any]) -> PriceLine | None:
    """One PriceList entry (a JSON string in GetProducts' response) -> its on-demand line, or None when
    it has no usable USD on-demand price (reserved-only, tiered beyond the first tier, malformed)."""
    try:
        entry = json.loads(item) if isinstance(item, str) else item
    except json.JSONDecodeError:
        return None
    product = entry.get("product") or {}
    attributes = product.get("attributes") or {}
    resource, region = attributes.get("resourceType"), attributes.get("regionCode")
    if not resource or not region:
        return None
    for term in ((entry.get("terms") or {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            if str(dimension.get("beginRange", "0")) not in ("0", "0.0"):
                continue  # a later tier: the first tier is the on-demand rate we price at
            usd = _decimal((dimension.get("pricePerUnit") or {}).get("USD"))
            if usd is None:
                continue
            return PriceLine(resource=resource, region=region, usd_per_unit=usd, unit=dimension.get("unit", ""),
                             sku=product.get("sku"), source=f"pricing:GetProducts:{SERVICE_CODE}")
    return None


def price_lines(pages: Iterable[Mapping[str, Any]]) -> Iterator[PriceLine]:
    """Lines from GetProducts response pages (as the paginator yields them)."""
    for page in pages:
        for item in page.get("PriceList") or ():
            line = parse_price_item(item)
            if line is not None:
                yield line


def price_list(lines: Iterable[PriceLine], *, list_id: str, date: str, source: str) -> PriceList:
    return PriceList(list_id=list_id, date=date, source=source,
                     lines={(line.resource, line.region): line for line in lines})


def to_snapshot(prices: PriceList, region: str) -> dict[str, Any]:
    """The snapshot document a refresh would write (same shape as price_snapshot.json)."""
    return {
        "price_list_id": prices.list_id, "source": prices.source, "date": prices.date, "region": region,
        "lines": [{"resource": line.resource, "region": line.region, "usd_per_unit": str(line.usd_per_unit),
                   "unit": line.unit, "source": line.source} for line in prices.lines.values()],
    }


def from_snapshot(document: Mapping[str, Any]) -> PriceList:
    lines = []
    for row in document.get("lines", ()):
        usd = _decimal(row.get("usd_per_unit"))
        if usd is not None:
            lines.append(PriceLine(resource=row["resource"], region=row["region"], usd_per_unit=usd,
                                   unit=row.get("unit", ""), source=row.get("source")))
    return price_list(lines, list_id=document["price_list_id"], date=document["date"], source=document["source"])


def load_snapshot(path: Path = SNAPSHOT_FILE) -> PriceList:
    """The repository's dated snapshot: the offline default (sandbox, tests)."""
    return from_snapshot(json.loads(path.read_text()))


def price_list_endpoints(region: str) -> tuple[str, ...]:
    """The regions of the Price List API's endpoints in `region`'s partition, from botocore's endpoint
    data (the service has only a few, e.g. one per continent; any of them serves every region's prices)."""
    import botocore.session  # the Lambda asset bundles botocore; imported here so the stack can import us cheaply

    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition.get("regions", {}) or re.fullmatch(partition["regionRegex"], region):
            endpoints = (partition["services"].get("api.pricing") or {}).get("endpoints") or {}
            return tuple(endpoints)
    return ()


def all_price_list_endpoints() -> tuple[str, ...]:
    """Every Price List API endpoint region of every partition (botocore's endpoint data)."""
    import botocore.session

    partitions = botocore.session.get_session().get_data("endpoints")["partitions"]
    return tuple(region for partition in partitions
                 for region in ((partition["services"].get("api.pricing") or {}).get("endpoints") or {}))


def price_list_endpoint(region: str, override: str | None = None) -> str:
    """Which Price List API endpoint reads `region`'s prices: `override` if it is one, else the region itself
    if it has one, else one on the same continent (same first name part: eu-west-1 -> eu-central-1), else the
    partition's first. Raises ValueError when the partition has none (or the override is not one)."""
    endpoints = price_list_endpoints(region)
    if not endpoints:
        raise ValueError(f"no Price List API endpoint in the partition of {region}")
    if override:
        if override not in endpoints:
            raise ValueError(f"{override} is not a Price List API endpoint region ({', '.join(endpoints)})")
        return override
    if region in endpoints:
        return region
    continent = region.split("-", 1)[0]
    return next((e for e in endpoints if e.split("-", 1)[0] == continent), endpoints[0])
