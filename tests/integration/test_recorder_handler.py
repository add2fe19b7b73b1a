"""The recorder handler end to end against moto DynamoDB; HealthOmics answers from botocore's Stubber,
which validates every request and response against the service model."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from autopilot_cli.app import main as cli_main
from autopilot_cli.target import TableTarget
from shared.provenance import keys
from shared.provenance.views import batch_view, run_view, run_views, unresolved_failures
from tests.factories import (
    FakeLambdaContext,
    batch_event,
    get_run_response,
    list_run_tasks_response,
    reference_event,
    run_event,
    task_event,
)

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics`, `invoke` and `repo` fixtures

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_completed_run_is_enriched_once_with_one_get_run_and_task_pages(invoke, omics, repo) -> None:
    # Given a run whose terminal event arrives twice, and 150 tasks (two ListRunTasks pages)
    _, stub = omics
    stub.add_response("get_run", get_run_response("111", "COMPLETED"), {"id": "111"})
    stub.add_response("list_run_tasks", list_run_tasks_response("111", 100, next_token="p2"), {"id": "111"})
    stub.add_response("list_run_tasks", list_run_tasks_response("111", 50, start=100),
                      {"id": "111", "startingToken": "p2"})
    completed = run_event("111", "COMPLETED", T0 + timedelta(hours=1))
    # When the lifecycle and a duplicate of the terminal event are recorded
    result = invoke([run_event("111", "RUNNING", T0), completed, task_event("111", "111000", "COMPLETED", T0),
                     completed])
    # Then nothing failed, the run is COMPLETED with its GetRun details and 150 task rows,
    # and the duplicate caused no second GetRun (the Stubber would raise on an unexpected call).
    assert result == {"batchItemFailures": []}
    view = run_view(repo, "111")
    assert view is not None
    assert view.status == "COMPLETED" and view.outcome == "COMPLETED"
    assert view.summary["digest"] == "sha256:abc"
    assert view.summary["resource_digests"] == {"s3://in/a.bam": "etag-a"}
    assert view.summary["cache_id"] == "cache-1"
    assert len(view.tasks) == 150 and view.cache_hits == 75
    assert [h["status"] for h in view.history] == ["RUNNING", "COMPLETED"]


def test_task_events_cost_no_healthomics_call(invoke, repo) -> None:
    events = [task_event("222", f"t{i}", s, T0 + timedelta(seconds=i)) for i in range(5)
              for s in ("PENDING", "RUNNING", "COMPLETED")]
    assert invoke(events) == {"batchItemFailures": []}
    view = run_view(repo, "222")
    assert view is not None and len(view.tasks) == 5
    assert all(t.status == "COMPLETED" for t in view.tasks)


def test_late_running_event_does_not_regress_a_completed_run(invoke, omics, repo) -> None:
    _, stub = omics
    stub.add_response("get_run", get_run_response("333", "COMPLETED"), {"id": "333"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "333"})
    invoke([run_event("333", "COMPLETED", T0)])
    invoke([run_event("333", "RUNNING", T0 + timedelta(minutes=5))])  # late and out of order
    view = run_view(repo, "333")
    assert view is not None and view.status == "COMPLETED"
    assert {h["status"] for h in view.history} == {"COMPLETED", "RUNNING"}  # history keeps both


def test_throttled_get_run_fails_only_its_record_and_is_retried(invoke, omics, repo) -> None:
    _, stub = omics
    stub.add_client_error("get_run", "ThrottlingException", http_status_code=429, expected_params={"id": "444"})
    first = invoke([run_event("444", "FAILED", T0), task_event("555", "t1", "RUNNING", T0)])
    assert len(first["batchItemFailures"]) == 1  # the task event in the same batch succeeded
    # The redelivered record enriches the run (status already recorded, details not yet).
    stub.add_response("get_run", get_run_response("444", "FAILED"), {"id": "444"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "444"})
    assert invoke([run_event("444", "FAILED", T0)]) == {"batchItemFailures": []}
    view = run_view(repo, "444")
    assert view is not None and view.failure_reason == "SERVICE_ERROR"
    assert [f["run_id"] for f in unresolved_failures(repo)] == ["444"]


def test_guide_events_and_ignored_detail_types(invoke, omics, repo) -> None:
    _, stub = omics
    run = reference_event("run-status-change.completed")
    stub.add_response("get_run", get_run_response("1234567", "COMPLETED", uuid=run["detail"]["uuid"]),
                      {"id": "1234567"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "1234567"})
    stub.add_response("list_runs_in_batch", {"runs": [
        {"runSettingId": "s1", "runId": "9000001", "submissionStatus": "SUCCESS"},
        {"runSettingId": "s2", "submissionStatus": "FAILED",
         "submissionFailureReason": "ValidationException", "submissionFailureMessage": "bad param"}]},
        {"batchId": "7123456", "maxItems": 100})
    read_set = dict(run, **{"detail-type": "Read Set Import Job Status Change"})
    result = invoke([run, reference_event("task-status-change.completed"),
                     reference_event("runbatch-status-change.processed"), read_set])
    assert result == {"batchItemFailures": []}
    view = batch_view(repo, "7123456")
    assert view.batches[0]["status"] == "PROCESSED" and view.batches[0]["counts"]["failedRunCount"] == 4
    assert view.samples["s2"].final.submission_failure_reason == "ValidationException"
    assert view.samples["s1"].final.run_id == "9000001"


def test_malformed_event_is_recorded_as_rejected_not_retried(invoke, table_name) -> None:
    bad = run_event("666", "RUNNING", T0)
    del bad["detail"]["arn"]
    assert invoke([bad]) == {"batchItemFailures": []}
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    rejected = [i for i in items if i["entity"]["S"] == "REJECTED_EVENT"]
    assert len(rejected) == 1 and "arn" in rejected[0]["reason"]["S"]


def test_batch_members_recorded_once_across_inprogress_and_processed(invoke, omics, repo) -> None:
    _, stub = omics
    stub.add_response("list_runs_in_batch", {"runs": [
        {"runSettingId": f"s{i}", "runId": f"80{i}", "submissionStatus": "SUCCESS"} for i in range(3)]},
        {"batchId": "77", "maxItems": 100})
    assert invoke([batch_event("77", "INPROGRESS", T0, {"totalRuns": 3})]) == {"batchItemFailures": []}
    # PROCESSED and a duplicate INPROGRESS cost no further ListRunsInBatch call
    assert invoke([batch_event("77", "PROCESSED", T0 + timedelta(hours=1), {"totalRuns": 3}),
                   batch_event("77", "INPROGRESS", T0, {"totalRuns": 3})]) == {"batchItemFailures": []}
    view = batch_view(repo, "77")
    assert view.batches[0]["status"] == "PROCESSED"
    assert sorted(view.samples) == ["s0", "s1", "s2"]


def test_a_batch_cancelled_before_inprogress_records_the_runs_it_had_created(invoke, omics, repo) -> None:
    # Given a batch cancelled while it was still submitting (CancelRunBatch: SUBMITTING -> STOPPING -> CANCELLED;
    # HEALTHOMICS.md, batch statuses): two of its three samples got runs, which were then cancelled, and its
    # INPROGRESS never came
    _, stub = omics
    stub.add_response("list_runs_in_batch", {"runs": [
        {"runSettingId": "s0", "runId": "900", "submissionStatus": "SUCCESS"},
        {"runSettingId": "s1", "runId": "901", "submissionStatus": "SUCCESS"},
        {"runSettingId": "s2", "submissionStatus": "CANCEL_SUCCESS"}]}, {"batchId": "79", "maxItems": 100})
    # When its CANCELLED event is recorded (and again: a duplicate)
    assert invoke([batch_event("79", "CANCELLED", T0)]) == {"batchItemFailures": []}
    assert invoke([batch_event("79", "CANCELLED", T0)]) == {"batchItemFailures": []}
    # Then the sample -> run map of what it created is recorded once (what those cancelled runs cost, by sample),
    # and the batch leaves the reconciler's active index
    view = batch_view(repo, "79")
    assert {s: o.attempts[0].run_id for s, o in view.samples.items()} == {"s0": "900", "s1": "901", "s2": None}
    summary = repo.get_item(keys.batch_pk("79"), keys.SUMMARY) or {}
    assert summary.get("members_recorded") == 3 and "active_pk" not in summary


def test_a_batch_deleted_before_its_members_were_listed_is_recorded_as_such_not_retried(invoke, omics, repo) -> None:
    # Given a batch deleted (DeleteBatch) before its PROCESSED event was recorded: ListRunsInBatch can no longer
    # be called on it (HEALTHOMICS.md §3; the guide's [배치 메타데이터 삭제]), it answers ResourceNotFoundException
    _, stub = omics
    stub.add_client_error("list_runs_in_batch", "ResourceNotFoundException", "Batch 78 not found", 404,
                          expected_params={"batchId": "78", "maxItems": 100})
    # When its PROCESSED event is recorded
    result = invoke([batch_event("78", "PROCESSED", T0)])
    # Then the record succeeds (retrying cannot help: it would only end in the DLQ), the batch says why its
    # members are missing, and it leaves the reconciler's active index
    assert result == {"batchItemFailures": []}
    summary = repo.get_item(keys.batch_pk("78"), keys.SUMMARY) or {}
    assert "ResourceNotFoundException" in summary.get("members_error", ""), summary
    assert summary.get("members_recorded") == 0 and "active_pk" not in summary
    assert [i["status"] for i in repo.batch_items("78") if i["sk"].startswith("STATUS#")] == ["PROCESSED"]
    # and a redelivery costs no HealthOmics call (the stub refuses any call not queued)
    assert invoke([batch_event("78", "PROCESSED", T0)]) == {"batchItemFailures": []}
    # and `autopilot batch show` tells the operator why the batch has no members
    stdout = io.StringIO()
    target = TableTarget(repo.table_name, boto3.Session(region_name="us-east-1"))
    assert cli_main(["batch", "show", "78", "--json"], target=target, stdout=stdout, stderr=io.StringIO()) == 0
    (shown,) = json.loads(stdout.getvalue())["batches"]
    assert shown["members_recorded"] == 0 and "ResourceNotFoundException" in shown["members_error"]


def test_duplicate_under_a_new_event_id_is_the_same_observation(invoke, repo) -> None:
    """A duplicate re-put through EventBridge gets a new id; it must not add a second history entry."""
    first = task_event("777", "t1", "RUNNING", T0)
    copy = dict(first, id="another-id")
    assert invoke([first, copy]) == {"batchItemFailures": []}
    view = run_view(repo, "777")
    assert view is not None and view.tasks[0].history == ["RUNNING"]


def test_events_without_account_or_resources_are_accepted(invoke, repo) -> None:
    event = task_event("778", "t1", "RUNNING", T0)
    del event["account"], event["resources"]
    assert invoke([event]) == {"batchItemFailures": []}
    assert run_view(repo, "778") is not None


def test_get_run_lagging_behind_the_event_is_retried_not_frozen(invoke, omics, repo) -> None:
    # Given GetRun still answers STOPPING right after the FAILED event (eventual consistency)
    _, stub = omics
    stub.add_response("get_run", get_run_response("901", "STOPPING"), {"id": "901"})
    # When the FAILED event is recorded, the record fails alone and is retried
    assert len(invoke([run_event("901", "FAILED", T0)])["batchItemFailures"]) == 1
    view = run_view(repo, "901")
    assert view is not None and view.status == "FAILED"  # the ordered status is never overwritten
    # Then the redelivery finds GetRun caught up and the failure is indexed as unresolved
    stub.add_response("get_run", get_run_response("901", "FAILED"), {"id": "901"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "901"})
    assert invoke([run_event("901", "FAILED", T0)]) == {"batchItemFailures": []}
    assert [f["run_id"] for f in unresolved_failures(repo)] == ["901"]


def test_no_time_left_fails_the_terminal_record_alone(invoke, repo) -> None:
    # Given an invocation with 5 seconds left: enrichment (GetRun + ListRunTasks) must not start
    result = invoke([run_event("902", "COMPLETED", T0), task_event("902", "t1", "RUNNING", T0)],
                    FakeLambdaContext(remaining_ms=5_000))
    # Then only the terminal record is retried; the task event and the status itself are recorded
    assert len(result["batchItemFailures"]) == 1
    view = run_view(repo, "902")
    assert view is not None and view.status == "COMPLETED" and len(view.tasks) == 1


def test_a_cancelled_rerun_does_not_resolve_its_parents_failure(invoke, omics, repo) -> None:
    _, stub = omics
    stub.add_response("get_run", get_run_response("910", "FAILED"), {"id": "910"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "910"})
    stub.add_response("get_run", get_run_response("911", "CANCELLED", runId="910",
                                                  tags={"autopilot:parent-run": "910", "autopilot:root-run": "910",
                                                        "autopilot:attempt": "1"}), {"id": "911"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "911"})
    invoke([run_event("910", "FAILED", T0)])
    invoke([run_event("911", "CANCELLED", T0 + timedelta(hours=1))])
    assert [f["run_id"] for f in unresolved_failures(repo)] == ["910"]


def test_a_noted_start_is_in_flight_until_its_first_event_and_never_overrides_one(invoke, repo) -> None:
    # Given a batch noted as started (every one of its events may be lost: the reconciler must see it)
    repo.note_started("BATCH", "55", "2026-03-01T00:00:00.000000Z")
    assert [i["batch_id"] for i in repo.active_since_before("BATCH", "9999")] == ["55"]
    # When its first event arrives, the event wins; a late note changes nothing
    invoke([batch_event("55", "SUBMITTING", T0, {"totalRuns": 2})])
    repo.note_started("BATCH", "55", "2026-03-02T00:00:00.000000Z")
    (active,) = repo.active_since_before("BATCH", "9999")
    assert active["status"] == "SUBMITTING" and active["started_at"] == "2026-03-01T00:00:00.000000Z"


# ---------------------------------------------------------------------- one record never sinks a batch
def _rejected(table_name: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    return [i for i in items if i["entity"]["S"] == "REJECTED_EVENT"]


def test_a_batch_id_too_long_for_an_index_key_is_rejected_before_any_write(invoke, table_name) -> None:
    # Given a RunBatch event whose batch id (from its ARN) makes an active-index sort key over 1,024 bytes
    bad = batch_event("7" * 1100, "SUBMITTING", T0)
    del bad["detail"]["batchId"]
    # When it is recorded
    assert invoke([bad]) == {"batchItemFailures": []}
    # Then it is REJECTED, and nothing else was written
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    assert [i["entity"]["S"] for i in items] == ["REJECTED_EVENT"]


@pytest.mark.parametrize("field", ["status", "arn"])
def test_a_task_event_whose_key_dynamodb_refuses_is_rejected_and_the_rest_of_the_batch_lands(
        invoke, repo, table_name, field) -> None:
    # Given a task event with a ~1,400-character status or a ~1,550-character task ARN
    bad = task_event("920", "t1", "RUNNING", T0)
    if field == "status":
        bad["detail"]["status"] = "R" * 1400
    else:
        bad["detail"]["arn"] = "arn:aws:omics:us-east-1:123456789012:task/" + "9" * 1510
    # and DynamoDB itself (moto as the oracle) refuses the history item it would make
    from shared.events import parse_omics_event
    from shared.recorder import observe
    item = repo.history_item(observe(parse_omics_event(bad)))  # type: ignore[arg-type]
    from shared.provenance.repository import serialize
    with pytest.raises(repo.client.exceptions.ClientError, match=r"1024|size"):
        repo.client.put_item(TableName=table_name, Item=serialize(item))
    # When it arrives in one SQS batch with good events
    good = [task_event("921", f"t{i}", "RUNNING", T0) for i in range(3)]
    result = invoke([good[0], bad, *good[1:]])
    # Then no record fails (nothing is redelivered), the good events land, the bad one is REJECTED
    assert result == {"batchItemFailures": []}
    view = run_view(repo, "921")
    assert view is not None and len(view.tasks) == 3
    (rejected,) = _rejected(table_name)
    assert "DynamoDB allows 1024" in rejected["reason"]["S"]
    assert len(rejected["body"]["S"].encode()) <= 100_000  # a bounded excerpt


def test_an_omics_event_without_detail_type_is_rejected_not_dropped(invoke, table_name) -> None:
    # Given an aws.omics event that lost its detail-type
    event = run_event("930", "COMPLETED", T0)
    del event["detail-type"]
    # When it is recorded
    assert invoke([event]) == {"batchItemFailures": []}
    # Then it is a REJECTED record saying why, not a silent drop
    (rejected,) = _rejected(table_name)
    assert "detail-type" in rejected["reason"]["S"]


def test_a_run_with_5000_inputs_is_recorded_whole(invoke, omics, repo) -> None:
    # Given a run with 5,000 inputs: its resourceDigests alone are over DynamoDB's 400 KB item limit
    digests = {f"s3://lab-data/cohort-2026/sample-{i:05d}/reads.cram": f"etag-{i:032d}" for i in range(5000)}
    assert len(json.dumps(digests).encode()) > 400 * 1024
    _, stub = omics
    stub.add_response("get_run", get_run_response("940", "COMPLETED", resourceDigests=digests), {"id": "940"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "940"})
    # When its terminal event is recorded
    assert invoke([run_event("940", "COMPLETED", T0)]) == {"batchItemFailures": []}
    # Then the run is enriched and one query returns every digest
    view = run_view(repo, "940")
    assert view is not None and view.summary["details_recorded_at"]
    assert view.summary["resource_digests"] == digests


def test_a_reused_run_id_is_a_new_run_and_deleted_keeps_the_outcome(invoke, omics, repo) -> None:
    """Guide, "Working with HealthOmics runs": HealthOmics reuses the IDs of deleted runs; the run uuid
    identifies a run."""
    _, stub = omics
    # Given run 950 (uuid-a) deleted before its FAILED event arrived; GetRun now answers the id's new run
    stub.add_response("get_run", get_run_response("950", "RUNNING", uuid="uuid-b"), {"id": "950"})
    deleted = run_event("950", "DELETED", T0 + timedelta(minutes=5))
    failed = run_event("950", "FAILED", T0)
    for event in (deleted, failed):
        event["detail"]["uuid"] = "uuid-a"
    reused = run_event("950", "RUNNING", T0 + timedelta(hours=1))
    reused["detail"]["uuid"] = "uuid-b"
    # When the events arrive, DELETED first, then the new run's
    assert invoke([deleted, failed, reused]) == {"batchItemFailures": []}
    # Then both runs are recorded under the id: the deleted one keeps its outcome, the new one is live
    views = run_views(repo, "950")
    assert [(v.run_uuid, v.status, v.outcome) for v in views] == [("uuid-a", "DELETED", "FAILED"),
                                                                  ("uuid-b", "RUNNING", None)]
    assert [i["run_uuid"] for i in repo.active_since_before("RUN", "~")] == ["uuid-b"]
