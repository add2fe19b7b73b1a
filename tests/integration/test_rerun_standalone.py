"""Standalone runs: a failed run is re-run from the run cache (StartRun runId=...), by failure reason.

Given/When/Then against moto + the HealthOmics emulator, the real recorder and the real re-runner."""

from __future__ import annotations

import pytest

from rerunner.logic import Decided, run_request_id
from sandbox.omics import FaultPlan, OutputSpec, RunFault, TaskSpec
from shared.provenance.views import attempt_chain, run_view, unresolved_failures
from tests.integration.rerun_harness import STACK_ID

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_service_error_after_two_tasks_reruns_from_cache_and_resolves(make) -> None:
    # Given a run that fails with SERVICE_ERROR at its third task, after two tasks completed
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_name="s1")]))
    failed = h.start_run("s1")
    # When the account runs until quiet (events -> recorder + re-runner)
    h.run()
    # Then exactly one re-run was started, from the cache, as attempt 1 of the failed root
    reruns = h.reruns_of(failed)
    assert len(reruns) == 1
    rerun = reruns[0]
    assert rerun.status == "COMPLETED"
    assert rerun.cache_id == h.cache_id and rerun.cache_behavior == "CACHE_ON_FAILURE"
    assert rerun.request_id == run_request_id(failed, h.runs()[failed].uuid, 1)
    # the tasks before the failure point were cache hits, the failed one was computed again
    hits = {t.spec.name: t.cache_hit for t in rerun.tasks.values()}
    assert hits == {"align": True, "call": True, "report": False}
    view = run_view(h.repository, rerun.id)
    assert view is not None and view.cache_hits == 2
    # and provenance holds the lineage chain root -> attempt 1, and nothing unresolved
    chain = attempt_chain(h.repository, failed)
    assert [(c["attempt"], c["run_id"], c["status"]) for c in chain] == [
        (0, failed, "FAILED"),
        (1, rerun.id, "COMPLETED"),
    ]
    assert chain[1]["parent_run_id"] == failed and chain[1]["rerun_reason"] == "SERVICE_ERROR"
    assert unresolved_failures(h.repository) == []
    # and the decision record says what was decided and why, in the failed run's own partition
    (decision,) = h.decisions(failed)
    assert decision["decision"] == Decided.STARTED and decision["new_run_id"] == rerun.id
    assert decision["failure_reason"] == "SERVICE_ERROR" and decision["attempt"] == 1


@pytest.mark.parametrize("reason", ["SERVICE_ERROR", "MODIFIED_INPUT_RESOURCE", "RUN_TASK_FAILED"])
def test_rerun_reasons_start_one_rerun(make, reason: str) -> None:
    h = make(faults=FaultPlan(runs=[RunFault(reason=reason, at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    h.run()
    reruns = h.reruns_of(failed)
    assert [r.status for r in reruns] == ["COMPLETED"]
    assert reruns[0].tags["autopilot:rerun-reason"] == reason
    assert reruns[0].tags["autopilot:root-run"] == failed and reruns[0].tags["autopilot:attempt"] == "1"


NEVER_REASONS = [
    "RUN_TIMED_OUT",
    "TASK_TIMED_OUT",
    "OUT_OF_MEMORY_ERROR",
    "ASSUME_ROLE_FAILED",
    "ECR_PERMISSION_ERROR",
    "INPUT_URI_NOT_FOUND",
    "INVALID_URI_INPUT",
    "IMAGE_VALIDATION_FAILED",
    "WORKFLOW_RUN_FAILED",
    "UNSUPPORTED_GPU_INSTANCE_TYPE",
    "SOMETHING_NEW",
]


@pytest.mark.parametrize("reason", NEVER_REASONS)
def test_never_reasons_are_recorded_not_rerun(make, reason: str) -> None:
    h = make(faults=FaultPlan(runs=[RunFault(reason=reason, at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    h.run()
    assert [r.id for r in h.runs().values()] == [failed]
    (decision,) = h.decisions(failed)
    assert decision["decision"] == Decided.NEVER and decision["failure_reason"] == reason and decision["why"]
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [failed]


def test_run_task_failed_is_rerun_once_only(make) -> None:
    # Given a task that fails on every attempt
    h = make(
        faults=FaultPlan(
            runs=[RunFault(reason="RUN_TASK_FAILED", at_task="report", run_name="s1", first_attempt_only=False)]
        )
    )
    failed = h.start_run("s1")
    h.run()
    # Then one re-run, which failed again, and no second re-run: attempt 2 exceeds the rule's limit
    chain = attempt_chain(h.repository, failed)
    assert [(c["attempt"], c["status"]) for c in chain] == [(0, "FAILED"), (1, "FAILED")]
    second = h.decisions(chain[1]["run_id"])
    assert [d["decision"] for d in second] == [Decided.EXHAUSTED]
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [chain[1]["run_id"]]


def test_service_error_chain_stops_at_max_attempts(make) -> None:
    h = make(
        faults=FaultPlan(
            runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1", first_attempt_only=False)]
        )
    )
    failed = h.start_run("s1")
    h.run()
    chain = attempt_chain(h.repository, failed)
    assert [c["attempt"] for c in chain] == [0, 1, 2, 3]  # SERVICE_ERROR: at most attempt 3
    assert all(c["status"] == "FAILED" for c in chain)
    assert [c["parent_run_id"] for c in chain[1:]] == [c["run_id"] for c in chain[:-1]]
    assert [d["decision"] for d in h.decisions(chain[-1]["run_id"])] == [Decided.EXHAUSTED]


def test_cancelled_run_is_never_rerun(make) -> None:
    h = make()
    run_id = h.start_run("s1")
    h.emulator.advance(120)
    h.omics.cancel_run(id=run_id)
    h.run()
    assert [r.id for r in h.runs().values()] == [run_id]
    assert h.decisions(run_id) == [] and h.outcomes == []


def test_file_system_out_of_space_reruns_with_larger_storage_and_no_cache_hits(make) -> None:
    # Given a workflow whose second task writes more than the 1,200 GiB static minimum
    gib = 1024**3
    tasks = (
        TaskSpec("align", (), 600.0, (OutputSpec("bam", 1000 * gib),)),
        TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 900 * gib),)),
    )
    h = make(tasks=tasks)
    failed = h.start_run("s1")
    h.run()
    failed_run = h.runs()[failed]
    assert failed_run.failure_reason == "FILE_SYSTEM_OUT_OF_SPACE" and failed_run.storage_capacity == 1200
    # Then the re-run got the next static size by the guide's rounding (1,200 x 2 -> 2,400 GiB) and completed
    (rerun,) = h.reruns_of(failed)
    assert rerun.storage_type == "STATIC" and rerun.storage_capacity == 2400
    assert rerun.status == "COMPLETED"
    # with no cache hits: nothing is cached after FILE_SYSTEM_OUT_OF_SPACE
    assert not any(t.cache_hit for t in rerun.tasks.values())
    assert rerun.tags["autopilot:remediation"] == "storage=STATIC:2400GiB"
    chain = attempt_chain(h.repository, failed)
    assert chain[1]["remediation"] == "storage=STATIC:2400GiB" and chain[1]["status"] == "COMPLETED"


def test_out_of_space_with_dynamic_remediation(make) -> None:
    gib = 1024**3
    tasks = (TaskSpec("align", (), 600.0, (OutputSpec("bam", 1300 * gib),)),)
    h = make(tasks=tasks, policy={"storage": {"mode": "DYNAMIC"}})
    failed = h.start_run("s1")
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.storage_type == "DYNAMIC" and rerun.storage_capacity is None and rerun.status == "COMPLETED"


def test_out_of_space_at_the_cap_is_exhausted(make) -> None:
    gib = 1024**3
    tasks = (TaskSpec("align", (), 600.0, (OutputSpec("bam", 5000 * gib),)),)
    h = make(tasks=tasks, policy={"storage": {"maxCapacityGiB": 2400}})
    failed = h.start_run("s1")
    h.run()
    chain = attempt_chain(h.repository, failed)
    assert [(c["attempt"], c["remediation"]) for c in chain] == [(0, None), (1, "storage=STATIC:2400GiB")]
    assert [d["decision"] for d in h.decisions(chain[1]["run_id"])] == [Decided.EXHAUSTED]


def test_the_stack_cache_is_attached_when_the_run_had_none(make) -> None:
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1")]))
    failed = str(
        h.omics.start_run(
            workflowId=h.workflow_id,
            roleArn="arn:aws:iam::123456789012:role/omics-service",
            outputUri="s3://autopilot-data/out",
            name="s1",
            requestId="no-cache",
            tags={"autopilot:sample": "s1", "autopilot:stack": STACK_ID},  # ours, started without a cache
        )["id"]
    )
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.cache_id == h.cache_id and rerun.cache_behavior == "CACHE_ON_FAILURE"
