"""Commands of the operator CLI. Human tables by default, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import boto3
from botocore.exceptions import NoCredentialsError, NoRegionError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from autopilot_cli import cache_restore, cache_settle, cost, doctor, prices, rightsize
from autopilot_cli.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, NotFound, UsageError
from autopilot_cli.target import (
    SANDBOX_FILE_ENV,
    SandboxTarget,
    StackTarget,
    TableTarget,
    Target,
    default_sandbox_file,
    sandbox_endpoints,
    sandbox_session,
)
from shared.exports.lineage import RunLineage, files_named, load_lineage, names_only_files
from shared.exports.mermaid import lineage_mermaid
from shared.provenance import keys
from shared.provenance.repository import ProvenanceError
from shared.provenance.views import batch_view, sample_view, unresolved_failures

ENV_STACK = "AUTOPILOT_STACK"
ENV_TABLE = "AUTOPILOT_TABLE"
SUBMISSIONS_PREFIX = "submissions/"
MAX_INVOKE_SHEET_BYTES = 5_000_000  # Lambda's synchronous payload limit is 6 MB
# Options whose value is a time (parse_time): their relative values, `-24h`, start with a dash.
TIME_OPTIONS = ("--from", "--to", "--at")
RELATIVE_TIME = re.compile(r"^-\d+[mhd]$")


def attach_relative_times(argv: Sequence[str]) -> list[str]:
    """`--from -24h` as `--from=-24h`: argparse reads a value that starts with a dash (and is not a
    negative number) as an option, so `replay --from -24h` would be a usage error."""
    result: list[str] = []
    for arg in argv:
        if result and result[-1] in TIME_OPTIONS and RELATIVE_TIME.match(arg):
            result[-1] = f"{result[-1]}={arg}"
        else:
            result.append(arg)
    return result


class _Parser(argparse.ArgumentParser):
    """Errors are usage errors (exit 2). Every subcommand's parser also takes `--json`, so that it works
    anywhere on the line; its default is SUPPRESS so that a subcommand does not reset the top-level flag."""

    def __init__(self, *args: Any, top_level: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not top_level:
            self.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                              help="machine-readable output")

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        return super().parse_known_args(attach_relative_times(sys.argv[1:] if args is None else args), namespace)


class Output:
    def __init__(self, as_json: bool, stdout: Any, stderr: Any) -> None:
        self.as_json = as_json
        self.console = Console(file=stdout, width=160, highlight=False, soft_wrap=False)
        self.err = Console(file=stderr, width=120, highlight=False)
        self.stdout = stdout

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        else:
            human()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("-" if v is None or v == "" else str(v) for v in row))
        self.console.print(table)

    def error_table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table on stderr (what went wrong, readable whether stdout is JSON or not)."""
        table = Table(show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("-" if v is None or v == "" else str(v) for v in row))
        self.err.print(table)

    def fields(self, title: str, pairs: Sequence[tuple[str, Any]]) -> None:
        self.table(title, ("field", "value"), [(k, v) for k, v in pairs if v not in (None, "", {}, [])])

    def progress(self) -> Progress:
        return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=self.err, transient=True)


# ====================================================================== run / batch / sample / failures
def _lineage(target: Target, run_id: str, run_uuid: str | None = None) -> RunLineage:
    lineage = load_lineage(target.repository, run_id, run_uuid)
    if lineage is None:
        raise NotFound(f"run {run_id} is not recorded in the provenance table")
    return lineage


def run_document(lineage: RunLineage) -> dict[str, Any]:
    subject = lineage.subject
    s = subject.summary
    return {
        "run_id": subject.run_id, "run_uuid": s.get("run_uuid"), "status": s.get("status"), "outcome": s.get("outcome"),
        "failure_reason": s.get("failure_reason"), "status_message": s.get("status_message"),
        "name": s.get("name") or s.get("run_name"), "workflow_id": s.get("workflow_id"),
        "sample": s.get("sample"), "batch_id": s.get("batch_id"), "root_batch_id": s.get("root_batch_id"),
        "submission_id": s.get("submission_id"), "cache_id": s.get("cache_id"),
        "cache_behavior": s.get("cache_behavior"), "run_output_uri": s.get("run_output_uri"),
        "created": s.get("creation_time"), "started": s.get("start_time"), "stopped": s.get("stop_time"),
        "inputs": subject.inputs, "resource_digests": subject.digests, "workflow_digest": s.get("digest"),
        "root_run_id": lineage.root_run_id, "attempt": subject.attempt, "superseded_by": s.get("superseded_by"),
        # what its tags claim and no record of this stack proves (shared/supersede.py): kept out of every view
        "unproven_claim": {"root_run_id": s.get("root_run_id"), "parent_run_id": s.get("parent_run_id"),
                           "attempt": s.get("attempt"), "root_batch_id": s.get("root_batch_id"),
                           "sample": s.get("sample")} if s.get("unproven_claim") else None,
        "history": subject.history,
        "attempts": [{"attempt": a.attempt, "run_id": a.run_id, "status": a.status,
                      "failure_reason": a.summary.get("failure_reason"), "rerun_reason": a.summary.get("rerun_reason"),
                      "remediation": a.summary.get("remediation"), "parent_run_id": a.summary.get("parent_run_id"),
                      "cache_hits": sum(1 for t in a.tasks if t.cache_hit), "tasks": len(a.tasks)}
                     for a in lineage.attempts],
        "tasks": [{"task_id": t.task_id, "name": t.name, "status": t.status, "cache_hit": bool(t.cache_hit),
                   "cache_s3_uri": t.cache_s3_uri, "started": t.start_time, "stopped": t.stop_time}
                  for t in subject.tasks],
        "cache_hits": sum(1 for t in subject.tasks if t.cache_hit),
        "healed": [{"status": h.get("status"), "from": h.get("from_status"), "source": h.get("source"),
                    "healed_at": h.get("healed_at")} for h in subject.heals],
    }


def _claim_text(claim: dict[str, Any] | None) -> str | None:
    if not claim:
        return None
    places = [f"attempt {claim['attempt']} of root run {claim['root_run_id']}",
              *([f"re-run of {claim['parent_run_id']}"] if claim["parent_run_id"] else []),
              *([f"root batch {claim['root_batch_id']}"] if claim["root_batch_id"] else [])]
    return f"its tags say {', '.join(places)}; no record of this stack proves it: shown in no batch, sample or chain"


def cmd_run_show(args: argparse.Namespace, target: Target, out: Output) -> int:
    # HealthOmics reuses the ids of deleted runs: show every run that carried this id, the live one last.
    uuids = [str(s["run_uuid"]) for s in target.repository.run_summaries(args.run_id) if s.get("run_uuid")]
    docs = [run_document(_lineage(target, args.run_id, u)) for u in uuids] or [run_document(_lineage(target,
                                                                                                      args.run_id))]
    for earlier in docs[:-1]:
        _show_run(earlier, out, emit=False)
    doc = docs[-1]
    if len(docs) > 1:
        doc["runs_with_this_id"] = docs[:-1]
    return _show_run(doc, out)


def _show_run(doc: dict[str, Any], out: Output, emit: bool = True) -> int:
    def human() -> None:
        out.fields(f"run {doc['run_id']} ({doc['run_uuid']})", [
            ("status", doc["status"]), ("failure reason", doc["failure_reason"]),
            ("status message", doc["status_message"]), ("name", doc["name"]), ("sample", doc["sample"]),
            ("workflow", doc["workflow_id"]), ("batch", doc["batch_id"]), ("submission", doc["submission_id"]),
            ("attempt", f"{doc['attempt']} of root run {doc['root_run_id']}" if not doc["unproven_claim"] else None),
            ("unproven claim", _claim_text(doc["unproven_claim"])),
            ("superseded by", doc["superseded_by"]),
            ("run cache", f"{doc['cache_id']} ({doc['cache_behavior']})" if doc["cache_id"] else None),
            ("cache hits", f"{doc['cache_hits']} of {len(doc['tasks'])} tasks"), ("outputs", doc["run_output_uri"]),
            ("created / started / stopped", f"{doc['created']} / {doc['started']} / {doc['stopped']}")])
        out.table("attempt lineage", ("attempt", "run", "status", "failure reason", "re-run reason", "cache hits"),
                  [(a["attempt"], a["run_id"] + (" *" if a["run_id"] == doc["run_id"] else ""), a["status"],
                    a["failure_reason"], a["rerun_reason"], f"{a['cache_hits']}/{a['tasks']}")
                   for a in doc["attempts"]])
        if doc["inputs"]:
            out.table("inputs", ("parameter", "value", "digest"), _input_rows(doc["inputs"], doc["resource_digests"]))
        if doc["tasks"]:
            out.table("tasks", ("task", "name", "status", "cache hit", "cache entry"),
                      [(t["task_id"], t["name"], t["status"], "yes" if t["cache_hit"] else "no", t["cache_s3_uri"])
                       for t in doc["tasks"]])
        out.table("status history", ("time", "status"), [(h["time"], h["status"]) for h in doc["history"]])
        if doc["healed"]:
            out.table("healed by the reconciler", ("status", "was", "source", "when"),
                      [(h["status"], h["from"], h["source"], h["healed_at"]) for h in doc["healed"]])

    if emit:
        out.emit(doc, human)
    elif not out.as_json:
        human()
    return EXIT_OK


def sheet_label(sheet: dict[str, Any] | None) -> str | None:
    """Where a submission's sheet came from, read from the `sheet` map the launcher records
    (SheetIdentity.as_dict) and named as the launcher names it (SheetIdentity.label)."""
    if not sheet:
        return None
    if sheet.get("source") == "s3":
        return f"s3://{sheet.get('bucket')}/{sheet.get('key')}"
    return f"direct:{sheet.get('name') or str(sheet.get('content_sha256') or '')[:12]}"


def _input_rows(inputs: dict[str, Any], digests: dict[str, str]) -> list[tuple[str, Any, str | None]]:
    """A row per file a parameter names (each of a list's too, as the exports record them) with its digest;
    a parameter's literal value when files do not say all of it."""
    rows: list[tuple[str, Any, str | None]] = []
    for name, value in sorted(inputs.items()):
        rows += [(name, uri, digests.get(uri)) for uri in files_named(value)]
        if not names_only_files(value):
            rows.append((name, value, None))
    return rows


def cmd_batch_show(args: argparse.Namespace, target: Target, out: Output) -> int:
    view = batch_view(target.repository, args.batch_id)
    if not view.batches and not view.samples and view.submission is None:
        raise NotFound(f"batch {args.batch_id} is not recorded in the provenance table")
    finals = {s: o.final for s, o in view.samples.items()}
    outcome_counts: dict[str, int] = {}
    for attempt in finals.values():
        key = attempt.status or attempt.submission_status or "UNKNOWN"
        outcome_counts[key] = outcome_counts.get(key, 0) + 1
    doc = {
        "batch_id": args.batch_id,
        "batches": [{"batch_id": b.get("batch_id"), "attempt": b.get("attempt", 0), "status": b.get("status"),
                     "name": b.get("batch_name"), "counts": b.get("counts"), "failure_reason": b.get("failure_reason"),
                     # the sample -> run map: how many members were recorded, and why not all when they cannot be
                     "members_recorded": b.get("members_recorded"), "members_error": b.get("members_error"),
                     # HealthOmics no longer knows it (DeleteBatch): its status may have moved on unrecorded
                     "gone": b.get("gone")}
                    for b in view.batches],
        "submission": view.submission,
        "samples": {s: {"final": o.final.model_dump(), "attempts": [a.model_dump() for a in o.attempts]}
                    for s, o in view.samples.items()},
        "final_outcomes": outcome_counts,
    }

    def human() -> None:
        out.table(f"batch {args.batch_id} and its follow-ups",
                  ("attempt", "batch", "name", "status", "failure", "members recorded"),
                  [(b["attempt"], b["batch_id"], b["name"], b["status"], b["failure_reason"],
                    b["members_recorded"]) for b in doc["batches"]])
        for b in doc["batches"]:
            if b["members_error"]:
                out.console.print(f"batch {b['batch_id']}: members not all recorded: {b['members_error']}",
                                  markup=False)
            if b["gone"]:
                out.console.print(f"batch {b['batch_id']}: {b['gone']}", markup=False)
        if view.submission:
            out.fields("submission", [("id", view.submission.get("submission_id")),
                                      ("status", view.submission.get("status")),
                                      ("sheet", sheet_label(view.submission.get("sheet")))])
        out.table("samples: final outcome after re-runs",
                  ("sample", "attempts", "final run", "final status", "failure reason", "submission"),
                  [(s, len(o.attempts), o.final.run_id, o.final.status, o.final.failure_reason,
                    o.final.submission_failure_reason or o.final.submission_status)
                   for s, o in view.samples.items()])
        out.console.print("final outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome_counts.items())))

    out.emit(doc, human)
    return EXIT_OK


def cmd_sample_show(args: argparse.Namespace, target: Target, out: Output) -> int:
    attempts = sample_view(target.repository, args.sample_id)
    if not attempts:
        raise NotFound(f"sample {args.sample_id} has no recorded run")
    doc = {"sample": args.sample_id, "attempts": [a.model_dump() for a in attempts],
           "final": attempts[-1].model_dump()}

    def human() -> None:
        out.table(f"sample {args.sample_id}: every run across batches and attempts",
                  ("attempt", "run", "batch", "status", "failure reason", "submission"),
                  [(a.attempt, a.run_id, a.batch_id, a.status, a.failure_reason,
                    a.submission_failure_reason or a.submission_status) for a in attempts])

    out.emit(doc, human)
    return EXIT_OK


def cmd_submission_show(args: argparse.Namespace, target: Target, out: Output) -> int:
    """A sheet's submission: what the launcher decided and, for a rejected sheet, every recorded error and
    where the full errors report is (the launcher's logs and alarm e-mail name only the submission id)."""
    record = target.repository.get_submission(args.submission_id)
    if record is None:
        raise NotFound(f"submission {args.submission_id} is not recorded")
    sheet = record.get("sheet") or {}
    doc = {field: record.get(field) for field in (
        "submission_id", "status", "status_time", "batch_id", "request_id", "error_count", "errors",
        "errors_truncated", "errors_report")}
    doc["sheet"] = sheet
    doc["attempt"] = int(record.get("attempt", 1))  # > 1: launched again after its batch failed as a whole
    recorded_failure = record.get("batch_failure") or {}  # the service's words, which the alarm e-mail leaves out
    # A failure is the submission's only while its batch is the one that failed: after a new launch attempt (or a
    # resubmission as a new batch) it is history, which must not read as the running batch's.
    current = not recorded_failure or recorded_failure.get("batch_id") in (None, record.get("batch_id"))
    failure = recorded_failure if current else {}
    doc["batch_failure"] = failure or None
    doc["earlier_batch_failure"] = None if current else recorded_failure

    def human() -> None:
        out.fields(f"submission {args.submission_id}", [
            ("status", record.get("status")), ("at", record.get("status_time")),
            ("attempt", doc["attempt"]),
            ("sheet", sheet_label(sheet)), ("batch", record.get("batch_id")),
            ("errors", record.get("error_count")), ("errors report", record.get("errors_report")),
            *([("batch failure", f"{failure.get('kind')}: {failure.get('message') or failure.get('reason')}")]
              if failure else []),
            *([("earlier batch failed", recorded_failure.get("batch_id"))] if not current else [])])
        errors = record.get("errors") or []
        if errors:
            more = " (the first ones; every error is in the errors report)" if record.get("errors_truncated") else ""
            out.table(f"errors{more}", ("row", "column", "reason"),
                      [(e.get("row"), e.get("column"), e.get("reason")) for e in errors])

    out.emit(doc, human)
    return EXIT_OK


def cmd_failures(args: argparse.Namespace, target: Target, out: Output) -> int:
    failures = unresolved_failures(target.repository)
    if args.reason:
        failures = [f for f in failures if f.get("failure_reason") == args.reason]

    def human() -> None:
        out.table(f"unresolved failures ({len(failures)}): failed runs with no later attempt",
                  ("stopped", "run", "failure reason", "sample", "attempt", "root run", "batch", "workflow"),
                  [(f["stopped"], f["run_id"], f["failure_reason"], f["sample"], f["attempt"], f["root_run_id"],
                    f["batch_id"], f["workflow_id"]) for f in failures])

    out.emit({"failures": failures, "count": len(failures)}, human)
    return EXIT_OK


# ====================================================================== cache
def _request_id(value: str) -> str:
    """What the pruner accepts as a request's idempotency token (pruner.config.PruneRequest.requestId)."""
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", value):
        raise argparse.ArgumentTypeError("a request id is 1-128 letters, digits, '_', '.', ':' or '-'")
    return value


def _cache_id(args: argparse.Namespace, target: Target) -> str:
    cache_id = args.cache_id or target.run_cache_id()
    if not cache_id:
        raise UsageError("no run cache given: pass --cache-id (a --table target does not know the stack's cache)")
    return str(cache_id)


PASS_FIELDS = ("pass_id", "mode", "status", "started_at", "finished_at", "entries_scanned", "current", "stale",
               "legacy", "stale_bytes", "entries_deleted", "bytes_reclaimed", "unreadable", "orphans", "errors",
               "final_floor", "report_uri")


def cmd_cache_report(args: argparse.Namespace, target: Target, out: Output) -> int:
    cache_id = _cache_id(args, target)
    passes = target.repository.prune_history(cache_id)
    version = target.repository.get_item(keys.cache_pk(cache_id), "VERSION")
    enforced = [p for p in passes if p.get("mode") == "enforce"]
    # What `cache restore` brought back (restored_bytes/restored_entries in the pass record) is no longer
    # reclaimed nor deleted: totals are net of restores. Per pass, never below 0: a restore counts every key
    # of the report, the pass's own counts miss what an invocation deleted before it failed.
    restored = sum(int(p.get("restored_bytes") or 0) for p in enforced)
    restored_entries = sum(int(p.get("restored_entries") or 0) for p in enforced)
    reclaimed = sum(max(0, int(p.get("bytes_reclaimed") or 0) - int(p.get("restored_bytes") or 0)) for p in enforced)
    deleted = sum(max(0, int(p.get("entries_deleted") or 0) - int(p.get("restored_entries") or 0)) for p in passes)
    doc = {"cache_id": cache_id, "highest_manifest_version": (version or {}).get("max_version"),
           "passes": passes, "bytes_reclaimed_total": reclaimed, "bytes_restored_total": restored,
           "entries_deleted_total": deleted, "entries_restored_total": restored_entries}

    def human() -> None:
        out.fields(f"run cache {cache_id}", [("highest manifest version seen", doc["highest_manifest_version"]),
                                             ("prune passes", len(passes)),
                                             ("bytes reclaimed (enforced passes, less restores)", _bytes(reclaimed)),
                                             ("entries deleted (less restored)", doc["entries_deleted_total"]),
                                             ("bytes restored (cache restore)", _bytes(restored)),
                                             ("entries restored", restored_entries)])
        if passes:
            out.table("prune history",
                      ("started", "mode", "status", "scanned", "stale", "deleted", "reclaimed", "restored"),
                      [(p.get("started_at") or p["sk"].split("#")[1], p.get("mode"), p.get("status"),
                        p.get("entries_scanned"), p.get("stale"), p.get("entries_deleted"),
                        _bytes(int(p.get("bytes_reclaimed") or 0)),
                        _bytes(int(p["restored_bytes"])) if "restored_bytes" in p else None) for p in passes])

    out.emit(doc, human)
    return EXIT_OK


def _bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


# A failed attempt of `cache prune` is sent again, as Lambda retries a failed scheduled invocation.
PRUNE_ATTEMPTS = 3
PRUNE_RETRY_PAUSE_SECONDS = 5.0


def _invoke_pruner(target: Target, payload: dict[str, Any], again: str, out: Output) -> Any:
    """The pruner invoked with `payload`, the same request (its requestId) sent again when an attempt fails: the
    pruner continues the pass a failed attempt recorded (a new request would be refused the cache's lease,
    which that pass holds, and leave it unfinished)."""
    for attempt in range(1, PRUNE_ATTEMPTS + 1):
        try:
            return target.invoke("pruner", payload)
        except (UsageError, NotFound):
            raise
        except Exception as error:
            if attempt == PRUNE_ATTEMPTS:
                raise CliError(f"{error} ({PRUNE_ATTEMPTS} attempts); the pass may be recorded: send the same "
                               f"request again to continue it: {again}") from error
            out.err.print(f"autopilot: pruner attempt {attempt} of {PRUNE_ATTEMPTS} failed ({type(error).__name__}):"
                          f" sending the same request again", markup=False, soft_wrap=True)
            time.sleep(PRUNE_RETRY_PAUSE_SECONDS * attempt)
    raise AssertionError("unreachable")


def _target_flags(args: argparse.Namespace, target: Target) -> list[str]:
    """The flags that name this command's target, for a command printed to run later: from a shell whose
    AUTOPILOT_STACK names another stack it must still reach this one (a stack from the environment is named)."""
    flags: list[str] = []
    if args.sandbox:
        flags.append("--sandbox")
    elif args.stack or getattr(target, "stack", None):
        flags += ["--stack", str(args.stack or getattr(target, "stack", ""))]
    elif args.table or getattr(target, "table", None):
        flags += ["--table", str(args.table or getattr(target, "table", ""))]
    for flag, value in (("--region", args.region), ("--profile", args.profile), ("--endpoint-url", args.endpoint_url)):
        if value:
            flags += [flag, value]
    return [shlex.quote(flag) for flag in flags]


def cmd_cache_prune(args: argparse.Namespace, target: Target, out: Output) -> int:
    cache_id = _cache_id(args, target)
    request_id = args.request_id or uuid.uuid4().hex
    payload = {"mode": "enforce" if args.enforce else "dry-run", "cacheIds": [cache_id], "requestId": request_id}
    again = " ".join(["autopilot", *_target_flags(args, target), "cache prune", "--cache-id", shlex.quote(cache_id),
                      *(["--enforce"] if args.enforce else []), "--request-id", request_id])
    with out.progress() as progress:
        progress.add_task(f"pruner: {payload['mode']} pass over run cache {cache_id}", total=None)
        result = _invoke_pruner(target, payload, again, out)
        target.settle()
    answers = [p for p in (result.get("passes") or []) if isinstance(p, dict) and p.get("cacheId") == cache_id] \
        if isinstance(result, dict) else []
    answer = answers[0] if answers else {}
    # Only the pass this request started (or the refusal it recorded): an earlier pass shown as "latest"
    # after a SKIPPED start would read as this request's outcome.
    pass_id = answer.get("passId") if answer.get("status") in ("STARTED", "REFUSED", "SPENT") else None
    latest = next((p for p in target.repository.prune_history(cache_id) if p.get("pass_id") == pass_id), None) \
        if pass_id else None
    doc = {"request": payload, "response": result, "latest_pass": latest}

    def human() -> None:
        mode = "ENFORCE: stale entries are deleted" if args.enforce else "dry run: nothing is deleted"
        out.console.print(f"prune of run cache {cache_id} ({mode})")
        if latest:
            out.fields("this request's pass", [(name, latest.get(name)) for name in (*PASS_FIELDS, "reason")])
        else:
            out.console.print(json.dumps(result, default=str))

    out.emit(doc, human)
    if answer.get("status") == "STARTED":
        return EXIT_OK
    # SKIPPED (another prune holds the cache's lease, GetRunCache failed), REFUSED, SPENT (the request's pass ended
    # unfinished: a new request is needed), or no answer for this cache
    reason = answer.get("reason") or "the pruner's answer names no pass of this cache"
    out.err.print(f"autopilot: no {payload['mode']} pass of run cache {cache_id} ran "
                  f"({answer.get('status') or 'no answer'}): {reason}", markup=False, soft_wrap=True)
    return EXIT_FAILURE


# ====================================================================== submit / reconcile
def cmd_submit(args: argparse.Namespace, target: Target, out: Output) -> int:
    sheet = Path(args.sheet)
    if not sheet.is_file():
        raise UsageError(f"sheet {sheet} is not a readable file")
    body = sheet.read_bytes()
    name = args.name or sheet.name
    if args.via_s3:
        if not isinstance(target, StackTarget):
            raise UsageError("--via-s3 needs --stack (the submissions bucket is a stack output)")
        bucket = target.outputs.get("SubmissionsBucketName")
        if not bucket:
            raise CliError(f"stack {target.stack} has no SubmissionsBucketName output")
        key = f"{SUBMISSIONS_PREFIX}{name}"
        put = target.clients.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        doc = {"bucket": bucket, "key": key, "version_id": put.get("VersionId"),
               "note": "the launcher starts the batch when the upload's event reaches it"}
        out.emit(doc, lambda: out.fields("sheet uploaded", list(doc.items())))
        return EXIT_OK
    if len(body) > MAX_INVOKE_SHEET_BYTES:
        raise UsageError(f"sheet is {len(body)} bytes: larger than a synchronous invocation takes; use --via-s3")
    from launcher.sheet import decode  # the launcher's own rule and message: a sheet is UTF-8 text

    text, problem = decode(body)
    if text is None:
        raise CliError(f"the launcher would reject {sheet.name}: {problem.reason if problem else 'not UTF-8'}")
    payload: dict[str, Any] = {"sheet": text, "name": name, "dryRun": bool(args.dry_run)}
    fmt = args.format or ("json" if sheet.suffix.lower() == ".json" else "csv" if sheet.suffix.lower() == ".csv"
                          else None)
    if fmt:
        payload["format"] = fmt
    with out.progress() as progress:
        progress.add_task(f"launcher: {'validating' if args.dry_run else 'submitting'} {name}", total=None)
        result = target.invoke("launcher", payload)
        target.settle()
    if isinstance(result, dict) and result.get("error"):
        raise CliError(f"launcher refused the request: {result['error']}")
    result = result if isinstance(result, dict) else {"response": result}
    out.emit(result, lambda: out.fields(f"submission of {name}",
                                        sorted((k, v) for k, v in result.items() if k != "errors")))
    if result.get("status") == "REJECTED":
        errors = result.get("errors") or []
        out.err.print(f"autopilot: the launcher rejected the sheet {name} ({len(errors)} "
                      f"problem{'s' if len(errors) != 1 else ''}; nothing was started):")
        out.error_table(("row", "column", "reason"),
                        [(e.get("row"), e.get("column"), e.get("reason")) for e in errors])
        return EXIT_FAILURE
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace, target: Target, out: Output) -> int:
    # The reconciler reads an ISO 8601 time; `-2h` is resolved here against the target's clock (a sandbox's is
    # virtual), and `now` is the reconciler's own (no time sent), as without --at.
    at = args.at.strip() if args.at else None
    payload = {"scheduledTime": parse_time(at, lambda: target.now()).isoformat()} if at and at != "now" else {}
    with out.progress() as progress:
        progress.add_task("reconciler: sweeping stale runs and batches", total=None)
        result = target.invoke("reconciler", payload)
        target.settle()
    out.emit(result, lambda: out.fields("reconcile sweep", sorted((result or {}).items())))
    return EXIT_OK


# ====================================================================== replay
def parse_time(value: str, now: datetime | Callable[[], datetime] | None = None) -> datetime:
    """ISO 8601 (`2026-01-05T08:00:00Z`, a date, ...), `now`, or relative to now: `-2h`, `-30m`, `-7d`. `now`:
    the moment, or the clock read only for a relative time (a target's: the sandbox's is virtual)."""
    def current() -> datetime:
        return (now() if callable(now) else now) or datetime.now(UTC)

    text = value.strip()
    if text == "now":
        return current()
    if text.startswith("-") and text[1:-1].isdigit() and text[-1] in "mhd":
        unit = {"m": "minutes", "h": "hours", "d": "days"}[text[-1]]
        return current() - timedelta(**{unit: int(text[1:-1])})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a time: {value!r} (ISO 8601, 'now' or -<n>m|h|d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_replay(args: argparse.Namespace, target: Target, out: Output) -> int:
    now = target.now()  # once: --from and --to count from the same moment
    start, end = parse_time(args.start, now), parse_time(args.end, now)
    if start >= end:
        raise UsageError("--from must be before --to")
    archive_arn, bus_arn = target.archive()
    destination: dict[str, Any] = {"Arn": bus_arn}
    if not args.all_rules:
        rules = target.provenance_rule_arns()
        if rules:
            destination["FilterArns"] = rules
    name = args.name or f"autopilot-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}-{uuid.uuid4().hex[:8]}"
    events = target.events_client()
    try:
        events.start_replay(ReplayName=name, EventSourceArn=archive_arn, EventStartTime=start, EventEndTime=end,
                            Destination=destination, Description="omics autopilot: replay archived aws.omics events")
    except Exception as error:  # botocore ClientError: a bad range, a name in use...
        raise CliError(f"StartReplay failed: {error}") from error
    span = (end - start).total_seconds()
    state, described = "STARTING", {}
    with out.progress() as progress:
        task = progress.add_task(f"replay {name}", total=100)
        deadline = time.monotonic() + args.timeout
        while True:
            described = events.describe_replay(ReplayName=name)
            state = described.get("State", "")
            last = described.get("EventLastReplayedTime")
            if isinstance(last, datetime):
                progress.update(task, completed=max(0.0, min(100.0, (last - start).total_seconds() * 100 / span)))
            if state in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
                break
            time.sleep(args.poll_seconds)
        progress.update(task, completed=100)
    target.settle()
    doc = {"replay": name, "state": state, "from": start.isoformat(), "to": end.isoformat(),
           "archive": archive_arn, "filter_rules": destination.get("FilterArns", "all rules"),
           "reason": described.get("StateReason")}
    out.emit(doc, lambda: out.fields("replay", list(doc.items())))
    if state != "COMPLETED":
        raise CliError(f"replay {name} ended {state or 'unknown'}: {described.get('StateReason') or 'timed out'}")
    return EXIT_OK


# ====================================================================== export
def crate_directory(out: Path, run_id: str) -> Path:
    """Where `export --format ro-crate --out OUT` writes a run's crate: its own directory under OUT."""
    return out / f"run-{run_id}-crate"


def cmd_export(args: argparse.Namespace, target: Target, out: Output) -> int:
    lineage = _lineage(target, args.run_id)
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if args.format == "ro-crate":
        from shared.exports.ro_crate import write_crate

        crate_dir = crate_directory(directory, args.run_id)
        write_crate(lineage, crate_dir)
        written = [str(p) for p in sorted(crate_dir.rglob("*")) if p.is_file()]
    elif args.format == "prov":
        from shared.exports.prov_json import prov_json

        path = directory / f"run-{args.run_id}.prov.json"
        path.write_text(prov_json(lineage))
        written = [str(path)]
    else:
        path = directory / f"run-{args.run_id}.mmd"
        path.write_text(lineage_mermaid(lineage))
        written = [str(path)]
    doc = {"run_id": args.run_id, "format": args.format, "attempts": len(lineage.attempts), "files": written}
    out.emit(doc, lambda: out.table(f"exported run {args.run_id} ({args.format}, {len(lineage.attempts)} attempts)",
                                    ("file",), [(f,) for f in written]))
    return EXIT_OK


def cmd_lineage(args: argparse.Namespace, target: Target, out: Output) -> int:
    # Every run that carried the id (ids of deleted runs are reused), each with its own attempt chain.
    uuids = [str(s["run_uuid"]) for s in target.repository.run_summaries(args.run_id) if s.get("run_uuid")]
    lineages = [_lineage(target, args.run_id, u) for u in uuids] or [_lineage(target, args.run_id)]
    text = "\n".join(lineage_mermaid(lineage, with_tasks=not args.no_tasks) for lineage in lineages)
    out.emit({"run_id": args.run_id, "mermaid": text}, lambda: out.stdout.write(text))
    return EXIT_OK


# ====================================================================== parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(top_level=True, prog="autopilot",
                     description="Operate the HealthOmics autopilot: provenance you can query, export, replay "
                                 "and trust.")
    where = parser.add_mutually_exclusive_group()
    # No defaults from the environment here: an explicit flag must win over either variable (_target).
    where.add_argument("--stack",
                       help=f"deployed stack name (default ${ENV_STACK}); resolves table, functions, archive")
    where.add_argument("--table",
                       help=f"provenance table name only (default ${ENV_TABLE}): queries, no actions")
    where.add_argument("--sandbox", action="store_true",
                       help="the running local sandbox (`make sandbox`): its stack, as --stack would find it; "
                            f"endpoints read from ${SANDBOX_FILE_ENV} (default {default_sandbox_file()})")
    parser.add_argument("--endpoint-url", default=None,
                        help="endpoint of every AWS client (e.g. a local sandbox server); AWS_ENDPOINT_URL works too")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    parser.add_argument("--profile", default=None, help="AWS named profile")
    parser.add_argument("--json", action="store_true", help="machine-readable output (anywhere on the line)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="runs").add_subparsers(dest="action", required=True, parser_class=_Parser)
    show = run.add_parser("show", help="a run: status, attempt lineage, failure reasons, inputs, cache hits")
    show.add_argument("run_id")
    show.set_defaults(handler=cmd_run_show)
    lineage = run.add_parser("lineage", help="a run's attempt lineage as a mermaid diagram")
    lineage.add_argument("run_id")
    lineage.add_argument("--no-tasks", action="store_true")
    lineage.set_defaults(handler=cmd_lineage)

    batch = commands.add_parser("batch", help="batches").add_subparsers(dest="action", required=True,
                                                                        parser_class=_Parser)
    show = batch.add_parser("show", help="a batch: its samples and their final outcomes after re-runs")
    show.add_argument("batch_id")
    show.set_defaults(handler=cmd_batch_show)

    sample = commands.add_parser("sample", help="samples").add_subparsers(dest="action", required=True,
                                                                          parser_class=_Parser)
    show = sample.add_parser("show", help="a sample across batches and attempts")
    show.add_argument("sample_id")
    show.set_defaults(handler=cmd_sample_show)

    submission = commands.add_parser("submission", help="sheet submissions").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    show = submission.add_parser("show", help="a submission: status, batch, every recorded error of a rejected sheet")
    show.add_argument("submission_id")
    show.set_defaults(handler=cmd_submission_show)

    failures = commands.add_parser("failures", help="unresolved failures: failed runs with no later attempt")
    failures.add_argument("--reason", help="only this failure reason")
    failures.set_defaults(handler=cmd_failures)

    cache = commands.add_parser("cache", help="run cache").add_subparsers(dest="action", required=True,
                                                                          parser_class=_Parser)
    report = cache.add_parser("report", help="prune history and bytes reclaimed of a run cache")
    report.add_argument("--cache-id", help="default: the stack's run cache")
    report.set_defaults(handler=cmd_cache_report)
    prune = cache.add_parser("prune", help="run a prune pass now (dry run unless --enforce)")
    prune.add_argument("--cache-id", help="default: the stack's run cache")
    prune.add_argument("--enforce", action="store_true", help="really delete stale entries")
    prune.add_argument("--request-id", type=_request_id,
                       help="send an earlier request again (the id a failed `cache prune` printed): continues its pass")
    prune.set_defaults(handler=cmd_cache_prune)
    cache_restore.register(cache)
    cache_settle.register(cache)

    submit = commands.add_parser("submit", help="submit a sample sheet (CSV or JSON) to the launcher")
    submit.add_argument("sheet")
    submit.add_argument("--name", help="submission name (default: the file name)")
    submit.add_argument("--format", choices=("csv", "json"))
    submit.add_argument("--dry-run", action="store_true", help="validate only: nothing is started")
    submit.add_argument("--via-s3", action="store_true", help="upload to the submissions bucket instead")
    submit.set_defaults(handler=cmd_submit)

    replay = commands.add_parser("replay", help="replay archived aws.omics events of a time range")
    replay.add_argument("--from", dest="start", required=True, help="ISO 8601, 'now' or -<n>m|h|d")
    replay.add_argument("--to", dest="end", default="now", help="ISO 8601, 'now' or -<n>m|h|d (default now)")
    replay.add_argument("--name", help="replay name (default derived from the range)")
    replay.add_argument("--all-rules", action="store_true",
                        help="replay to every rule (default: only the provenance recorder's rules)")
    replay.add_argument("--timeout", type=float, default=3600.0)
    replay.add_argument("--poll-seconds", type=float, default=5.0)
    replay.set_defaults(handler=cmd_replay)

    export = commands.add_parser("export", help="export a run and its lineage")
    export.add_argument("run_id")
    export.add_argument("--format", choices=("ro-crate", "prov", "mermaid"), default="ro-crate")
    export.add_argument("--out", required=True, help="output directory")
    export.set_defaults(handler=cmd_export)

    reconcile = commands.add_parser("reconcile", help="run the reconciler's sweep now")
    reconcile.add_argument("--at", help="reference time of the sweep: ISO 8601, 'now' or -<n>m|h|d (default now)")
    reconcile.set_defaults(handler=cmd_reconcile)
    doctor.register(commands)
    cost.register(commands)
    rightsize.register(commands)
    prices.register(commands, _Parser)
    return parser


def _target(args: argparse.Namespace) -> Target:
    if args.sandbox:  # the sandbox's own stack, found exactly as a deployed one
        endpoints = sandbox_endpoints()
        session, services = sandbox_session(endpoints)
        # a service the endpoints line does not name (IAM for doctor...) goes to the sandbox's AWS endpoint
        return StackTarget(str(endpoints["stack_name"]), session, endpoints["env"].get("AWS_ENDPOINT_URL"),
                           endpoints=services)
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    # A flag typed on the line first, then the environment (the stack before the table: it can do more).
    # Were the variables argparse defaults, AUTOPILOT_STACK=prod would turn `--table dev` into prod.
    if args.stack or args.table:
        stack, table = args.stack, args.table
    else:
        stack, table = os.environ.get(ENV_STACK), os.environ.get(ENV_TABLE)
    if stack:
        return StackTarget(stack, session, args.endpoint_url)
    if table:
        return TableTarget(table, session, args.endpoint_url)
    raise UsageError(f"say where: --stack NAME (or ${ENV_STACK}), --table NAME (or ${ENV_TABLE}), "
                     "or --sandbox (a running `make sandbox`)")


def main(argv: Sequence[str] | None = None, *, target: Target | None = None, stdout: Any = None,
         stderr: Any = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 failure, 2 bad arguments, 3 not found).
    `target` injects where to work (tests pass a SandboxTarget)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = build_parser().parse_args(list(argv) if argv is not None else None)
        out = Output(args.json, stdout, stderr)
        return int(args.handler(args, target or _target(args), out))
    except CliError as error:
        stderr.write(f"autopilot: {error}\n")
        return error.exit_code
    except ProvenanceError as error:
        stderr.write(f"autopilot: provenance table: {error}\n")
        return EXIT_FAILURE
    except NoRegionError:
        stderr.write("autopilot: no AWS region: pass --region or set AWS_DEFAULT_REGION\n")
        return EXIT_USAGE
    except NoCredentialsError:
        stderr.write("autopilot: no AWS credentials: configure them (aws configure / --profile / environment)\n")
        return EXIT_USAGE
    except Exception as error:  # a clear message and exit 1 rather than a traceback for operators
        if os.environ.get("AUTOPILOT_DEBUG"):
            raise
        stderr.write(f"autopilot: {type(error).__name__}: {error}\n")
        return EXIT_FAILURE


__all__ = ["SandboxTarget", "StackTarget", "TableTarget", "main"]
