"""`autopilot cost run|sample|batch|workflow`: what runs cost and what the run cache saved, from provenance.

Every figure is what the recorder stored with the price list it used. A figure with any unknown part (a
price the list does not have, a run not priced yet) prints as "unknown", never as 0; `--json` keeps the sum
of what is known (`known_usd`) and how many parts are unknown beside it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from autopilot_cli.errors import EXIT_OK, NotFound, UsageError
from shared.provenance.cost_repository import CostRepository


def register(commands: Any) -> None:
    """Add `cost` to the CLI's subcommands."""
    cost = commands.add_parser("cost", help="cost of runs, samples, batches, workflows; what the cache saved")
    kinds = cost.add_subparsers(dest="action", required=True, parser_class=type(cost))  # the CLI's parser class
    run = kinds.add_parser("run", help="a run's cost, per task, and its attempt chain's total")
    run.add_argument("run_id")
    run.set_defaults(handler=cmd_cost_run)
    sample = kinds.add_parser("sample", help="a sample's cost across batches and attempts")
    sample.add_argument("sample_id")
    sample.set_defaults(handler=cmd_cost_sample)
    batch = kinds.add_parser("batch", help="a batch with its follow-up batches, per sample")
    batch.add_argument("batch_id")
    batch.set_defaults(handler=cmd_cost_batch)
    workflow = kinds.add_parser("workflow", help="a workflow's runs started on one day (UTC)")
    workflow.add_argument("workflow_id")
    workflow.add_argument("--day", help="YYYY-MM-DD (default: today, UTC)")
    workflow.set_defaults(handler=cmd_cost_workflow)


def usd(value: Any, total: dict[str, Any] | None = None) -> str:
    """A figure for people: dollars to 4 places, or "unknown" (with what is known, when something is)."""
    if value is not None:
        return f"${Decimal(str(value)):,.4f}"
    known = Decimal(str((total or {}).get("known_usd") or 0))
    return f"unknown (known part ${known:,.4f})" if known else "unknown"


def _price_lists(total: dict[str, Any]) -> str:
    return ", ".join(total.get("price_lists") or []) or "-"


def _summary(out: Any, title: str, total: dict[str, Any]) -> None:
    out.fields(title, [
        ("cost", usd(total.get("usd"), total)),
        ("items without a price", total.get("unknown")),
        ("runs not priced yet", total.get("runs_without_cost")),
        ("saved by the run cache", usd(total.get("avoided_usd"), {"known_usd": total.get("avoided_known_usd")})
         if total.get("avoided_items") else "no cache hits"),
        ("cache savings estimated", total.get("avoided_estimated") or None),
        ("price lists", _price_lists(total)),
    ])


def _runs_table(out: Any, title: str, runs: list[dict[str, Any]]) -> None:
    out.table(title, ("run", "sample", "attempt", "outcome", "cost", "saved by cache"),
              [(r.get("run_id"), r.get("sample"), r.get("attempt"), r.get("outcome"),
                usd((r.get("cost") or {}).get("usd"), r.get("cost")) if r.get("cost") else "not priced yet",
                usd((r.get("cost") or {}).get("avoided_usd")) if (r.get("cost") or {}).get("avoided_items") else "-")
               for r in runs])


def cmd_cost_run(args: argparse.Namespace, target: Any, out: Any) -> int:
    costs = CostRepository(target.repository)
    doc = costs.run_cost(args.run_id)
    if not doc.get("run"):
        raise NotFound(f"run {args.run_id} is not recorded in the provenance table")
    run = doc["run"]
    doc["attempt_chain"] = costs.chain_cost(run.get("root_run_id") or args.run_id, run.get("root_run_uuid"))

    def human() -> None:
        _summary(out, f"run {args.run_id} (attempt {run.get('attempt', 0)}, {run.get('outcome') or '-'})", doc)
        out.table("tasks", ("task", "name", "instance", "cache hit", "cost", "basis", "saved (basis)"),
                  [(t["task_id"], t["name"], t["instance_type"], "yes" if t["cache_hit"] else "no",
                    usd(t["usd"]), t["basis"],
                    f"{usd(t['avoided_usd'])} ({t['avoided_basis']})" if t["cache_hit"] else None)
                   for t in doc["tasks"]])
        chain = doc["attempt_chain"]
        _runs_table(out, f"attempt chain of root run {run.get('root_run_id') or args.run_id}", chain["per_run"])
        out.console.print(f"attempt chain: {usd(chain.get('usd'), chain)}")

    out.emit(doc, human)
    return EXIT_OK


def cmd_cost_sample(args: argparse.Namespace, target: Any, out: Any) -> int:
    doc = CostRepository(target.repository).sample_cost(args.sample_id)
    if not doc["per_run"]:
        raise NotFound(f"sample {args.sample_id} has no recorded run")

    def human() -> None:
        _summary(out, f"sample {args.sample_id}", doc)
        _runs_table(out, "every run of the sample", doc["per_run"])

    out.emit({"sample": args.sample_id, **doc}, human)
    return EXIT_OK


def cmd_cost_batch(args: argparse.Namespace, target: Any, out: Any) -> int:
    doc = CostRepository(target.repository).batch_cost(args.batch_id)
    if not doc["per_run"]:
        raise NotFound(f"batch {args.batch_id} has no recorded run")

    def human() -> None:
        _summary(out, f"batch {args.batch_id} with its follow-up batches", doc)
        out.table("per sample", ("sample", "runs", "cost", "saved by cache"),
                  [(s, t["runs"], usd(t.get("usd"), t), usd(t.get("avoided_usd")) if t.get("avoided_items") else "-")
                   for s, t in doc["per_sample"].items()])

    out.emit({"batch_id": args.batch_id, **doc}, human)
    return EXIT_OK


def cmd_cost_workflow(args: argparse.Namespace, target: Any, out: Any) -> int:
    day = args.day or datetime.now(UTC).date().isoformat()
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError as error:
        raise UsageError(f"--day {day!r} is not YYYY-MM-DD") from error
    doc = CostRepository(target.repository).workflow_day_cost(args.workflow_id, day)

    def human() -> None:
        _summary(out, f"workflow {args.workflow_id} on {day} ({doc['runs']} runs)", doc)
        if doc["per_run"]:
            _runs_table(out, "runs started that day", doc["per_run"])

    out.emit({"workflow_id": args.workflow_id, "day": day, **doc}, human)
    return EXIT_OK
