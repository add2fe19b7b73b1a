"""`autopilot cache settle <passId>`: end a prune pass that cannot finish (see lambdas/pruner/settle.py)."""

from __future__ import annotations

import argparse
from typing import Any

from autopilot_cli.cache_restore import s3_client
from autopilot_cli.errors import EXIT_OK, CliError, NotFound, UsageError

SHOWN = ("pass_id", "mode", "status", "settled_by", "items_unfinished", "started_at", "finished_at",
         "entries_deleted", "objects_deleted", "bytes_reclaimed", "errors", "reason", "report_uri")


def cmd_cache_settle(args: argparse.Namespace, target: Any, out: Any) -> int:
    from pruner.restore import PassNotFound  # the pruner's modules load only here
    from pruner.settle import SettleError, settle_pass

    cache_id = args.cache_id or target.run_cache_id()
    if not cache_id:
        raise UsageError("no run cache given: pass --cache-id (a --table target does not know the stack's cache)")
    try:
        record = settle_pass(target.repository, s3_client(target), str(cache_id), args.pass_id, now=target.now(),
                             settled_by="operator")
    except PassNotFound as error:
        raise NotFound(str(error)) from error
    except SettleError as error:  # not RUNNING, or a worker of it is running now
        raise CliError(str(error)) from error
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
