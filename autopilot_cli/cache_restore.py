"""`autopilot cache restore <passId>`: undo an enforce prune pass (see lambdas/pruner/restore.py)."""

from __future__ import annotations

import argparse
from typing import Any

from autopilot_cli.errors import EXIT_FAILURE, EXIT_OK, CliError, NotFound, UsageError


def s3_client(target: Any) -> Any:
    """The target's S3 client: a deployed stack's or table's session, or the sandbox account's."""
    clients = getattr(target, "clients", None)
    if clients is not None:
        return clients.client("s3")
    account = getattr(target, "account", None)
    if account is not None:
        return account.s3
    raise UsageError("this target has no S3 access")


def cmd_cache_restore(args: argparse.Namespace, target: Any, out: Any) -> int:
    from pruner.restore import PassNotFound, RestoreError, restore_pass  # the pruner's modules load only here

    cache_id = args.cache_id or target.run_cache_id()
    if not cache_id:
        raise UsageError("no run cache given: pass --cache-id (a --table target does not know the stack's cache)")
    try:
        result = restore_pass(target.repository, s3_client(target), str(cache_id), args.pass_id)
    except PassNotFound as error:
        raise NotFound(str(error)) from error
    except RestoreError as error:  # the pass exists but cannot be restored (yet): a failure, not "not found"
        raise CliError(str(error)) from error
    doc = result.as_dict()

    def human() -> None:
        out.fields(
            f"restore of prune pass {args.pass_id} (run cache {cache_id})",
            [
                ("objects restored", doc["restored"]),
                ("bytes restored", doc["restored_bytes"]),
                ("entries restored whole", doc["entries_restored"]),
                ("entries partial (manifest left deleted)", doc["entries_partial"]),
                ("not restorable (unversioned bucket or version expired)", doc["not_restorable"]),
                ("failed", doc["failed"]),
            ],
        )
        # S3 keys, for the operator's terminal only (never logged), one whole line each to copy
        for key in doc["not_restorable_keys"]:
            out.console.print(f"not restorable: {key}", markup=False, soft_wrap=True)
        for key, code in doc["failed_keys"].items():
            out.console.print(f"failed ({code}): {key}", markup=False, soft_wrap=True)
        for entry in doc["partial_entries"]:
            out.console.print(f"partial entry, manifest left deleted: {entry}", markup=False, soft_wrap=True)

    out.emit(doc, human)
    # Exit 1 whenever something the pass deleted is not back (docs/OPERATIONS.md)
    return EXIT_OK if result.complete else EXIT_FAILURE


def register(cache: Any) -> None:
    """Adds `restore` to the `cache` subcommands."""
    restore = cache.add_parser("restore", help="undo an enforce prune pass while the deleted versions are retained")
    restore.add_argument("pass_id", metavar="passId", help="the pass id (autopilot cache report)")
    restore.add_argument("--cache-id", help="default: the stack's run cache")
    restore.set_defaults(handler=cmd_cache_restore)
