"""One price refresh: GetProducts pages for a region -> a dated price list in the provenance table.

Idempotent: a list's id is its date, region and a digest of its lines, so a repeated refresh on the same
day rewrites the same items. The region's CURRENT pointer only moves forward, and never to a list without
a usable line: a refresh that yields none (the API answered nothing we can price with, or failed) is
recorded and reported, and the last good list stays current.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.cost.price_source import REFRESH_RECORD_DAYS, PriceStore
from shared.cost.prices import SERVICE_CODE, PriceLine, get_products_request, parse_price_item, price_list
from shared.errors import RetryableError

REFRESHED, UNCHANGED, EMPTY, FAILED = "REFRESHED", "UNCHANGED", "EMPTY", "FAILED"
# Errors after which the same request may succeed later: the invocation fails, and Lambda's async retries
# (then the schedule's dead-letter queue) take over. Any other error (AccessDenied...) is recorded and alarmed.
RETRYABLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
                             "InternalErrorException", "InternalServerError", "ServiceUnavailableException"})


@dataclass(frozen=True)
class RefreshReport:
    region: str
    endpoint: str
    outcome: str
    date: str
    products: int = 0
    line_count: int = 0
    list_id: str | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.outcome in (REFRESHED, UNCHANGED)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def lines_digest(lines: Iterable[PriceLine]) -> str:
    rows = sorted((line.resource, line.region, str(line.usd_per_unit), line.unit, line.sku or "") for line in lines)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def list_id_for(region: str, date: str, digest: str) -> str:
    """Starts with the date (a region's lists sort by date); the digest tells two lists of one day apart."""
    return f"{date}-aws-{region}-{digest[:12]}"


def fetch_pages(client: Any, region: str) -> Iterable[Mapping[str, Any]]:
    """GetProducts pages of AmazonOmics products in `region` (regionCode filter), as the paginator yields them."""
    return client.get_paginator("get_products").paginate(**get_products_request(region))  # type: ignore[no-any-return]


def refresh(pages: Iterable[Mapping[str, Any]], *, region: str, endpoint: str, store: PriceStore,
            now: datetime) -> RefreshReport:
    at = now.isoformat()
    date = now.date().isoformat()
    expires_at = int((now + timedelta(days=REFRESH_RECORD_DAYS)).timestamp())
    products = 0
    lines: list[PriceLine] = []
    try:
        for page in pages:
            for item in page.get("PriceList") or ():
                products += 1
                line = parse_price_item(item)
                if line is not None and line.region == region:
                    lines.append(line)
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
        message = f"{code or type(error).__name__}: {error}"
        store.record_refresh(region, at, FAILED, expires_at, endpoint=endpoint, error=message[:1000])
        if code in RETRYABLE_CODES or not isinstance(error, ClientError):
            raise RetryableError(f"Price List API ({endpoint}): {message}") from error
        return RefreshReport(region, endpoint, FAILED, date, products, error=message[:1000])
    if not lines:
        store.record_refresh(region, at, EMPTY, expires_at, endpoint=endpoint, products=products)
        return RefreshReport(region, endpoint, EMPTY, date, products)

    lines, ambiguous = one_price_each(lines)
    current = store.current(region)
    carried = sorted(current.lines.keys() - {(line.resource, line.region) for line in lines}) if current else []
    if current and carried:  # a partial answer: what it lacks keeps the current list's price, and says so
        lines += [current.lines[key] for key in carried]
    digest = lines_digest(lines)
    list_id = list_id_for(region, date, digest)
    source = (f"AWS Price List API: pricing GetProducts, service code {SERVICE_CODE}, regionCode {region}, "
              f"endpoint {endpoint}, read {at}: {len(lines) - len(carried)} on-demand USD lines of {products} "
              f"products")
    if ambiguous:
        source += f"; several prices for {', '.join(ambiguous)}: the highest kept"
    if current and carried:
        source += f"; carried from {current.list_id} (absent from this answer): {', '.join(r for r, _ in carried)}"
    prices = price_list(lines, list_id=list_id, date=date, source=source)
    previous = current.list_id if current else None
    outcome = UNCHANGED if previous == list_id else REFRESHED
    if outcome == REFRESHED:  # the current list read again is kept as first written (its source names its origins)
        store.save(prices, region, at, digest)
        store.make_current(prices, region, at)
    store.record_refresh(region, at, outcome, expires_at, endpoint=endpoint, products=products,
                         line_count=len(prices.lines), list_id=list_id, previous_list_id=previous,
                         ambiguous=ambiguous or None, carried=[r for r, _ in carried] or None)
    return RefreshReport(region, endpoint, outcome, date, products, len(prices.lines), list_id)


def one_price_each(lines: list[PriceLine]) -> tuple[list[PriceLine], list[str]]:
    """One line per (resource, region), whatever order the pages came in: the same answer always makes the same
    list (its id is a digest of its lines). Where the answer priced a resource twice, the higher price is kept
    (a cost estimate that errs high, not low) and the resource is named."""
    kept: dict[tuple[str, str], PriceLine] = {}
    ambiguous: set[str] = set()
    for line in sorted(lines, key=lambda line: (line.usd_per_unit, line.sku or "")):
        key = (line.resource, line.region)
        if key in kept and kept[key].usd_per_unit != line.usd_per_unit:
            ambiguous.add(line.resource)
        kept[key] = line
    return list(kept.values()), sorted(ambiguous)
