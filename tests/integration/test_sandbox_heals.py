"""The sandbox delivers the events of each interval before the stack's schedules fire, as Lambda's
continuous polling does in AWS: so the reconciler's sweep finds recorded what was delivered, and what it
heals is exactly what HealthOmics' best-effort events really lost (the guide: EventBridge events for
HealthOmics are best effort; a reconciler covers lost ones)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.local import LocalAccount
from sandbox.omics import EventFaults, FaultPlan, OutputSpec, RunFault, TaskSpec

pytestmark = pytest.mark.slow

# The reconciler looks at runs unchanged for 30 minutes; these stay RUNNING for 90, the clock moves 10
# minutes a step (as in the cohort benchmark) and a sweep fires at every step, so one falls in the very
# step in which each run finishes.
CONTEXT = {"reconcileSchedule": "rate(10 minutes)"}
LONG_TASKS = [TaskSpec("call", (), 5400.0, (OutputSpec("vcf", 1024),))]
FAILURE = [RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="call", run_name="run-S-0002")]


def _play(account: LocalAccount, samples: int = 8) -> None:
    outputs = account.outputs
    workflow_id = account.emulator.register_workflow("long", tasks=LONG_TASKS)
    for i in range(samples):
        account.omics.start_run(workflowId=workflow_id, roleArn=outputs["OmicsServiceRoleArn"],
                                outputUri=f"s3://{outputs['RunOutputsBucketName']}/runs", name=f"run-S-{i:04d}",
                                requestId=f"sheet-1#S-{i:04d}", parameters={"reads": f"s3://in/S-{i:04d}.fq.gz"})
    assert account.run_until_quiet(max_seconds=12 * 3600, step_seconds=600)


def _recorded_status_mismatches(account: LocalAccount) -> list[str]:
    return [run.id for run in account.emulator.runs.values()
            if (account.repository.run_summary(run.id, run.uuid) or {}).get("status") != run.status]


def _settle(account: LocalAccount) -> None:
    """Past the reconciler's staleness threshold, so a sweep has looked at every lost final event."""
    deadline = account.clock.now() + timedelta(hours=2)
    while account.clock.now() < deadline:
        account.step(600)


def test_without_lost_events_the_recorder_records_everything_and_nothing_is_healed() -> None:
    # Given a cohort whose events are duplicated and reordered but never lost, swept every 15 minutes
    faults = FaultPlan(runs=FAILURE, events=EventFaults(duplicate=0.2, reorder=0.3), seed=5)
    with LocalAccount(CONTEXT, seed=5, faults=faults) as account:
        # When it runs to the end and sweeps keep firing
        _play(account)
        _settle(account)
        audit = account.heal_audit()

        # Then every sweep found provenance already recorded: provenance matches with no heal at all
        assert sum(n for name, n in account.stats.scheduled_runs.items() if "Reconciler" in name) >= 4
        assert audit.dropped == set()
        assert audit.healed == set()
        assert _recorded_status_mismatches(account) == []


def test_the_reconciler_heals_only_what_lost_an_event() -> None:
    # Given a cohort that loses a fifth of its events
    faults = FaultPlan(runs=FAILURE, events=EventFaults(drop=0.2, duplicate=0.1, reorder=0.2), seed=1)
    with LocalAccount(CONTEXT, seed=1, faults=faults) as account:
        # When it runs to the end and sweeps keep firing
        _play(account)
        _settle(account)
        requests: list[str] = []
        account.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: requests.append(model.name))
        audit = account.heal_audit()
        audit_requests = list(requests)

        # Then each heal is of a run or batch that lost an event, every one that lost its last event is
        # healed, and provenance matches HealthOmics
        assert audit.last_dropped, "the scenario lost some final events"
        assert audit.unexplained == set()
        assert audit.unhealed == set()
        assert _recorded_status_mismatches(account) == []
        # and the audit read the heal records a Query of each run's and batch's partition finds, with no request
        entities = {(kind, entity_id) for kind, entity_id in audit.dropped | audit.healed} | {
            ("RUN", run.id) for run in account.emulator.runs.values()}
        queried = {(item["kind"]["S"], item["entity_id"]["S"]) for kind, entity_id in entities
                   for item in account.partition_items(f"{kind}#{entity_id}", "entity = :h", {":h": {"S": "HEALED"}})}
        assert audit.healed == queried and audit_requests == []
