"""The re-runner acts only on what this stack started (issue 10, item 7): runs with the product's autopilot:*
lineage tags (shared/lineage.py), batches whose request provenance recorded. Anything else in the account
(another team's runs under a shared service role) gets a FOREIGN decision, "not started by this stack",
unless `rerunForeignRuns` says otherwise; even then, the stack's cache is never attached to it."""

from __future__ import annotations

from rerunner.logic import NOT_STARTED_HERE, Decided
from sandbox.omics import FaultPlan, RunFault
from shared.provenance import keys
from tests.integration.rerun_harness import BUCKET, ROLE, STACK_ID

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
            requestId="ours-unrecorded", tags={"autopilot:submission": "sheet-1", "autopilot:stack": STACK_ID},
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
    assert "autopilot:stack" not in rerun.tags  # still theirs: its next failure gets no cache of ours either
    (follow_up,) = h.follow_ups(batch_id)
    assert "cacheId" not in follow_up.default_run_setting
    assert "autopilot:stack" not in follow_up.tags
    (entry,) = follow_up.entries
    assert entry.run_setting_id == "x1" and entry.setting["parameters"] == {"n": 1}
    assert "autopilot:stack" not in entry.setting["runTags"]
    assert h.runs()[entry.run_id].status == "COMPLETED"


def _other_stacks_batch(h) -> str:
    """A batch the launcher of another autopilot stack in the same account (prod beside dev) started."""
    return str(
        h.omics.start_run_batch(
            requestId="prod-batch", tags={"autopilot:submission": "sheet-9", "autopilot:stack": "omics-autopilot-prod"},
            defaultRunSetting={"workflowId": h.workflow_id, "roleArn": ROLE, "outputUri": f"s3://{BUCKET}/prod"},
            batchRunSettings={"inlineSettings": [
                {"runSettingId": f"x{i}", "parameters": {"n": i},
                 "runTags": {"autopilot:submission": "sheet-9", "autopilot:sample": f"x{i}",
                             "autopilot:stack": "omics-autopilot-prod"}} for i in range(3)]},
        )["id"]
    )


def test_runs_and_batches_of_another_autopilot_stack_are_foreign(make) -> None:
    """Given two autopilot stacks in one account (dev, prod), whose runs and batches both carry autopilot:*
    tags, When a run and a batch member of the other stack fail, Then this stack's re-runner leaves
    them to their own stack: FOREIGN, no re-run, no cache of ours attached."""
    h = make(faults=FAILS)
    theirs = h.start_run("theirs", tags={"autopilot:sample": "theirs", "autopilot:stack": "omics-autopilot-prod"})
    batch_id = _other_stacks_batch(h)
    h.run()
    assert h.reruns_of(theirs) == [] and h.follow_ups(batch_id) == []
    (decision,) = h.decisions(theirs)
    assert decision["decision"] == Decided.FOREIGN and decision["why"] == NOT_STARTED_HERE
    record = h.repository.get_item(f"BATCH#{batch_id}", "RERUN#01#foreign")
    assert record is not None and record["decision"] == Decided.FOREIGN


def test_what_this_stack_starts_carries_its_stack_identity(make) -> None:
    """Re-runs and follow-up batches carry autopilot:stack = this stack's id, so the next failure in
    the chain is recognised as ours again (and not by any other stack)."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="ours"),
                                    RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s2")]))
    ours, batch_id = h.start_run("ours"), h.start_batch(["s1", "s2"])
    h.run()
    (rerun,) = h.reruns_of(ours)
    assert rerun.tags["autopilot:stack"] == STACK_ID
    (follow_up,) = h.follow_ups(batch_id)
    assert follow_up.tags["autopilot:stack"] == STACK_ID
    (entry,) = follow_up.entries
    assert entry.setting["runTags"]["autopilot:stack"] == STACK_ID
    assert h.runs()[entry.run_id].tags["autopilot:stack"] == STACK_ID


def test_a_re_run_recorded_here_is_ours_even_without_the_stack_tag(make) -> None:
    """Provenance first: a run whose parent's claim in this stack's table names it is ours, whatever its
    tags say (a tag can be removed or lost; the recorded start cannot be forged from outside the stack)."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="child")]))
    parent = h.start_run("parent")
    parent_uuid = h.omics.get_run(id=parent)["uuid"]
    child = h.start_run("child", tags={"autopilot:parent-run": parent, "autopilot:parent-run-uuid": parent_uuid,
                                       "autopilot:root-run": parent, "autopilot:root-run-uuid": parent_uuid,
                                       "autopilot:attempt": "1"})
    claim_sk = keys.run_sk(parent_uuid, "RERUN#01#CLAIM")
    h.repository.claim(keys.run_pk(parent), claim_sk, {"entity": "RERUN_CLAIM"})
    h.repository.complete_claim(keys.run_pk(parent), claim_sk,
                                {"new_run_id": child, "new_run_uuid": h.omics.get_run(id=child)["uuid"]})
    h.run()
    assert len(h.reruns_of(child)) == 1


ALWAYS_FAILING = FaultPlan(runs=[RunFault(reason="RUN_TASK_FAILED", at_task="report", run_name="s1",
                                          first_attempt_only=False)])


def _reruns(h) -> int:
    return sum(len(o.started) for o in h.outcomes)


def test_a_hand_set_negative_attempt_tag_buys_no_extra_reruns(make) -> None:
    # Given a run started by hand and opted in (autopilot:stack, as the README says), whose starter also set
    # autopilot:attempt to -20, failing every time with a reason the default policy re-runs once (RUN_TASK_FAILED)
    h = make(faults=ALWAYS_FAILING)
    h.start_run("s1", tags={"autopilot:stack": STACK_ID, "autopilot:attempt": "-20"})
    # When the account runs until quiet
    h.run()
    # Then it is re-run as a run with no attempt behind it would be: once, not 21 times
    assert _reruns(h) == 1


def test_a_foreign_runs_negative_attempt_tag_buys_no_extra_reruns(make) -> None:
    # Given rerunForeignRuns (foreign runs re-run under the same policy) and a foreign run tagged attempt -20
    h = make(faults=ALWAYS_FAILING, rerun_foreign_runs=True)
    h.start_run("s1", tags={"team": "beta", "autopilot:attempt": "-20"})
    h.run()
    assert _reruns(h) == 1
