"""Operations benchmark (issue 7): what healing, replaying and exporting cost, measured in one run.

A cohort (standalone runs + one batch) plays through the whole sandbox with 10 % of events dropped;
then the reconciler heals it, twice over identical accounts: once asking GetRun per stale run, once
with ListRuns pages. Prints HealthOmics calls per healed entity, table writes, replay item changes.
Run: .venv/bin/python benchmarks/bench_operations.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from reconciler.logic import Reconciler  # noqa: E402

from autopilot_cli.app import main as cli  # noqa: E402
from autopilot_cli.target import SandboxTarget  # noqa: E402
from sandbox.local import LocalAccount  # noqa: E402
from sandbox.omics import EventFaults, FaultPlan  # noqa: E402
from shared.recorder import Recorder  # noqa: E402
from tests.operations_scenario import CONTEXT, failing_faults, play_cohort, scan  # noqa: E402

SAMPLES, BATCH = 20, 40


def heal(list_runs_above: int) -> dict[str, float]:
    faults = FaultPlan(runs=failing_faults(), events=EventFaults(drop=0.1))
    with LocalAccount(CONTEXT, seed=3, faults=faults) as account:
        play_cohort(account, samples=SAMPLES, batch_size=BATCH)
        runs = len(account.emulator.runs)
        emitted, dropped = len(account.emulator.emitted_events), len(account.emulator.publisher.dropped)
        reconciler = Reconciler(Recorder(account.repository, omics=lambda: account.omics),
                                stale_after=timedelta(minutes=30), list_runs_above=list_runs_above)
        before = Counter(account.emulator.calls)
        started = time.perf_counter()
        report = reconciler.sweep(account.clock.now() + timedelta(minutes=31))
        elapsed = time.perf_counter() - started
        calls = Counter(account.emulator.calls) - before
        healed = max(1, len(report.healed))
        result = {"runs": runs, "events emitted": emitted, "events dropped": dropped,
                  "stale runs": report.runs_checked, "stale batches": report.batches_checked,
                  "healed": len(report.healed), "GetRun": calls["GetRun"], "ListRuns": calls["ListRuns"],
                  "GetBatch": calls["GetBatch"], "ListRunTasks": calls["ListRunTasks"],
                  "ListRunsInBatch": calls["ListRunsInBatch"],
                  "HealthOmics calls per healed entity": round(sum(calls.values()) / healed, 2),
                  "status calls (GetRun+ListRuns+GetBatch) per stale entity":
                      round((calls["GetRun"] + calls["ListRuns"] + calls["GetBatch"])
                            / max(1, report.runs_checked + report.batches_checked), 2),
                  "sweep seconds (wall, in-process)": round(elapsed, 3)}
        if list_runs_above > 0:
            items = scan(account)
            handled = sum(account.stats.records.values())
            started = time.perf_counter()
            cli(["replay", "--from", "2026-01-01T00:00:00Z", "--to", "now", "--poll-seconds", "0"],
                target=SandboxTarget(account), stdout=open("/dev/null", "w"))  # noqa: SIM115
            result["replay: events re-handled"] = sum(account.stats.records.values()) - handled
            after = scan(account)
            result["replay: provenance items changed (excl. re-run decisions)"] = sum(
                1 for k, v in items.items() if v.get("entity") != "RERUN_DECISION" and after.get(k) != v)
            result["replay: table items"] = len(items)
            result["replay seconds (wall)"] = round(time.perf_counter() - started, 2)
            run_id = next(i["run_id"] for i in items.values() if i.get("entity") == "RUN")
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                cli(["export", run_id, "--format", "ro-crate", "--out", out], target=SandboxTarget(account),
                    stdout=open("/dev/null", "w"))  # noqa: SIM115
                result["export ro-crate seconds"] = round(time.perf_counter() - started, 3)
        return result


def main() -> None:
    per_run = heal(list_runs_above=10_000)
    listed = heal(list_runs_above=0)
    print(f"cohort: {SAMPLES} standalone runs + a {BATCH}-run batch, 10 % of events dropped (seed 3)")
    keys = list(dict.fromkeys([*per_run, *listed]))
    width = max(len(k) for k in keys)
    print(f"{'':{width}}  {'GetRun each':>12}  {'ListRuns pages':>14}")
    for key in keys:
        print(f"{key:{width}}  {per_run.get(key, '-')!s:>12}  {listed.get(key, '-')!s:>14}")


if __name__ == "__main__":
    main()
