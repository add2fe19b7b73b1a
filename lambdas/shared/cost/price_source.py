"""Price lists in the provenance table: the scheduled refresh writes them, the recorder reads the current one.

Items (pk / sk), one partition per region whose prices they hold:
  PRICES#<region> / CURRENT                         pointer: list_id and date of the region's current list
  PRICES#<region> / LIST#<list id>                  a list: date, source, line count, chunk count, digest
  PRICES#<region> / LIST#<list id>#LINES#<chunk:04> its lines (JSON, at most LINES_CHUNK_BYTES each)
  PRICES#<region> / REFRESH#<time>                  what one refresh did (REFRESHED / UNCHANGED / EMPTY /
                                                    FAILED), kept REFRESH_RECORD_DAYS
Lists are never deleted: every recorded cost names the list (id and date) it was priced with, and that
list stays readable. A refreshed list's id starts with its date, so a region's AWS lists sort by date.

`current_price_list(region)` is the recorder's price provider: the table's current list for the region,
else the repository's dated snapshot (whose lines are all unknown: costs are then unknown, never 0). It
is cached per process for CACHE_SECONDS so a warm function does not read the table on every invocation.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from shared.cost.prices import PriceLine, PriceList, load_snapshot, price_list
from shared.observability import log_error
from shared.provenance import keys
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.settings import ENV_TABLE, get_settings

PRICES_PREFIX = "PRICES#"
CURRENT_SK = "CURRENT"
LIST_PREFIX = "LIST#"
REFRESH_PREFIX = "REFRESH#"
# Far below DynamoDB's 400 KB item limit: a region's AmazonOmics list is a few hundred short lines.
LINES_CHUNK_BYTES = 64 * 1024
REFRESH_RECORD_DAYS = 400
CACHE_SECONDS = 300.0


def prices_pk(region: str) -> str:
    return f"{PRICES_PREFIX}{region}"


def list_sk(list_id: str) -> str:
    return f"{LIST_PREFIX}{list_id}"


def lines_sk(list_id: str, chunk: int) -> str:
    return f"{LIST_PREFIX}{list_id}#LINES#{chunk:04d}"


def refresh_sk(at: str) -> str:
    return f"{REFRESH_PREFIX}{at}"


def _line_row(line: PriceLine) -> dict[str, Any]:
    return {"resource": line.resource, "region": line.region, "usd_per_unit": str(line.usd_per_unit),
            "unit": line.unit, "sku": line.sku, "source": line.source}


def _line_chunks(lines: Sequence[PriceLine], limit: int = LINES_CHUNK_BYTES) -> list[str]:
    """The lines as JSON arrays of at most `limit` bytes each (prices stay exact decimal strings)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for line in lines:
        text = json.dumps(_line_row(line), sort_keys=True, separators=(",", ":"))
        if current and size + len(text.encode()) + 1 > limit:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(text)
        size += len(text.encode()) + 1
    if current or not chunks:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def _lines_from(chunks: Sequence[str]) -> list[PriceLine]:
    lines = []
    for chunk in chunks:
        for row in json.loads(chunk):
            lines.append(PriceLine(resource=row["resource"], region=row["region"],
                                   usd_per_unit=Decimal(row["usd_per_unit"]), unit=row.get("unit", ""),
                                   sku=row.get("sku"), source=row.get("source")))
    return lines


@dataclass(frozen=True)
class StoredList:
    """A list's header item as stored (no lines)."""

    list_id: str
    date: str
    source: str
    line_count: int
    fetched_at: str
    current: bool = False


class PriceStore:
    """Reads and writes price lists in the provenance table (through the one data-access layer)."""

    def __init__(self, repository: ProvenanceRepository) -> None:
        self.repository = repository

    def save(self, prices: PriceList, region: str, fetched_at: str, digest: str) -> None:
        """Write a list (chunks first, header last: a header names only chunks that exist). Idempotent:
        the same list id always carries the same lines."""
        ordered = sorted(prices.lines.values(), key=lambda line: (line.resource, line.region))
        chunks = _line_chunks(ordered)
        pk = prices_pk(region)
        items = [{keys.PK: pk, keys.SK: lines_sk(prices.list_id, index), "entity": "PRICE_LINES", "lines": chunk}
                 for index, chunk in enumerate(chunks)]
        if self.repository.put_items(items):
            raise ProvenanceError(f"price list {prices.list_id} of {region}: line chunks not written", True)
        self.repository.put_record({
            keys.PK: pk, keys.SK: list_sk(prices.list_id), "entity": "PRICE_LIST", "list_id": prices.list_id,
            "date": prices.date, "source": prices.source, "region": region, "line_count": len(ordered),
            "chunks": len(chunks), "digest": digest, "fetched_at": fetched_at,
        })

    def make_current(self, prices: PriceList, region: str, fetched_at: str) -> bool:
        """Point the region's CURRENT at `prices`, only forward (a later date, or a later read of the same
        date): a delayed retry never puts an older list back. Returns whether the pointer moved."""
        return self.repository.advance_record(
            prices_pk(region), CURRENT_SK, order=f"{prices.date}#{fetched_at}#{prices.list_id}",
            attributes={"entity": "PRICE_CURRENT", "list_id": prices.list_id, "date": prices.date,
                        "region": region, "updated_at": fetched_at})

    def current_pointer(self, region: str) -> dict[str, Any] | None:
        return self.repository.get_item(prices_pk(region), CURRENT_SK)

    def get(self, region: str, list_id: str) -> PriceList | None:
        header = self.repository.get_item(prices_pk(region), list_sk(list_id))
        if header is None:
            return None
        wanted = [(prices_pk(region), lines_sk(list_id, i)) for i in range(int(header.get("chunks", 0)))]
        found = self.repository.get_items(wanted)
        if len(found) != len(wanted):
            raise ProvenanceError(f"price list {list_id} of {region}: line chunks missing", False)
        lines = _lines_from([str(found[key]["lines"]) for key in wanted])
        return price_list(lines, list_id=str(header["list_id"]), date=str(header["date"]),
                          source=str(header["source"]))

    def current(self, region: str) -> PriceList | None:
        pointer = self.current_pointer(region)
        return self.get(region, str(pointer["list_id"])) if pointer else None

    def lists(self, region: str) -> list[StoredList]:
        """Every stored list of the region, oldest first, the current one marked."""
        pointer = self.current_pointer(region) or {}
        headers = [item for item in self.repository.items_with_prefix(prices_pk(region), LIST_PREFIX)
                   if item.get("entity") == "PRICE_LIST"]
        return [StoredList(list_id=str(h["list_id"]), date=str(h["date"]), source=str(h["source"]),
                           line_count=int(h.get("line_count", 0)), fetched_at=str(h.get("fetched_at", "")),
                           current=h["list_id"] == pointer.get("list_id"))
                for h in headers]

    def record_refresh(self, region: str, at: str, outcome: str, expires_at: int, **details: Any) -> None:
        self.repository.put_record({keys.PK: prices_pk(region), keys.SK: refresh_sk(at), "entity": "PRICE_REFRESH",
                                    "outcome": outcome, "region": region, keys.TTL_ATTRIBUTE: expires_at,
                                    **{k: v for k, v in details.items() if v is not None}})

    def refreshes(self, region: str) -> list[dict[str, Any]]:
        return self.repository.items_with_prefix(prices_pk(region), REFRESH_PREFIX)


class PriceSource:
    """region -> PriceList: the table's current list, else the snapshot; cached for `ttl` seconds."""

    def __init__(self, store: Callable[[], PriceStore | None], ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 fallback: Callable[[], PriceList] = load_snapshot,
                 scope: Callable[[], str] = lambda: "") -> None:
        self._store = store
        self._scope = scope  # which table the store reads: a cached list never crosses tables
        self._ttl = ttl
        self._clock = clock
        self._fallback = fallback
        self._cached: dict[tuple[str, str], tuple[float, PriceList]] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> PriceList:
        now, key = self._clock(), (self._scope(), region)
        with self._lock:
            hit = self._cached.get(key)
            if hit is not None and now < hit[0]:
                return hit[1]
        prices = self._load(region)
        with self._lock:
            self._cached[key] = (now + self._ttl, prices)
        return prices

    def _load(self, region: str) -> PriceList:
        store = self._store()
        if store is not None:
            try:
                current = store.current(region)
            except ProvenanceError as error:
                # Costs then name the snapshot (all unknown): visible, never a wrong figure.
                log_error("warning", "price list unreadable; using the repository snapshot", error, {"region": region})
                current = None
            if current is not None:
                return current
        return self._fallback()

    def clear(self) -> None:
        with self._lock:
            self._cached.clear()


def _table_store() -> PriceStore | None:
    """The provenance table of this function (None outside one: scripts, unit tests)."""
    try:
        settings = get_settings()
    except ValidationError:
        return None
    return PriceStore(ProvenanceRepository(settings.table_name))


_process_source = PriceSource(_table_store, scope=lambda: os.environ.get(ENV_TABLE, ""))


def current_price_list(region: str) -> PriceList:
    """The price list costs in `region` are computed with: the provenance table's current list for the
    region (written by the scheduled refresh, or the sandbox's synthetic list), else the repository's
    snapshot. Cached per process for CACHE_SECONDS."""
    return _process_source(region)


def clear_price_cache() -> None:
    """Forget the process's cached lists (tests, and the sandbox after it installs a list)."""
    _process_source.clear()
