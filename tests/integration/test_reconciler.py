"""Reconciler against the whole sandbox: events are best effort; the sweep makes provenance match the
emulator's truth (HealthOmics' own answers) for every run and batch, records what it healed, and costs
few, rate-limited HealthOmics calls."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from reconciler.logic import HEALED, Reconciler, synthetic_event_id

from sandbox.local import LocalAccount
from sandbox.omics import EventFaults, FaultPlan
from shared.provenance import keys
from shared.recorder import Recorder
from shared.status import RUN_TERMINAL
from tests.operations_scenario import CONTEXT, FAILING_SAMPLE, failing_faults, later, play_cohort, scan

pytestmark = pytest.mark.slow


def truth_mismatches(account: LocalAccount) -> list[str]:
    """Every difference between what provenance says and what HealthOmics says, run by run."""
    omics, repository = account.omics, account.repository
    problems: list[str] = []
    runs = [r for page in omics.get_paginator("list_runs").paginate() for r in page["items"]]
    assert runs, "the scenario started runs"
    for listed in runs:
        run = omics.get_run(id=listed["id"])
        summary = repository.run_summary(run["id"], run["uuid"]) or {}
        if summary.get("status") != run["status"]:
            problems.append(f"run {run['id']}: recorded {summary.get('status')}, API {run['status']}")
            continue
        if run["status"] in RUN_TERMINAL:
            if summary.get("outcome") != run["status"] or "details_recorded_at" not in summary:
                problems.append(f"run {run['id']}: terminal details not recorded")
            if summary.get("failure_reason") != run.get("failureReason"):
                problems.append(f"run {run['id']}: failure reason {summary.get('failure_reason')}")
            if "active_pk" in summary:
                problems.append(f"run {run['id']}: still indexed as active")
            tasks = {t["taskId"]: t for page in omics.get_paginator("list_run_tasks").paginate(id=run["id"])
                     for t in page["items"]}
            recorded = {i["task_id"]: i for i in repository.items_with_prefix(keys.run_pk(run["id"]),
                                                                              keys.run_sk(run["uuid"], "TASK#"))
                        if i.get("entity") == "TASK"}
            if set(recorded) != set(tasks):
                problems.append(f"run {run['id']}: tasks {sorted(recorded)} != {sorted(tasks)}")
            for task_id, task in tasks.items():
                mine = recorded.get(task_id, {})
                if (mine.get("status"), bool(mine.get("cache_hit"))) != (task["status"], bool(task.get("cacheHit"))):
                    problems.append(f"task {task_id}: {mine.get('status')}/{mine.get('cache_hit')} != API")
    for batch in omics.list_batch().get("items", []):
        truth = omics.get_batch(batchId=batch["id"])
        summary = repository.get_item(keys.batch_pk(batch["id"]), keys.SUMMARY) or {}
        if summary.get("status") != truth["status"]:
            problems.append(f"batch {batch['id']}: recorded {summary.get('status')}, API {truth['status']}")
        members = [m for page in omics.get_paginator("list_runs_in_batch").paginate(batchId=batch["id"])
                   for m in page["runs"]]
        recorded_members = repository.items_with_prefix(keys.batch_pk(batch["id"]), "MEMBER#")
        if len(recorded_members) != len(members):
            problems.append(f"batch {batch['id']}: {len(recorded_members)} members recorded of {len(members)}")
    return problems


def test_dropped_events_are_healed_so_provenance_matches_healthomics_for_every_run() -> None:
    # Given a cohort (standalone runs, a failure and its re-run, a 10-run batch) whose events are
    # dropped 10 % of the time on their way to EventBridge
    faults = FaultPlan(runs=failing_faults(), events=EventFaults(drop=0.1))
    with LocalAccount(CONTEXT, seed=3, faults=faults) as account:
        cohort = play_cohort(account, samples=8, batch_size=10)
        dropped = len(account.emulator.publisher.dropped)
        before = truth_mismatches(account)
        assert dropped > 0 and before, "the seeded drops left provenance wrong: the test has something to heal"

        # When the reconciler's schedule fires once the threshold (30 min) has passed
        calls_before = Counter(account.emulator.calls)
        summary = account.invoke("reconciler", {"scheduledTime": later(account, 31)})
        calls = Counter(account.emulator.calls) - calls_before
        first_heals = [i for i in scan(account).values() if i.get("entity") == HEALED]
        # (a healed FAILED run / PROCESSED batch went to the re-runner too: its re-runs run, and their own
        # lost events are healed by the next sweeps)
        sweeps = 1
        while True:
            account.run_until_quiet(max_seconds=6 * 3600)
            again = account.invoke("reconciler", {"scheduledTime": later(account, 31)})
            sweeps += 1
            if again["healed"] == 0 or sweeps > 5:
                break

        # Then provenance matches HealthOmics for every run, task and batch
        assert truth_mismatches(account) == []
        # and what was healed is recorded as such, once per healed status
        assert summary["healed"] == len(first_heals) > 0 and sweeps <= 5
        assert {h["source"] for h in first_heals} <= {"GetRun", "ListRuns", "GetBatch", "NotFound"}
        # and HealthOmics was asked little: one GetRun per stale run (enrichment reuses it), one GetBatch
        # per stale batch, plus the recorder's usual ListRunTasks / ListRunsInBatch pages
        assert calls["GetRun"] <= summary["runs_checked"]
        assert calls["GetBatch"] <= summary["batches_checked"]
        assert set(calls) <= {"GetRun", "ListRuns", "GetBatch", "ListRunTasks", "ListRunsInBatch"}
        heals = [i for i in scan(account).values() if i.get("entity") == HEALED]
        assert len(heals) >= len(first_heals)
        # the failed sample was re-run exactly once, whether its FAILED event arrived or was healed
        chain = account.repository.attempt_chain(cohort.runs[FAILING_SAMPLE])
        assert [int(a.get("attempt", 0)) for a in chain] == [0, 1]

        # When the sweep runs again, nothing is stale: no HealthOmics call, nothing healed twice
        again_before = Counter(account.emulator.calls)
        second = account.invoke("reconciler", {"scheduledTime": later(account, 62)})
        assert second["healed"] == 0 and second["runs_checked"] == 0
        assert Counter(account.emulator.calls) - again_before == Counter()


def test_a_heal_is_the_same_observation_a_late_event_would_have_made_and_reaches_the_rerunner() -> None:
    # Given a failed run whose FAILED event was lost (its terminal observation removed for this test)
    with LocalAccount(CONTEXT, seed=1, faults=FaultPlan(runs=failing_faults())) as account:
        cohort = play_cohort(account, samples=2, batch_size=0)
        run_id = cohort.failed_run_id
        runs_before = len(account.emulator.runs)
        items = scan(account)
        # Simulate the loss: put the run back to RUNNING as if COMPLETED never arrived
        run_uuid = account.emulator.runs[run_id].uuid
        summary_key = (keys.run_pk(run_id), keys.run_summary_sk(run_uuid))
        summary = items[summary_key]
        history = {k: v for k, v in items.items()
                   if k[0] == keys.run_pk(run_id) and k[1].startswith(keys.run_sk(run_uuid, "STATUS#"))}
        terminal = [k for k in history if history[k]["status"] in RUN_TERMINAL]
        assert terminal
        from shared.provenance.repository import serialize

        account.dynamodb.delete_item(TableName=account.table_name, Key=serialize({"pk": terminal[0][0],
                                                                                  "sk": terminal[0][1]}))
        lost = {k: v for k, v in summary.items()
                if k not in ("outcome", "outcome_order", "outcome_time", "status", "status_order", "status_time")}
        account.dynamodb.put_item(TableName=account.table_name, Item=serialize({
            **{k: v for k, v in lost.items() if not k.startswith(("details", "lineage", "sample_", "batch_",
                                                                  "unresolved"))},
            "status": "RUNNING", "status_order": "03#2000-01-01T00:00:00.000000Z#RUNNING",
            "status_time": "2000-01-01T00:00:00.000000Z", "active_pk": "ACTIVE#RUN",
            "active_sk": f"2000-01-01T00:00:00.000000Z#{run_id}"}))

        # When the reconciler sweeps (and the stack's consumers get what it forwarded)
        summary_out = account.invoke("reconciler", {"scheduledTime": later(account, 31)})
        account.run_until_quiet(max_seconds=3600)

        # Then the terminal observation is back under the same history key the real event had, the
        # summary is terminal and enriched, and the heal is recorded with its source
        healed_items = scan(account)
        assert terminal[0] in healed_items
        assert healed_items[summary_key]["status"] == history[terminal[0]]["status"]
        assert "details_recorded_at" in healed_items[summary_key]
        heal = [v for k, v in healed_items.items() if k[0] == keys.run_pk(run_id) and v.get("entity") == HEALED]
        assert len(heal) == 1 and heal[0]["from_status"] == "RUNNING" and heal[0]["source"] == "GetRun"
        assert summary_out["healed"] == 1
        assert synthetic_event_id(run_id, "FAILED") == f"reconciled-{run_id}-FAILED"
        # and the healed FAILED went where the lost event would have: the re-runner (which had already re-run
        # this failure, so nothing new starts: its claims make a re-run exactly-once) and the right-sizer (a
        # failed run's storage is priced from its manifest), each when deployed
        deployed = []
        for consumer in ("rerunner", "rightsizer"):
            try:
                account.function(consumer)
            except KeyError:
                continue
            deployed.append(consumer)
        assert summary_out["forwarded"] == len(deployed)
        assert len(account.emulator.runs) == runs_before
        assert account.dlq_messages() == 0


def test_many_stale_runs_are_checked_with_list_runs_pages_not_a_get_run_each() -> None:
    # Given runs stuck non-terminal in provenance while HealthOmics has moved on (all events after
    # PENDING/STARTING lost for a cohort still running)
    faults = FaultPlan(runs=failing_faults(), events=EventFaults(drop=0.1))
    with LocalAccount(CONTEXT, seed=3, faults=faults) as account:
        # the default cohort (10 runs): its seeded drops leave 2 runs and its batch stale (the 18 runs above: 1 run)
        play_cohort(account)
        stale = account.repository.active_since_before("RUN", "~")
        assert len(stale) >= 2

        # When a sweep with a low ListRuns threshold runs (the deployed default switches above 25)
        recorder = Recorder(account.repository, omics=lambda: account.omics)
        reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30), list_runs_above=0)
        before = Counter(account.emulator.calls)
        report = reconciler.sweep(account.clock.now() + timedelta(minutes=31))
        calls = Counter(account.emulator.calls) - before

        # Then it listed the four active statuses once each (one page each here) and asked GetRun only
        # for runs that left every active status, which their enrichment then reused
        assert report.used_list_runs
        assert calls["ListRuns"] == 4
        assert calls["GetRun"] <= len(stale)
        assert len([h for h in report.healed if h.kind == "RUN"]) == len(stale)  # (its batch is healed too)
        assert truth_mismatches(account) == []


def test_the_stacks_schedule_fires_the_sweep_on_the_sandbox_clock() -> None:
    # Given the stack as configured by default (reconcileSchedule rate(15 minutes))
    with LocalAccount(seed=2) as account:
        # When 20 virtual minutes pass
        account.step(20 * 60)
        # Then the schedule fired the reconciler once, and its sweep ran at the virtual time
        fired = {name: count for name, count in account.stats.scheduled_runs.items() if "Reconciler" in name}
        assert sum(fired.values()) == 1
        sweeps = account.repository.items_with_prefix("RECONCILE#SWEEPS", "SWEEP#")
        assert len(sweeps) == 1 and sweeps[0]["now"].startswith(account.clock.now().strftime("%Y-%m-%d"))
        assert sweeps[0]["runs_checked"] == 0 and sweeps[0]["healed"] == 0
