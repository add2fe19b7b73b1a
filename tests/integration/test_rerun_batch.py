"""Batch members: failed runs and retryable failed submissions of a PROCESSED batch become ONE follow-up
batch with the original default settings, the cache and only those runSettingIds (original per-run
settings + lineage runTags); chained until max attempts. moto + emulator + real recorder and re-runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rerunner.logic import Decided, batch_request_id
from sandbox.omics import FaultPlan, OutputSpec, RunFault, SubmissionFault, TaskSpec
from shared.api_limits import api_limits
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.views import attempt_chain, batch_view, unresolved_failures
from tests.integration.rerun_harness import BUCKET, ONE_TASK, batch_events_only, module_harness, outcomes_only

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _max_page(operation: str, member: str) -> int:
    """The largest page an omics list operation answers, from botocore's model."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("omics").operation_model(operation).input_shape
    return int(shape.members[member].metadata["max"])


def test_failed_members_become_one_follow_up_batch(make) -> None:
    # Given a batch of 6 where s2 fails with SERVICE_ERROR after two tasks, s4 with RUN_TASK_FAILED,
    # s5 with a configuration error, and s6's submission fails with a retryable quota error
    faults = FaultPlan(
        runs=[
            RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2"),
            RunFault(reason="RUN_TASK_FAILED", at_task="call", run_setting_id="s4"),
            RunFault(reason="ECR_PERMISSION_ERROR", at_task=None, run_setting_id="s5"),
        ]
    )
    h = make(faults=faults)
    # the quota error hits the first batch only (it resolves by the time of the follow-up)
    faults.submissions.append(
        SubmissionFault(
            run_setting_ids=frozenset({"s6"}),
            reason="ServiceQuotaExceededException",
            predicate=lambda b, _: h.emulator.batches[b].name == "cohort",
        )
    )
    batch_id = h.start_batch([f"s{i}" for i in range(1, 7)], priority=7)
    # When the account runs until quiet
    h.run()
    # Then exactly one follow-up batch holds s2, s4 and s6 with their original per-run settings
    (follow_up,) = h.follow_ups(batch_id)
    assert follow_up.request_id == batch_request_id(batch_id, 1, "same")
    assert [e.run_setting_id for e in follow_up.entries] == ["s2", "s4", "s6"]
    default = follow_up.default_run_setting
    assert default["workflowId"] == h.workflow_id and default["priority"] == 7
    assert default["cacheId"] == h.cache_id and default["cacheBehavior"] == "CACHE_ON_FAILURE"
    settings = {e.run_setting_id: e.setting for e in follow_up.entries}
    assert settings["s2"]["parameters"] == {"sample": "s2"} and settings["s2"]["name"] == "run-s2"
    original = {e.run_setting_id: e.run_id for e in h.emulator.batches[batch_id].entries}
    tags = settings["s2"]["runTags"]
    assert tags["autopilot:parent-run"] == original["s2"] and tags["autopilot:root-run"] == original["s2"]
    assert tags["autopilot:attempt"] == "1" and tags["autopilot:rerun-reason"] == "SERVICE_ERROR"
    assert tags["autopilot:root-batch"] == batch_id and tags["autopilot:sample"] == "s2"
    assert settings["s6"]["runTags"]["autopilot:rerun-reason"] == "ServiceQuotaExceededException"
    # and the follow-up completed: s2 resumed from the cache (two hits), every member resolved
    runs = {e.run_setting_id: h.runs()[e.run_id] for e in follow_up.entries}
    assert all(r.status == "COMPLETED" for r in runs.values())
    assert {t.spec.name: t.cache_hit for t in runs["s2"].tasks.values()} == {
        "align": True,
        "call": True,
        "report": False,
    }
    assert [u["run_id"] for u in unresolved_failures(h.repository)] == [original["s5"]]
    # and the root batch's view shows every sample's final outcome after the re-runs
    view = batch_view(h.repository, batch_id)
    finals = {s: o.final.status for s, o in view.samples.items()}
    assert finals == {
        "s1": "COMPLETED",
        "s2": "COMPLETED",
        "s3": "COMPLETED",
        "s4": "COMPLETED",
        "s5": "FAILED",
        "s6": "COMPLETED",
    }
    assert [b["batch_id"] for b in view.batches] == [batch_id, follow_up.id]
    # and the lineage chain of s2 runs root -> attempt 1
    chain = attempt_chain(h.repository, original["s2"])
    assert [(c["attempt"], c["status"]) for c in chain] == [(0, "FAILED"), (1, "COMPLETED")]
    # and each failed member has its decision record
    assert [d["decision"] for d in h.decisions(original["s5"])] == [Decided.NEVER]
    (started,) = h.decisions(original["s2"])
    assert started["decision"] == Decided.STARTED and started["new_batch_id"] == follow_up.id
    # and the follow-up is linked to its root and its request recorded for a next round
    assert h.repository.get_batch_link(follow_up.id)["root_batch_id"] == batch_id
    assert h.repository.get_batch_request(follow_up.id)["origin"] == "rerunner"


def test_non_retryable_submission_failures_are_not_resubmitted(make) -> None:
    faults = FaultPlan(submissions=[SubmissionFault(run_setting_ids=frozenset({"s2"}), reason="ValidationException")])
    h = make(faults=faults)
    batch_id = h.start_batch(["s1", "s2"])
    h.run()
    assert h.follow_ups(batch_id) == []
    record = h.repository.get_item(f"BATCH#{batch_id}", "RERUN#01#SETTING#s2")
    assert record is not None and record["decision"] == Decided.NEVER


def test_follow_ups_chain_until_max_attempts(make) -> None:
    # s1 fails with SERVICE_ERROR on every attempt: follow-ups of follow-ups until attempt 3
    faults = FaultPlan(
        runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1", first_attempt_only=False)]
    )
    h = make(faults=faults)
    root = h.start_batch(["s1", "s2"])
    h.run()
    chain = [root]
    while nxt := h.follow_ups(chain[-1]):
        chain.append(nxt[0].id)
    assert len(chain) == 4  # root + attempts 1, 2, 3
    links = [h.repository.get_batch_link(b) for b in chain[1:]]
    assert [(lk["attempt"], lk["root_batch_id"]) for lk in links] == [(1, root), (2, root), (3, root)]
    assert [len(h.emulator.batches[b].entries) for b in chain] == [2, 1, 1, 1]
    first = h.emulator.batches[root].entries[0].run_id
    runs = attempt_chain(h.repository, first)
    assert [c["attempt"] for c in runs] == [0, 1, 2, 3]
    assert [d["decision"] for d in h.decisions(runs[-1]["run_id"])] == [Decided.EXHAUSTED]


def test_out_of_space_members_get_their_own_follow_up_with_more_storage(make) -> None:
    # Static storage is batch-level: members that ran out of space go in a separate follow-up batch with
    # more storage; the others keep the original storage in theirs.
    gib = 1024**3
    tasks = (
        TaskSpec("align", (), 600.0, (OutputSpec("bam", 100 * gib),)),
        TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 1024),)),
    )
    faults = FaultPlan(
        runs=[
            RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1"),
            RunFault(reason="FILE_SYSTEM_OUT_OF_SPACE", at_task="align", run_setting_id="s2"),
        ]
    )
    h = make(faults=faults, tasks=tasks)
    batch_id = h.start_batch(["s1", "s2", "s3"], storageType="STATIC", storageCapacity=1200)
    h.run()
    groups = {
        b.default_run_setting.get("storageCapacity"): [e.run_setting_id for e in b.entries]
        for b in h.follow_ups(batch_id)
    }
    assert groups == {1200: ["s1"], 2400: ["s2"]}
    bigger = next(b for b in h.follow_ups(batch_id) if b.default_run_setting.get("storageCapacity") == 2400)
    assert bigger.request_id == batch_request_id(batch_id, 1, "static2400")
    (run,) = h.emulator.batch_runs(bigger)
    assert run.storage_capacity == 2400 and run.status == "COMPLETED"
    assert not any(t.cache_hit for t in run.tasks.values())  # nothing was cached after running out of space
    assert run.tags["autopilot:remediation"] == "storage=STATIC:2400GiB"


@dataclass(frozen=True)
class WideBatch:
    """What the tests below read of one wide batch, played once."""

    samples: list[str]
    failed: list[str]
    follow_ups: list[Any]
    follow_up_statuses: dict[str, str]  # run setting id -> status of its follow-up run
    finals: dict[str, str | None]  # sample -> final status, from provenance


@pytest.fixture(scope="module")
def wide_batch() -> Iterator[WideBatch]:
    """One batch from an S3 settings file, played once for the two tests that read it (each played a batch of
    its own, of 101 and 102 members: 9 and 19 CPU-s): more failed members than StartRunBatch's inlineSettings
    can hold (botocore's model: 100; one more fails, the smallest number that shows it), more members than a
    ListRunsInBatch page (botocore's maxItems), and a member that completes on each page."""
    page = _max_page("ListRunsInBatch", "maxItems")
    too_many = api_limits().inline_max + 1
    samples = [f"s{i}" for i in range(too_many + 2)]
    completed = {samples[1], samples[-1]}
    failed = [s for s in samples if s not in completed]
    assert len(samples) > page and samples[page] in failed  # the first member of the second page fails
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call",
                                      predicate=lambda r: r.run_setting_id not in completed)])
    # ONE_TASK and outcomes_only: the limits are on members; tasks and intermediate statuses would only add events
    with module_harness(faults=faults, tasks=ONE_TASK, record=outcomes_only) as h:
        batch_id = h.start_batch(samples, via_s3=True)
        # When the account runs until quiet
        h.run()
        follow_ups = h.follow_ups(batch_id)
        statuses = {e.run_setting_id: h.runs()[e.run_id].status for f in follow_ups for e in f.entries}
        finals = {s: o.final.status for s, o in batch_view(h.repository, batch_id).samples.items()}
    yield WideBatch(samples, failed, follow_ups, statuses, finals)


def test_members_from_an_s3_settings_file_keep_their_original_settings(wide_batch: WideBatch) -> None:
    # Given a batch from an S3 settings file longer than a ListRunsInBatch page, with failed members on the
    # first page and the first member of the second, and a completed member on each (`wide_batch`)
    # Then the follow-up holds exactly the failed members, each with its original settings, completed
    (follow_up,) = wide_batch.follow_ups
    assert sorted(e.run_setting_id for e in follow_up.entries) == sorted(wide_batch.failed)
    assert all(e.setting["parameters"] == {"sample": e.run_setting_id} for e in follow_up.entries)
    assert set(wide_batch.follow_up_statuses.values()) == {"COMPLETED"}


def test_more_than_100_failed_members_go_through_a_settings_file(wide_batch: WideBatch) -> None:
    # Given more failed members than StartRunBatch's inlineSettings can hold (botocore's model: 100)
    assert len(wide_batch.failed) == api_limits().inline_max + 1
    # Then the one follow-up carries every failed member in an S3 settings file, not inline
    (follow_up,) = wide_batch.follow_ups
    assert follow_up.s3_uri_settings is not None and follow_up.s3_uri_settings.startswith(f"s3://{BUCKET}/reruns/")
    assert len(follow_up.entries) == len(wide_batch.failed) == len(wide_batch.follow_up_statuses)
    assert set(wide_batch.follow_up_statuses.values()) == {"COMPLETED"}
    assert set(wide_batch.finals.values()) == {"COMPLETED"} and len(wide_batch.finals) == len(wide_batch.samples)


def test_a_follow_up_too_large_to_record_inline_goes_through_its_settings_file(make) -> None:
    """Seen: 7 failed members, each with a list of 20,000 one-digit numbers (a 40 KB parameter, under the run's
    50,000 bytes): the re-runner measured only the entries, as ASCII-escaped JSON (280 KB, under its own
    300,000), and went inline; start_batch measures the whole request as DynamoDB stores BATCH#<id>/REQUEST (3
    bytes a list element here: 420 KB, over MAX_RECORDED_REQUEST_BYTES), refused it as RequestTooLarge, and the
    members were REJECTED instead of re-run. Rests on DynamoDB's item-size rules ("DynamoDB item sizes and
    formats") and the 400 KB item: inline only when the whole request fits (recorded_request_bytes, one measure)."""
    from shared.batch_submit import MAX_RECORDED_REQUEST_BYTES

    samples = [f"s{i}" for i in range(7)]
    # the runs' events unrecorded: each failed run's summary would hold its 40 KB list, written and read back
    # through moto's DynamoDB (3.5 of 5 CPU-s); the follow-up's request is built from the settings file all the same
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call")]), tasks=ONE_TASK,
             record=batch_events_only)
    batch_id = h.start_batch(samples, via_s3=True, parameters={"weights": [1] * 20_000})
    h.emulator.run_until_idle()
    h.deliver()
    # the follow-up read its settings file and ran; its events are left undelivered: recording them would only
    # record 7 more runs of these parameters (2.5 of 6 CPU-s), and the re-runner would find nothing to do
    h.emulator.run_until_idle()
    (follow_up,) = h.follow_ups(batch_id)
    assert follow_up.s3_uri_settings is not None and follow_up.s3_uri_settings.startswith(f"s3://{BUCKET}/reruns/")
    assert sorted(e.run_setting_id for e in follow_up.entries) == samples
    assert h.repository.get_batch_request(follow_up.id) is not None
    assert MAX_RECORDED_REQUEST_BYTES < 7 * 3 * 20_000


def test_a_batch_started_outside_the_product_falls_back_to_getbatch_and_getrun(make) -> None:
    # Given an operator who opted in to re-running batches this stack did not start (rerunForeignRuns)
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="x2")])
    h = make(faults=faults, rerun_foreign_runs=True)
    batch_id = h.omics.start_run_batch(
        requestId="foreign",
        defaultRunSetting={
            "workflowId": h.workflow_id,
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "outputUri": f"s3://{BUCKET}/out",
        },
        batchRunSettings={"inlineSettings": [{"runSettingId": f"x{i}", "parameters": {"n": i}} for i in range(3)]},
    )["id"]
    h.run()
    (follow_up,) = h.follow_ups(batch_id)
    (entry,) = follow_up.entries
    assert entry.run_setting_id == "x2" and entry.setting["parameters"] == {"n": 2}
    assert "cacheId" not in follow_up.default_run_setting  # the stack's cache is only for its own batches
    assert h.runs()[entry.run_id].status == "COMPLETED"


def test_recorded_members_cost_no_getrun_and_unrecorded_ones_are_looked_up(make) -> None:
    from rerunner.work import Work

    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s2")])
    # Given the recorder has recorded every member: the re-runner needs no GetRun at all
    h = make(faults=faults)
    batch_id = h.start_batch([f"s{i}" for i in range(5)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    before = dict(h.emulator.calls)
    assert h.handle(Work(kind="batch", id=batch_id)).started
    calls = {op: n - before.get(op, 0) for op, n in h.emulator.calls.items() if n != before.get(op, 0)}
    # one GetBatch: its counts say a member failed; one ListRuns page names it; its facts and its row are recorded
    assert calls == {"GetBatch": 1, "ListRuns": 1, "StartRunBatch": 1}


def test_unrecorded_failed_members_are_found_with_listruns_not_a_getrun_each(make) -> None:
    from rerunner.work import Work

    # Given nothing was recorded (recorder behind): GetBatch's exact failed count bounds the GetRun lookups
    h2 = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")]))
    batch2 = h2.start_batch([f"s{i}" for i in range(5)])
    h2.emulator.run_until_idle()
    before = dict(h2.emulator.calls)
    assert h2.handle(Work(kind="batch", id=batch2)).started
    calls = {op: n - before.get(op, 0) for op, n in h2.emulator.calls.items() if n != before.get(op, 0)}
    # one GetBatch (exact failed count), one ListRuns page naming the failed run, one GetRun for its reason
    assert calls == {"ListRunsInBatch": 1, "GetBatch": 1, "ListRuns": 1, "GetRun": 1, "StartRunBatch": 1}


def test_a_processed_batch_with_no_failed_member_is_closed_by_one_getbatch(make) -> None:
    """Guide, "Batch runs" (HEALTHOMICS.md section 3; the guide's GetBatch note, 배치 진행 상황 모니터링):
    PROCESSED means every run is terminal; GetBatch's runSummary counts are eventually consistent but exact
    at PROCESSED; submissionSummary.failedStartSubmissionCount counts the entries that never became runs.
    So a PROCESSED batch whose failedRunCount and failedStartSubmissionCount are 0 has nothing to follow up:
    no member is read (ListRunsInBatch, 100 a page) and no member's summary is queried (one Query each),
    which at HealthOmics' 100,000 runs a batch would be 1,000 pages and 100,000 Queries."""
    from rerunner.work import Work

    # Given a batch of 5 whose runs all completed, recorded by the recorder
    h = make(tasks=ONE_TASK)
    batch_id = h.start_batch([f"s{i}" for i in range(5)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    assert h.emulator.batches[batch_id].status == "PROCESSED"
    queries: list[str] = []
    h.repository.client.meta.events.register(
        "before-call.dynamodb.Query", lambda model, **_: queries.append(model.name))
    before = dict(h.emulator.calls)
    # When the re-runner handles its PROCESSED batch
    outcome = h.handle(Work(kind="batch", id=batch_id))
    # Then it concludes "no failed members" from one GetBatch: no ListRunsInBatch, no member Query
    assert outcome.skipped == "no failed members" and not outcome.started and not outcome.decisions
    calls = {op: n - before.get(op, 0) for op, n in h.emulator.calls.items() if n != before.get(op, 0)}
    assert (calls, queries) == ({"GetBatch": 1}, [])


def test_a_failing_getbatch_leaves_the_members_read_as_before(make, monkeypatch: pytest.MonkeyPatch) -> None:
    from rerunner.work import Work
    from shared.errors import RetryableError

    # Given a recorded batch with one failed member, and GetBatch throttled (after the client's retries)
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1")]))
    batch_id = h.start_batch([f"s{i}" for i in range(3)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)

    def throttled(batch: str) -> Any:
        raise RetryableError(f"GetBatch {batch}: ThrottlingException")

    monkeypatch.setattr(h.access, "get_batch", throttled)
    before = dict(h.emulator.calls)
    # When the re-runner handles it: its members are read and the failed one followed up, as without counts
    assert h.handle(Work(kind="batch", id=batch_id)).started
    calls = {op: n - before.get(op, 0) for op, n in h.emulator.calls.items() if n != before.get(op, 0)}
    assert calls == {"ListRunsInBatch": 1, "StartRunBatch": 1}


def _count_reads(h: Any) -> list[dict[str, Any]]:
    """Every DynamoDB Query the harness's repository makes from now on (its parameters)."""
    queries: list[dict[str, Any]] = []
    h.repository.client.meta.events.register("provide-client-params.dynamodb.Query",
                                             lambda params, **_: queries.append(params))
    return queries


def test_a_handler_counting_a_harness_reads_sees_none_of_a_later_test(make) -> None:
    """Each harness's repository has its own DynamoDB client: a test's counting handler (`_count_reads`) must not
    stay registered on the process-wide client of shared/provenance/base.py, where it would see (and keep) every
    later test's requests in this worker."""
    # Given a harness whose reads a test counted
    h = make(tasks=ONE_TASK)
    counted = _count_reads(h)
    # When code that uses the process-wide client (a later test's, a handler's) reads the table
    ProvenanceRepository(h.repository.table_name).client.query(
        TableName=h.repository.table_name, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "RUN#none"}})
    # Then the counting handler saw nothing of it
    assert counted == []


def _omics_params(h: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the re-runner's HealthOmics client makes from now on."""
    seen: list[dict[str, Any]] = []
    h.omics.meta.events.register(f"provide-client-params.omics.{operation}", lambda params, **_: seen.append(params))
    return seen


def test_a_recorded_failed_member_is_followed_up_without_reading_every_member(make) -> None:
    """Guide, "Batch runs" (HEALTHOMICS.md section 3): at PROCESSED GetBatch's runSummary is exact, so
    failedRunCount says how many runs failed; ListRuns filters a batch's runs by status (botocore's model:
    ListRuns batchId + status) and the recorder records every ListRunsInBatch row (BATCH#<id>/MEMBER#). A
    follow-up needs the failed members only: reading every member (a ListRunsInBatch page per 100 and one
    strongly consistent Query per member) is 1,000 pages and 100,000 Queries at 100,000 runs, more than one
    invocation of the re-runner can do, so one failure in such a batch was never re-run."""
    from rerunner.work import Work
    from shared.provenance import keys

    # Given a recorded batch of 12 where only s3 failed
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s3")]),
             tasks=ONE_TASK)
    batch_id = h.start_batch([f"s{i}" for i in range(12)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    failed = {r.id for r in h.emulator.batch_runs(h.emulator.batches[batch_id]) if r.status == "FAILED"}
    completed = {r.id for r in h.emulator.batch_runs(h.emulator.batches[batch_id])} - failed
    queries, listed = _count_reads(h), _omics_params(h, "ListRunsInBatch")
    before = dict(h.emulator.calls)
    # When the re-runner handles the PROCESSED batch
    outcome = h.handle(Work(kind="batch", id=batch_id))
    h.emulator.run_until_idle()
    # Then s3 alone is followed up, and no completed member's summary nor every member's row was read
    (follow_up,) = h.follow_ups(batch_id)
    assert outcome.started == [follow_up.id] and [e.run_setting_id for e in follow_up.entries] == ["s3"]
    read = [q["ExpressionAttributeValues"][":pk"]["S"] for q in queries if ":pk" in q["ExpressionAttributeValues"]]
    assert not {keys.run_pk(r) for r in completed} & set(read), "a completed member's summary was read"
    assert not listed, f"every member was listed: {listed}"
    calls = {op: n - before.get(op, 0) for op, n in h.emulator.calls.items() if n != before.get(op, 0)}
    assert calls == {"GetBatch": 1, "ListRuns": 1, "StartRunBatch": 1}


def test_failed_submissions_are_listed_by_their_status_alone(make) -> None:
    """botocore's model: ListRunsInBatch takes one filter, submissionStatus among them (HEALTHOMICS.md section 3),
    and GetBatch's submissionSummary.failedStartSubmissionCount is the number of entries that never became runs."""
    from rerunner.work import Work

    # Given a batch of 4 whose s1 submission fails with a retryable quota error, recorded
    h = make(tasks=ONE_TASK)
    h.emulator.faults.submissions.append(SubmissionFault(run_setting_ids=frozenset({"s1"}),
                                                         reason="ServiceQuotaExceededException"))
    batch_id = h.start_batch([f"s{i}" for i in range(4)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    h.emulator.faults.submissions.clear()
    listed = _omics_params(h, "ListRunsInBatch")
    # When the re-runner handles the PROCESSED batch
    h.handle(Work(kind="batch", id=batch_id))
    h.emulator.run_until_idle()
    # Then s1 is followed up, found with the failed submissions' filter alone
    (follow_up,) = h.follow_ups(batch_id)
    assert [e.run_setting_id for e in follow_up.entries] == ["s1"]
    assert listed == [{"batchId": batch_id, "submissionStatus": "FAILED",
                       "maxItems": _max_page("ListRunsInBatch", "maxItems")}]


def test_an_unrecorded_failed_member_s_setting_is_looked_up_by_its_run_id(make) -> None:
    """botocore's model: ListRunsInBatch filters by runId; one call per failed run that the recorder has not
    recorded yet is fewer than every page of a batch with fewer failures than pages."""
    from rerunner.work import Work

    # Given nothing recorded yet, a batch of 5 where s0 failed
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s0")]))
    batch_id = h.start_batch([f"s{i}" for i in range(5)])
    h.emulator.run_until_idle()
    (failed,) = [r.id for r in h.emulator.batch_runs(h.emulator.batches[batch_id]) if r.status == "FAILED"]
    listed = _omics_params(h, "ListRunsInBatch")
    # When the re-runner handles the PROCESSED batch
    assert h.handle(Work(kind="batch", id=batch_id)).started
    # Then s0's row is read by its run id alone
    assert listed == [{"batchId": batch_id, "runId": failed, "maxItems": _max_page("ListRunsInBatch", "maxItems")}]


def test_a_listruns_that_lags_the_exact_count_leaves_the_members_read_as_before(
        make, monkeypatch: pytest.MonkeyPatch) -> None:
    """ListRuns is not documented as exact at PROCESSED, GetBatch's counts are: fewer failed runs listed than
    counted proves nothing, and the members are read as without counts (no failed member dropped)."""
    from rerunner.work import Work

    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id=s)
                                    for s in ("s1", "s2")]), tasks=ONE_TASK)
    batch_id = h.start_batch([f"s{i}" for i in range(4)])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    listed = h.access.failed_run_ids
    monkeypatch.setattr(h.access, "failed_run_ids", lambda batch: list(listed(batch))[:1])
    assert h.handle(Work(kind="batch", id=batch_id)).started
    h.emulator.run_until_idle()
    (follow_up,) = h.follow_ups(batch_id)
    assert [e.run_setting_id for e in follow_up.entries] == ["s1", "s2"]
