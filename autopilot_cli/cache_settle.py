"""`autopilot cache settle <passId>`: end a prune pass that cannot finish (see lambdas/pruner/settle.py).

The stack's pruner settles it (action "settle"): whether a worker of the pass still holds its lease is judged by
the clock the workers lease by, never the operator's."""

from __future__ import annotations

import argparse
from typing import Any

from autopilot_cli.errors import EXIT_OK, CliError, NotFound, UsageError

SHOWN = ("pass_id", "mode", "status", "settled_by", "items_unfinished", "started_at", "finished_at",
         "entries_deleted", "objects_deleted", "bytes_reclaimed", "errors", "reason", "report_uri")


def cmd_cache_settle(args: argparse.Namespace, target: Any, out: Any) -> int:
    cache_id = args.cache_id or target.run_cache_id()
    if not cache_id:
        raise UsageError("no run cache given: pass --cache-id (a --table target does not know the stack's cache)")
    # mode dry-run: a pruner deployed before the settle action ignores `action` and starts a pass, deleting nothing
    payload = {"action": "settle", "cacheIds": [str(cache_id)], "passId": args.pass_id, "mode": "dry-run"}
    result = target.invoke("pruner", payload)
    answer = result.get("settle") if isinstance(result, dict) else None
    if not isinstance(answer, dict):
        raise CliError("the stack's pruner does not know `cache settle` (deployed before it): deploy this release")
    if answer.get("status") == "NOT_FOUND":
        raise NotFound(str(answer.get("reason")))
    if answer.get("status") != "SETTLED":  # not RUNNING, or a worker of it is running now
        raise CliError(str(answer.get("reason") or answer.get("status")))
    record = answer["pass"]
    out.emit(record, lambda: out.fields(f"prune pass {args.pass_id} settled (run cache {cache_id})",
                                        [(name, record.get(name)) for name in SHOWN]))
    return EXIT_OK


def register(cache: Any) -> None:
    """Adds `settle` to the `cache` subcommands."""
    settle = cache.add_parser(
        "settle", help="end a RUNNING prune pass that cannot finish (a work item dead-lettered): INCOMPLETE")
    settle.add_argument("pass_id", metavar="passId", help="the pass id (autopilot cache report)")
    settle.add_argument("--cache-id", help="default: the stack's run cache")
    settle.set_defaults(handler=cmd_cache_settle)
