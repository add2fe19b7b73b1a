"""`autopilot cache restore <passId>`: undo an enforce prune pass (see lambdas/pruner/restore.py)."""

from __future__ import annotations

import argparse
from typing import Any

from autopilot_cli.errors import EXIT_FAILURE, EXIT_OK, NotFound, UsageError


def _s3(target: Any) -> Any:
    """The target's S3 client: a deployed stack's or table's session, or the sandbox account's."""
    clients = getattr(target, "clients", None)
    if clients is not None:
        return clients.client("s3")
    account = getattr(target, "account", None)
    if account is not None:
        return account.s3
    raise UsageError("this target has no S3 access")


def cmd_cache_restore(args: argparse.Namespace, target: Any, out: Any) -> int:
    from pruner.restore import RestoreError, restore_pass  # the pruner's modules load only for this command

    cache_id = args.cache_id or target.run_cache_id()
    if not cache_id:
        raise UsageError("no run cache given: pass --cache-id (a --table target does not know the stack's cache)")
    try:
        result = restore_pass(target.repository, _s3(target), str(cache_id), args.pass_id)
    except RestoreError as error:
        raise NotFound(str(error)) from error
    doc = result.as_dict()

    def human() -> None:
        out.fields(
            f"restore of prune pass {args.pass_id} (run cache {cache_id})",
            [
                ("objects restored", doc["restored"]),
                ("not restorable (unversioned bucket or version expired)", doc["not_restorable"]),
                ("failed", doc["failed"]),
            ],
        )

    out.emit(doc, human)
    return EXIT_OK if not result.failed else EXIT_FAILURE


def register(cache: Any) -> None:
    """Adds `restore` to the `cache` subcommands."""
    restore = cache.add_parser("restore", help="undo an enforce prune pass while the deleted versions are retained")
    restore.add_argument("pass_id", metavar="passId", help="the pass id (autopilot cache report)")
    restore.add_argument("--cache-id", help="default: the stack's run cache")
    restore.set_defaults(handler=cmd_cache_restore)
