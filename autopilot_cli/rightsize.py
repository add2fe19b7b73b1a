"""`autopilot rightsize batch <id>`: per task name across a batch (and its follow-ups), the current and the
recommended omics instance type, the estimated saving, and a workflow-config snippet.

One Query over what the right-sizing consumer stored per run (shared/provenance/rightsizing_repository.py);
the batch recommendation fits the batch-wide peak of each task name plus the headroom.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autopilot_cli.errors import EXIT_OK, NotFound, UsageError
from autopilot_cli.prices import prices_in_use, table_region
from shared.cost.prices import PriceList, from_snapshot
from shared.cost.rightsizing import DEFAULT_HEADROOM, BatchRightsizing, needed_units
from shared.provenance.rightsizing_repository import (
    DONE,
    ENTITY_NAME,
    ENTITY_RUN,
    RightsizingRepository,
    name_aggregate,
)

if TYPE_CHECKING:
    from autopilot_cli.app import Output
    from autopilot_cli.target import Target


def register(commands: Any) -> None:
    parser = commands.add_parser("rightsize", help="right-sizing advice from run manifests")
    # The CLI's own parser class (errors are usage errors, --json anywhere) for the nested commands too.
    rightsize = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    batch = rightsize.add_parser("batch", help="per task name across a batch: current vs recommended instance")
    batch.add_argument("batch_id")
    batch.add_argument("--headroom", type=float, default=None,
                       help="fraction over the peak (default: what the runs were sized with)")
    batch.add_argument("--prices", type=Path, default=None,
                       help="a price snapshot JSON (default: the region's current list in the provenance "
                            "table, as `autopilot prices show` reports it; else the repository's snapshot)")
    batch.set_defaults(handler=cmd_rightsize_batch)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def batch_document(items: list[dict[str, Any]], prices: PriceList, headroom: float | None,
                   prices_from: str | None = None) -> dict[str, Any]:
    runs = [i for i in items if i.get("entity") == ENTITY_RUN]
    names = [i for i in items if i.get("entity") == ENTITY_NAME]
    used = headroom if headroom is not None else max((float(i.get("headroom", 0)) for i in names),
                                                     default=DEFAULT_HEADROOM)
    batch = BatchRightsizing(prices, used)
    run_ids: dict[str, set[str]] = {}
    for item in names:
        batch.merge(str(item["task_name"]), name_aggregate(item))
        run_ids.setdefault(str(item["task_name"]), set()).add(f"{item['run_id']}#{item['run_uuid']}")
    rows = []
    for advice in batch.results():
        agg = batch.by_name[advice.name]
        request = None
        if advice.recommended_type and agg.cpus_peak is not None and agg.memory_peak_gib is not None:
            request = {"cpus": needed_units(agg.cpus_peak, used), "memory_gib": needed_units(agg.memory_peak_gib, used)}
        rows.append({"task_name": advice.name, "tasks": advice.tasks, "runs": len(run_ids.get(advice.name, ())),
                     "cpus_peak": agg.cpus_peak, "memory_peak_gib": agg.memory_peak_gib,
                     "current_types": list(advice.current_types), "recommended_type": advice.recommended_type,
                     "request": request, "current_usd": _money(advice.current_usd),
                     "recommended_usd": _money(advice.recommended_usd), "saving_usd": _money(advice.saving_usd)})
    return {
        "headroom": used,
        "price_list": {"id": prices.list_id, "date": prices.date, **({"from": prices_from} if prices_from else {})},
        "runs_sized": sum(1 for r in runs if r.get("status") == DONE),
        # sized at the right-sizer's last attempt from the part of the manifest that was visible: peaks may be low
        "runs_sized_from_partial_manifest": sum(1 for r in runs if r.get("status") == DONE
                                                and r.get("manifest_complete") is False),
        "runs_manifest_missing": sum(1 for r in runs if r.get("status") != DONE),
        "task_names": rows, "nextflow_config": nextflow_snippet(rows),
    }


def nextflow_snippet(rows: list[dict[str, Any]]) -> str:
    """Process directives that make HealthOmics place each task on its recommended type (the service picks
    the smallest type fitting the requested cpus and memory)."""
    lines = [f"    withName: {json.dumps(r['task_name'])} {{ cpus = {r['request']['cpus']}; "
             f"memory = '{r['request']['memory_gib']} GB' }}  // {r['recommended_type']}"
             for r in rows if r["request"]]
    return "process {\n" + "\n".join(lines) + "\n}\n" if lines else ""


def _prices(path: Path | None, target: Target) -> tuple[PriceList, str]:
    """--prices, else what `autopilot prices show` reports for the table's region: its current list, or the
    repository's snapshot (no line: every $ unknown), said either way."""
    if path is None:
        return prices_in_use(target, table_region(target))
    try:
        return from_snapshot(json.loads(path.read_text())), f"file {path} (--prices)"
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"--prices {path}: not a price snapshot ({error})") from error


def cmd_rightsize_batch(args: argparse.Namespace, target: Target, out: Output) -> int:
    if args.headroom is not None and not 0 <= args.headroom <= 1:
        raise UsageError("--headroom must be between 0 and 1")
    prices, origin = _prices(args.prices, target)
    items = list(RightsizingRepository(target.repository).batch_items(args.batch_id))
    if not items:
        raise NotFound(f"batch {args.batch_id} has no right-sizing records (no completed run sized yet)")
    doc = {"batch_id": args.batch_id, **batch_document(items, prices, args.headroom, origin)}

    def human() -> None:
        out.table(f"right-sizing of batch {args.batch_id} (headroom {doc['headroom']:.0%}, prices "
                  f"{prices.list_id} {prices.date}, from the {origin}; runs sized {doc['runs_sized']} "
                  f"(from a partial manifest {doc['runs_sized_from_partial_manifest']}), manifest missing "
                  f"{doc['runs_manifest_missing']})",
                  ("task name", "tasks", "runs", "peak vCPU / GiB", "current", "recommended", "current $",
                   "recommended $", "saving $"),
                  [(r["task_name"], r["tasks"], r["runs"], f"{r['cpus_peak']} / {r['memory_peak_gib']}",
                    ", ".join(r["current_types"]), r["recommended_type"], r["current_usd"], r["recommended_usd"],
                    r["saving_usd"]) for r in doc["task_names"]])
        if not prices.lines:
            out.console.print("no price line: every $ column is unknown (never 0); see `autopilot prices show`",
                              markup=False)
        if doc["nextflow_config"]:
            out.console.print("workflow config (Nextflow):", markup=False)
            out.console.print(doc["nextflow_config"], markup=False)

    out.emit(doc, human)
    return EXIT_OK
