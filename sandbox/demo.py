"""`make demo`: a 48-sample cohort played through the whole system in the local sandbox.

The cohort sheet shipped in sandbox/cohort/ is submitted the way a lab would (uploaded under
submissions/ when the launcher is deployed), HealthOmics (the emulator) fails some samples for
several documented reasons and delivers events duplicated and out of order, and every handler the
stack deploys reacts. The demo then compares provenance with the emulator's truth and prints a
summary whose last line is one JSON object. It exits non-zero when the outcome is not the expected one.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sandbox.local import LocalAccount
from sandbox.omics import EventFaults, FaultPlan, OmicsEmulator, OutputSpec, RunFault, SubmissionFault, TaskSpec

COHORT_SHEET = Path(__file__).with_name("cohort") / "cohort.csv"
WORKFLOW_NAME = "wgs-germline"
GiB = 1024**3

# The simulated germline pipeline: what a 30x WGS run does, with virtual durations.
WORKFLOW_TASKS = (
    TaskSpec(name="fastqc", duration_seconds=900, outputs=(OutputSpec("qc", 2_000_000),)),
    TaskSpec(name="align", depends_on=("fastqc",), duration_seconds=7200, outputs=(OutputSpec("bam", 8_000_000),)),
    TaskSpec(name="markdup", depends_on=("align",), duration_seconds=2400, outputs=(OutputSpec("dedup", 6_000_000),)),
    TaskSpec(name="call", depends_on=("markdup",), duration_seconds=5400, outputs=(OutputSpec("gvcf", 1_000_000),)),
    TaskSpec(name="annotate", depends_on=("call",), duration_seconds=1200, outputs=(OutputSpec("vcf", 500_000),)),
)


@dataclass(frozen=True)
class InjectedFailure:
    sample: str
    reason: str
    at_task: str | None
    every_attempt: bool  # a broken sample fails again on re-run; a transient one does not

    @property
    def permanent_with_rerunner(self) -> bool:
        """Still failed after the re-runner did what the policy allows (guide: §2 failure reasons)."""
        never = {"OUT_OF_MEMORY_ERROR", "RUN_TIMED_OUT", "TASK_TIMED_OUT", "INVALID_URI_INPUT"}
        return self.reason in never or self.every_attempt


SCENARIO_FAILURES = (
    InjectedFailure("S-0003", "SERVICE_ERROR", "call", every_attempt=False),
    InjectedFailure("S-0011", "SERVICE_ERROR", "markdup", every_attempt=False),
    InjectedFailure("S-0017", "MODIFIED_INPUT_RESOURCE", "annotate", every_attempt=False),
    InjectedFailure("S-0024", "FILE_SYSTEM_OUT_OF_SPACE", "markdup", every_attempt=False),
    InjectedFailure("S-0031", "INSTANCE_RESERVATION_FAILED", None, every_attempt=False),
    InjectedFailure("S-0038", "OUT_OF_MEMORY_ERROR", "call", every_attempt=True),
    InjectedFailure("S-0045", "RUN_TASK_FAILED", "call", every_attempt=True),
)
THROTTLED_SUBMISSION = "S-0040"  # its StartRun inside the batch fails with a retryable reason
LINEAGE_SAMPLE = "S-0003"  # failed with SERVICE_ERROR after three tasks, re-run from the cache
OUTPUT_DIR = Path("demo-output")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def phase(self, name: str, detail: str) -> None:
        line = f"[{time.perf_counter() - self.started:6.1f}s] {name:<10} {detail}"
        self.lines.append(line)
        print(line, flush=True)


def _sample_of(run: Any) -> str:
    return str(run.run_setting_id or run.tags.get("autopilot:sample") or run.name or run.id)


class Narrator:
    """Tells what happens while it happens: polled between slices of virtual time, it reports each
    failure (the injected reason), each re-run decision the re-runner recorded, each run that reused the
    run cache, and the duplicated and reordered events the handlers absorbed."""

    def __init__(self, account: LocalAccount, report: Report) -> None:
        self.account = account
        self.report = report
        self.seen_runs: set[str] = set()
        self.seen_decisions: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.reordered = 0
        self._delivered = 0
        self._previous_index = -1
        self._arrived: set[str] = set()
        self._emitted_index: dict[str, int] = {}

    def poll(self) -> None:
        for run in list(self.account.emulator.runs.values()):
            if run.id in self.seen_runs or run.status not in ("COMPLETED", "FAILED", "CANCELLED"):
                continue
            self.seen_runs.add(run.id)
            sample, attempt = _sample_of(run), f"attempt {run.attempt}"
            if run.status == "FAILED":
                where = f" at task {run.fault.at_task}" if run.fault and run.fault.at_task else ""
                self.report.phase("fault", f"{sample}: run {run.id} FAILED, {run.failure_reason}{where} ({attempt})")
            hits = [t.name for t in run.tasks.values() if t.cache_hit]
            if hits:
                self.report.phase("cache", f"{sample}: run {run.id} ({attempt}) reused {len(hits)} of "
                                           f"{len(run.tasks)} tasks from the run cache ({', '.join(hits)})")
        for item in self._decisions():
            key = (item["pk"], item["sk"])
            if key in self.seen_decisions or "decision" not in item:  # claims carry no decision
                continue
            self.seen_decisions.add(key)
            self.report.phase("re-run", self._decision_text(item))
        self._count_event_faults()

    def _decisions(self) -> list[dict[str, Any]]:
        """The re-runner's decision records (RUN#…/UUID#…#RERUN#…, BATCH#…/RERUN#…), in the order taken: read
        from the partitions where the re-runner writes them, those of the runs that failed (deleted since, too)
        and of the batches, one Query each; a Scan of the whole table at every poll cost 11 % of the demo
        (moto copies what it scans)."""
        from boto3.dynamodb.types import TypeDeserializer

        from shared.provenance import keys

        emulator, deserializer = self.account.emulator, TypeDeserializer()
        partitions = [keys.run_pk(run.id) for run in list(emulator.runs.values())
                      if run.status in ("FAILED", "DELETED")]
        partitions += [keys.batch_pk(batch_id) for batch_id in list(emulator.batches)]
        items = [{k: deserializer.deserialize(v) for k, v in raw.items()}
                 for pk in partitions
                 for raw in self.account.partition_items(pk, "contains(sk, :rerun)", {":rerun": {"S": "RERUN#"}})]
        return sorted(items, key=lambda i: (str(i.get("decided_at", "")), i["pk"], i["sk"]))

    def _decision_text(self, item: dict[str, Any]) -> str:
        kind, subject = str(item["pk"]).split("#", 1)
        run = self.account.emulator.runs.get(str(item.get("run_id") or ""))
        sample = item.get("run_setting_id") or (_sample_of(run) if run else None)
        what = (f"{sample} " if sample else "") + (f"(batch {subject})" if kind == "BATCH" else f"(run {subject})")
        remediation = item.get("remediation")
        if isinstance(remediation, dict):
            remediation = ", ".join(f"{k} {v}" for k, v in sorted(remediation.items()))
        detail = "; ".join(str(p) for p in (item.get("failure_reason"), item.get("why"), remediation) if p)
        started = item.get("new_run_id") or item.get("new_batch_id")
        return (f"{what}: {item.get('decision', '?')}{f' ({detail})' if detail else ''}"
                f"{f', new {started}' if started else ''}")

    def _count_event_faults(self) -> None:
        """Duplicates and reorderings among the events HealthOmics delivered since the last poll: a
        copy of an event already delivered is a duplicate; an event that arrives right after one
        HealthOmics emitted later than it arrived out of order."""
        emulator = self.account.emulator
        for index in range(len(self._emitted_index), len(emulator.emitted_events)):
            self._emitted_index[emulator.emitted_events[index]["id"]] = index
        for event in emulator.delivered_events[self._delivered:]:
            if event["id"] in self._arrived:
                self.duplicates += 1
                continue
            self._arrived.add(event["id"])
            index = self._emitted_index.get(event["id"], -1)
            if index < self._previous_index:
                self.reordered += 1
            self._previous_index = index
        self._delivered = len(emulator.delivered_events)


def run_with_progress(account: LocalAccount, narrator: Narrator, report: Report, phase: str,
                      max_seconds: float, step_seconds: float = 300, slice_seconds: float = 2 * 3600) -> bool:
    """`run_until_quiet` in slices of virtual time, with a progress line and the story after each slice."""
    started, elapsed = account.clock.now(), 0.0
    while elapsed < max_seconds:
        quiet = account.run_until_quiet(max_seconds=min(slice_seconds, max_seconds - elapsed),
                                        step_seconds=step_seconds)
        narrator.poll()
        elapsed = (account.clock.now() - started).total_seconds()
        runs = list(account.emulator.runs.values())
        counts = Counter(r.status for r in runs)
        active = sum(n for status, n in counts.items() if status not in ("COMPLETED", "FAILED", "CANCELLED"))
        report.phase(phase, f"virtual +{elapsed / 3600:4.1f} h: {len(runs)} runs, {counts.get('COMPLETED', 0)} "
                            f"completed, {counts.get('FAILED', 0)} failed, {active} in flight; "
                            f"{narrator.duplicates} duplicated and {narrator.reordered} reordered events so far")
        if quiet:
            return True
    return False


def read_cohort(path: Path = COHORT_SHEET) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fault_plan(seed: int) -> FaultPlan:
    runs = [RunFault(reason=f.reason, at_task=f.at_task, run_setting_id=f.sample,
                     first_attempt_only=not f.every_attempt, message=f"injected by the demo: {f.reason}")
            for f in SCENARIO_FAILURES]
    submissions = [SubmissionFault(run_setting_ids=frozenset({THROTTLED_SUBMISSION}), reason="ThrottlingException",
                                   message="Rate exceeded (injected)",
                                   predicate=lambda batch_id, setting: setting == THROTTLED_SUBMISSION
                                   and _first_batch_only(batch_id))]
    events = EventFaults(duplicate=0.15, reorder=0.3, reorder_window=8)
    return FaultPlan(runs=runs, submissions=submissions, events=events, seed=seed)


_FIRST_BATCH: list[str] = []


def _first_batch_only(batch_id: str) -> bool:
    """The submission fails in the cohort's own batch only (a follow-up batch finds capacity again)."""
    if not _FIRST_BATCH:
        _FIRST_BATCH.append(batch_id)
    return batch_id == _FIRST_BATCH[0]


def register_workflow(emulator: OmicsEmulator) -> dict[str, Any]:
    workflow_id = emulator.register_workflow(WORKFLOW_NAME, tasks=WORKFLOW_TASKS)
    return {"workflowId": workflow_id, "runStorageType": "STATIC", "runStorageCapacity": 1200}


def _has(account: LocalAccount, capability: str) -> bool:
    try:
        account.function(capability)
    except KeyError:
        return False
    return True


def submit_cohort(account: LocalAccount, rows: list[dict[str, str]], report: Report) -> str:
    """Upload the sheet where the launcher listens; without a launcher, start the batch directly."""
    body = COHORT_SHEET.read_bytes()
    if _has(account, "launcher"):
        bucket = account.outputs["SubmissionsBucketName"]
        account.s3.put_object(Bucket=bucket, Key="submissions/cohort-2026.csv", Body=body)
        report.phase("submit", f"uploaded {len(rows)}-sample sheet to s3://{bucket}/submissions/cohort-2026.csv")
        return "launcher"
    from shared.batch_submit import start_batch  # the launcher's own submission path

    settings = [{"runSettingId": r["sample_id"], "parameters": {k: v for k, v in r.items() if not k.startswith("tag:")
                                                              and k != "sample_id"},
                 "runTags": {"autopilot:sample": r["sample_id"]}} for r in rows]
    request = {"requestId": "demo-cohort-2026", "batchName": "cohort-2026",
               "defaultRunSetting": {"workflowId": account.context["workflowId"],
                                     "roleArn": account.outputs["OmicsServiceRoleArn"],
                                     "outputUri": f"s3://{account.outputs['RunOutputsBucketName']}/runs/",
                                     "cacheId": account.outputs["RunCacheId"], "cacheBehavior": "CACHE_ON_FAILURE",
                                     "storageType": "STATIC", "storageCapacity": 1200},
               "batchRunSettings": {"inlineSettings": settings}}
    batch_id = start_batch(account.omics, account.repository, request, origin="launcher", submission_id=None)
    report.phase("submit", f"no launcher deployed: started batch {batch_id} directly ({len(rows)} runs)")
    return "direct"


def prune_caches(account: LocalAccount, narrator: Narrator, report: Report) -> dict[str, Any]:
    """A service update invalidates cache entries: the next run writes entries of the new manifest
    version, and the pruner (through the operator CLI) reclaims the old ones."""
    version = account.emulator.bump_manifest_version()
    canary = account.omics.start_run(
        workflowId=account.context["workflowId"], roleArn=account.outputs["OmicsServiceRoleArn"],
        outputUri=f"s3://{account.outputs['RunOutputsBucketName']}/runs/", requestId="demo-canary-after-update",
        name="canary-after-service-update", cacheId=account.outputs["RunCacheId"], cacheBehavior="CACHE_ALWAYS",
        parameters={"fastq_r1": "s3://demo-inputs/fastq/CANARY_R1.fastq.gz"}, tags={"autopilot:sample": "CANARY"})
    report.phase("update", f"a service update: manifest version {version}; a canary run writes new cache entries")
    run_with_progress(account, narrator, report, "update", max_seconds=2 * 86400)
    report.phase("update", f"service manifest version bumped to {version}; canary run {canary['id']} wrote "
                           f"version-{version} cache entries")
    if not _has(account, "pruner"):
        report.phase("prune", "no pruner deployed")
        return {"entries": 0, "bytes": 0}
    cli_output = _cli(account, ["--json", "cache", "prune", "--enforce"])
    latest = (json.loads(cli_output).get("latest_pass") or {}) if cli_output.strip() else {}
    entries = int(latest.get("entries_deleted", 0) or 0)
    reclaimed = int(latest.get("bytes_reclaimed", 0) or 0)
    report.phase("prune", f"autopilot cache prune --enforce: {entries} stale entries deleted, "
                          f"{reclaimed / 1e6:.1f} MB reclaimed, {latest.get('current', 0)} current entries kept")
    return {"entries": entries, "bytes": reclaimed}


def _cli(account: LocalAccount, argv: list[str]) -> str:
    """Run one operator CLI command against the sandbox; returns what it printed."""
    import io

    from autopilot_cli.app import main as autopilot
    from autopilot_cli.target import SandboxTarget

    stdout, stderr = io.StringIO(), io.StringIO()
    code = autopilot(argv, target=SandboxTarget(account), stdout=stdout, stderr=stderr)
    if code != 0:
        raise RuntimeError(f"autopilot {' '.join(argv)} exited {code}: {stderr.getvalue().strip()}")
    return stdout.getvalue()


def show_lineage(account: LocalAccount, report: Report, out_dir: Path) -> None:
    """End as an operator would: one re-run sample's lineage, and its Workflow Run RO-Crate."""
    from autopilot_cli.app import crate_directory
    from shared.provenance.views import sample_view

    attempts = sample_view(account.repository, LINEAGE_SAMPLE)
    if not attempts or not attempts[-1].run_id:
        report.phase("lineage", f"sample {LINEAGE_SAMPLE} has no recorded run")
        return
    run_id = attempts[-1].run_id
    report.phase("lineage", f"autopilot run lineage {run_id} (sample {LINEAGE_SAMPLE}, {len(attempts)} attempts)")
    print(_cli(account, ["run", "lineage", run_id]).rstrip())
    _cli(account, ["export", run_id, "--format", "ro-crate", "--out", str(out_dir)])
    crate_dir = crate_directory(out_dir, run_id)  # the export writes the crate in a directory of its own
    report.phase("export", f"Workflow Run RO-Crate of run {run_id} written to {crate_dir}/")


def provenance_item_count(account: LocalAccount) -> int:
    """The items in the provenance table: moto's DescribeTable counts them at the call (DynamoDB's ItemCount
    lags by hours). A Scan counting them cost 3 % of the demo: moto sorts and copies the whole table per page."""
    return int(account.dynamodb.describe_table(TableName=account.table_name)["Table"]["ItemCount"])


def verify(account: LocalAccount, expected_unresolved: set[str]) -> list[str]:
    """Provenance must agree with the emulator's truth for every run; nothing may be lost."""
    from shared.provenance.views import run_view, unresolved_failures

    problems: list[str] = []
    for run in account.emulator.runs.values():
        view = run_view(account.repository, run.id)
        if view is None:
            problems.append(f"run {run.id} missing from provenance")
        elif view.status != run.status:
            problems.append(f"run {run.id}: provenance says {view.status}, HealthOmics says {run.status}")
    unresolved = {f.get("sample") or f["run_id"] for f in unresolved_failures(account.repository)}
    if unresolved != expected_unresolved:
        problems.append(f"unresolved failures {sorted(unresolved)} != expected {sorted(expected_unresolved)}")
    if account.dlq_messages():
        problems.append(f"{account.dlq_messages()} messages in dead-letter queues")
    return problems


def announce_faults(report: Report) -> None:
    """What the demo will do to the system, before it does it."""
    for failure in SCENARIO_FAILURES:
        where = f"at task {failure.at_task}" if failure.at_task else "while starting"
        when = "every attempt" if failure.every_attempt else "first attempt only"
        report.phase("plan", f"{failure.sample} will fail with {failure.reason} {where} ({when})")
    report.phase("plan", f"{THROTTLED_SUBMISSION}'s StartRun inside the cohort batch will be throttled "
                         "(ThrottlingException)")
    events = fault_plan(0).events
    report.phase("plan", f"events: {events.duplicate:.0%} delivered twice, {events.reorder:.0%} reordered "
                         f"within {events.reorder_window}")


def cohort_cost(account: LocalAccount) -> dict[str, Any]:
    """The cohort's cost, the cost of its failed attempts and what the run cache saved, as the recorder
    priced them: one batch roll-up per root batch (follow-ups included). None when any part is unknown."""
    from shared.cost.calculator import combine
    from shared.provenance.cost_repository import CostRepository

    costs = CostRepository(account.repository)
    roots = [b.id for b in account.emulator.batches.values() if "autopilot:parent-batch" not in b.tags]
    runs = [run for root in roots for run in costs.batch_cost(root)["per_run"]]
    total = combine(r.get("cost") for r in runs)
    failed = combine(r.get("cost") for r in runs if r.get("outcome") == "FAILED")
    lists = total["price_lists"]
    return {"cost_usd": cents(total["usd"]), "failures_cost_usd": cents(failed["usd"] if failed["runs"] else "0"),
            "cache_saved_usd": cents(total["avoided_usd"]), "price_list": ", ".join(lists) or None}


def cents(value: str | None) -> str | None:
    """A roll-up's sum (a Decimal string at full precision) as the demo shows money: a string in cents, half up.
    The table and the JSON line print the same figure."""
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _usd(value: str | None, price_list: str | None) -> str:
    return f"${Decimal(value):,.2f}" if value is not None else f"unknown ({price_list or 'no price list'})"


def summary_table(summary: dict[str, Any], narrator: Narrator, statuses: Counter[str]) -> list[str]:
    """The closing table: plain words and numbers."""
    rows = [
        ("samples in the sheet", summary["samples"]),
        ("runs started (with re-runs)", summary["runs_total"]),
        ("runs completed", summary["runs_completed"]),
        ("runs failed", statuses.get("FAILED", 0)),
        ("failures left unresolved", summary["runs_failed_unresolved"]),
        ("re-runs", summary["reruns"]),
        ("tasks reused from the run cache", summary["cache_hits"]),
        ("stale cache entries pruned", summary["cache_entries_pruned"]),
        ("cache bytes reclaimed", f"{summary['cache_bytes_reclaimed'] / 1e6:.1f} MB"),
        ("events emitted by HealthOmics", summary["events_emitted"]),
        ("events delivered", summary["events_delivered"]),
        ("  of which duplicates absorbed", narrator.duplicates),
        ("  of which reordered, absorbed", narrator.reordered),
        ("provenance items", summary["provenance_items"]),
        ("handler invocations", summary["handler_invocations"]),
        ("HealthOmics API calls", summary["omics_calls"]),
        ("messages in dead-letter queues", summary["dlq_messages"]),
        ("cohort cost", _usd(summary["cost_usd"], summary["price_list"])),
        ("  of which failed attempts", _usd(summary["failures_cost_usd"], summary["price_list"])),
        ("saved by the run cache", _usd(summary["cache_saved_usd"], summary["price_list"])),
        ("provenance matches HealthOmics", "yes" if summary["ok"] else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    rule = "-" * (width + 14)
    return [rule, *(f"{name:<{width}}  {value!s:>10}" for name, value in rows), rule]


def play(seed: int = 7, echo: Callable[[str], None] = print) -> tuple[dict[str, Any], list[str]]:
    report = Report()
    rows = read_cohort()
    _FIRST_BATCH.clear()
    report.phase("deploy", "synthesizing the stack (CDK, about 10-40 s) and creating its resources in moto")
    with LocalAccount(seed=seed, faults=fault_plan(seed), prepare=register_workflow) as account:
        deployed = sorted({spec.handler.split(".")[0] for spec in account.resources.functions.values()})
        report.phase("deploy", f"stack created from the synthesized template: {', '.join(deployed)}")
        announce_faults(report)
        narrator = Narrator(account, report)
        submit_cohort(account, rows, report)
        quiet = run_with_progress(account, narrator, report, "run", max_seconds=14 * 86400)
        runs = list(account.emulator.runs.values())
        report.phase("run", f"{'all quiet' if quiet else 'NOT quiet after 14 virtual days'}: {len(runs)} runs "
                            f"in {len(account.emulator.batches)} batches; "
                            f"virtual time {account.clock.now():%Y-%m-%d %H:%M}")
        pruned = prune_caches(account, narrator, report)
        runs = list(account.emulator.runs.values())
        statuses = Counter(r.status for r in runs)
        with_rerunner = _has(account, "rerunner")
        failed_samples = {f.sample for f in SCENARIO_FAILURES}
        expected = ({f.sample for f in SCENARIO_FAILURES if f.permanent_with_rerunner} if with_rerunner
                    else failed_samples)
        problems = verify(account, expected)
        from shared.provenance.views import unresolved_failures

        unresolved = unresolved_failures(account.repository)
        cache_hits = sum(1 for r in runs for t in r.tasks.values() if t.cache_hit)
        summary = {
            "runs_total": len(runs),
            "runs_completed": statuses.get("COMPLETED", 0),
            "runs_failed_unresolved": len(unresolved),
            "reruns": sum(1 for r in runs if r.attempt > 1),
            "cache_hits": cache_hits,
            "cache_entries_pruned": pruned["entries"],
            "cache_bytes_reclaimed": pruned["bytes"],
            "provenance_items": provenance_item_count(account),
            "events_emitted": len(account.emulator.emitted_events),
            "events_delivered": len(account.emulator.delivered_events),
            "events_duplicated": narrator.duplicates,
            "events_reordered": narrator.reordered,
            "dlq_messages": account.dlq_messages(),
            "handler_invocations": sum(account.stats.invocations.values()),
            "omics_calls": sum(account.emulator.calls.values()),
            "samples": len(rows),
            "ok": not problems,
            **cohort_cost(account),
        }
        report.phase("verify", f"provenance matches HealthOmics for every run; {narrator.duplicates} duplicated "
                               f"and {narrator.reordered} reordered events absorbed" if not problems
                     else f"{len(problems)} problems")
        for failure in unresolved:
            echo(f"  unresolved: sample {failure.get('sample')} run {failure['run_id']} "
                 f"({failure.get('failure_reason')}, attempt {failure.get('attempt')}): not re-run by policy")
        for problem in problems[:20]:
            echo(f"  PROBLEM: {problem}")
        show_lineage(account, report, OUTPUT_DIR)
        for line in summary_table(summary, narrator, statuses):
            echo(line)
    return summary, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="fault and id seed (the demo is reproducible)")
    args = parser.parse_args(argv)
    summary, problems = play(seed=args.seed)
    print(json.dumps(summary, sort_keys=True))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
