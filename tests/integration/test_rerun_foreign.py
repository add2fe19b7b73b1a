"""The re-runner acts only on what this stack started (issue 10, item 7): runs with the product's autopilot:*
lineage tags (shared/lineage.py), batches whose request provenance recorded. Anything else in the account
(another team's runs under a shared service role) gets a FOREIGN decision, "not started by this stack",
unless `rerunForeignRuns` says otherwise; even then, the stack's cache is never attached to it."""

from __future__ import annotations

from rerunner.logic import NOT_STARTED_HERE, Decided
from sandbox.omics import FaultPlan, RunFault
from tests.integration.rerun_harness import BUCKET, ROLE

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture

FAILS = FaultPlan(
    runs=[
        RunFault(reason="SERVICE_ERROR", at_task="call", run_name="theirs"),
        RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="x1"),
    ]
)


def _their_run(h) -> str:
    """A run another team started in the same account with the same service role, without a cache."""
    return str(
        h.omics.start_run(
            workflowId=h.workflow_id, roleArn=ROLE, outputUri=f"s3://{BUCKET}/theirs", name="theirs",
            requestId="theirs", tags={"team": "beta"},
        )["id"]
    )


def _their_batch(h) -> str:
    return str(
        h.omics.start_run_batch(
            requestId="their-batch",
            defaultRunSetting={"workflowId": h.workflow_id, "roleArn": ROLE, "outputUri": f"s3://{BUCKET}/theirs"},
            batchRunSettings={"inlineSettings": [{"runSettingId": f"x{i}", "parameters": {"n": i}} for i in range(3)]},
        )["id"]
    )


def test_a_run_this_stack_did_not_start_is_recorded_as_foreign_not_rerun(make) -> None:
    # Given another team's run fails (SERVICE_ERROR, a reason the policy re-runs), and one of ours too
    h = make(faults=FaultPlan(runs=[*FAILS.runs, RunFault(reason="SERVICE_ERROR", at_task="call", run_name="ours")]))
    theirs, ours = _their_run(h), h.start_run("ours")
    # When the account runs until quiet
    h.run()
    # Then theirs is not re-run, and says why; ours is
    assert h.reruns_of(theirs) == [] and len(h.reruns_of(ours)) == 1
    (decision,) = h.decisions(theirs)
    assert decision["decision"] == Decided.FOREIGN and decision["why"] == NOT_STARTED_HERE
    assert decision["failure_reason"] == "SERVICE_ERROR" and decision["attempt"] == 1


def test_a_batch_this_stack_did_not_start_gets_no_follow_up(make) -> None:
    h = make(faults=FAILS)
    batch_id = _their_batch(h)
    h.run()
    assert h.follow_ups(batch_id) == []
    record = h.repository.get_item(f"BATCH#{batch_id}", "RERUN#01#foreign")
    assert record is not None and record["decision"] == Decided.FOREIGN and record["why"] == NOT_STARTED_HERE
    # and no member is decided on: one record for the batch, none per run of someone else's batch
    members = h.emulator.batch_runs(h.emulator.batches[batch_id])
    assert [h.decisions(r.id) for r in members] == [[], [], []]


def test_a_batch_with_the_products_tags_but_no_recorded_request_is_ours(make) -> None:
    # Given a batch the launcher started (its autopilot:submission tag) whose REQUEST record was lost
    h = make(faults=FAILS)
    batch_id = str(
        h.omics.start_run_batch(
            requestId="ours-unrecorded", tags={"autopilot:submission": "sheet-1"},
            defaultRunSetting={"workflowId": h.workflow_id, "roleArn": ROLE, "outputUri": f"s3://{BUCKET}/out"},
            batchRunSettings={"inlineSettings": [{"runSettingId": f"x{i}", "parameters": {"n": i}} for i in range(3)]},
        )["id"]
    )
    h.run()
    (follow_up,) = h.follow_ups(batch_id)
    assert [e.run_setting_id for e in follow_up.entries] == ["x1"]
    assert follow_up.default_run_setting["cacheId"] == h.cache_id  # ours: the stack's cache is attached


def test_with_rerun_foreign_runs_they_are_rerun_without_the_stacks_cache(make) -> None:
    # Given the operator opted in (rerunForeignRuns=true)
    h = make(faults=FAILS, rerun_foreign_runs=True)
    run_id, batch_id = _their_run(h), _their_batch(h)
    h.run()
    # Then both are re-run, with their own settings: no cache attached where they had none
    (rerun,) = h.reruns_of(run_id)
    assert rerun.status == "COMPLETED" and rerun.cache_id is None
    (follow_up,) = h.follow_ups(batch_id)
    assert "cacheId" not in follow_up.default_run_setting
    (entry,) = follow_up.entries
    assert entry.run_setting_id == "x1" and entry.setting["parameters"] == {"n": 1}
    assert h.runs()[entry.run_id].status == "COMPLETED"
