"""`autopilot prices show|refresh`: the price lists costs are computed with (lambdas/shared/cost/price_source.py)."""

from __future__ import annotations

import argparse
from typing import Any

from autopilot_cli.errors import EXIT_FAILURE, EXIT_OK
from shared.cost.price_source import PriceStore
from shared.cost.prices import PriceList, load_snapshot

FROM_TABLE = "provenance table"
FROM_SNAPSHOT = "repository snapshot (no list in the table)"


def table_region(target: Any) -> str:
    """The region the target's provenance table is in (the stack's: whose prices its costs use)."""
    return str(target.repository.client.meta.region_name)


def _region(args: argparse.Namespace, target: Any) -> str:
    """Whose prices: --price-region, else the region the target's provenance table is in."""
    return str(args.price_region or table_region(target))


def prices_in_use(target: Any, region: str) -> tuple[PriceList, str]:
    """The price list costs in `region` are computed with, and where it came from: the table's current list
    (as the recorder and the right-sizer read it), else the repository's snapshot, which holds no line."""
    current = PriceStore(target.repository).current(region)
    return (current, FROM_TABLE) if current is not None else (load_snapshot(), FROM_SNAPSHOT)


def _price_rows(prices: Any) -> list[tuple[str, str, str, str]]:
    return [(line.resource, line.region, str(line.usd_per_unit), line.unit)
            for line in sorted(prices.lines.values(), key=lambda line: (line.resource, line.region))]


def cmd_prices_show(args: argparse.Namespace, target: Any, out: Any) -> int:
    region = _region(args, target)
    store = PriceStore(target.repository)
    in_use, origin = prices_in_use(target, region)
    lists = store.lists(region)
    refreshes = store.refreshes(region)[-5:]
    doc: dict[str, Any] = {
        "region": region,
        "current": {"list_id": in_use.list_id, "date": in_use.date, "source": in_use.source,
                    "from": origin,
                    "lines": [dict(zip(("resource", "region", "usd_per_unit", "unit"), row, strict=True))
                              for row in _price_rows(in_use)]},
        "lists": [vars(stored) for stored in lists],
        "recent_refreshes": refreshes,
    }

    def human() -> None:
        out.fields(f"prices in use for {region}", [("list", in_use.list_id), ("date", in_use.date),
                                                    ("from", origin), ("source", in_use.source),
                                                    ("lines", len(in_use.lines))])
        if in_use.lines:
            out.table("lines (USD per unit, as published)", ("resource", "region", "USD", "unit"),
                      _price_rows(in_use))
        else:
            out.console.print("no price line: every cost is reported as unknown (never 0)")
        out.table("stored lists", ("list", "date", "lines", "read at", "current"),
                  [(s.list_id, s.date, s.line_count, s.fetched_at, "yes" if s.current else "") for s in lists])
        out.table("recent refreshes", ("at", "outcome", "list", "lines", "error"),
                  [(r["sk"].split("#", 1)[1], r.get("outcome"), r.get("list_id"), r.get("line_count"),
                    r.get("error")) for r in refreshes])

    out.emit(doc, human)
    return EXIT_OK


def cmd_prices_refresh(args: argparse.Namespace, target: Any, out: Any) -> int:
    with out.progress() as progress:
        progress.add_task("price refresh: reading the AWS Price List API", total=None)
        result = target.invoke("pricing", {})
    result = result if isinstance(result, dict) else {"response": result}
    out.emit(result, lambda: out.fields("price refresh", sorted(result.items())))
    if result.get("outcome") in ("REFRESHED", "UNCHANGED"):
        return EXIT_OK
    out.err.print("autopilot: the refresh found no usable price; the previous list stays current "
                  "(see `autopilot prices show`)")
    return EXIT_FAILURE


def register(commands: Any, parser_class: Any) -> None:
    """Add `prices show|refresh` to the CLI's subcommands."""
    prices = commands.add_parser("prices", help="the price lists costs are computed with").add_subparsers(
        dest="action", required=True, parser_class=parser_class)
    show = prices.add_parser("show", help="the current price list of a region, stored lists, recent refreshes")
    show.add_argument("--price-region", help="whose prices (default: the region of the provenance table)")
    show.set_defaults(handler=cmd_prices_show)
    refresh = prices.add_parser("refresh", help="refresh prices from the AWS Price List API now")
    refresh.set_defaults(handler=cmd_prices_refresh)
