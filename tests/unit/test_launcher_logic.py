"""Launcher: sheets of 1, 100, 101 and 100,000 rows; duplicates; batch-level failures. moto + emulator."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from moto import mock_aws

from launcher import plan
from launcher.logic import classify_batch_failure
from sandbox.moto_speedups import speedups
from sandbox.omics import BatchFault, FaultPlan
from shared.batch_submit import MAX_RECORDED_REQUEST_BYTES, recorded_request_bytes
from shared.events import parse_omics_event
from shared.lineage import TAG_CHAIN, TAG_SAMPLE, TAG_SUBMISSION, chain_id
from shared.provenance import views
from tests.factories import reference_event
from tests.launcher_env import BUCKET, LauncherEnv, csv_sheet, launcher_env


@pytest.fixture
def env() -> Iterator[LauncherEnv]:
    with speedups(), mock_aws(), launcher_env() as environment:
        yield environment


@pytest.mark.parametrize(("rows", "inline"), [(1, True), (100, True), (101, False)])
def test_sheet_becomes_one_batch_inline_up_to_100_runs_then_through_a_settings_file(
    env: LauncherEnv, rows: int, inline: bool
) -> None:
    # Given a sheet of `rows` samples uploaded under submissions/
    key = f"submissions/cohort-{rows}.csv"
    version = env.upload(key, csv_sheet(rows))
    # When the launcher handles its Object Created event
    outcome = env.launcher.launch_object(BUCKET, key, version)
    # Then one StartRunBatch call started one batch with every run, with the run cache attached
    assert outcome is not None and outcome.status == "SUBMITTED"
    assert env.emu.calls["StartRunBatch"] == 1 and len(env.emu.batches) == 1
    assert outcome.inline is inline and outcome.run_count == rows
    batch = env.emu.batches[outcome.batch_id]
    default = batch.default_run_setting
    assert default["workflowId"] == env.workflow_id
    assert default["cacheId"] == env.cache_id and default["cacheBehavior"] == "CACHE_ON_FAILURE"
    assert default["roleArn"].endswith(":role/omics-service")
    entries = batch.inline_settings if inline else env.read_json(batch.s3_uri_settings)
    assert len(entries) == rows
    first = entries[0]
    assert first["runSettingId"] == "S000000"
    assert first["parameters"] == {"input_bam": "s3://lab-data/S000000.bam", "coverage": 30, "call_indels": False,
                                   "intervals": ["chr1", "chr2"]}
    assert first["runTags"] == {"project": "cohort-a", TAG_SUBMISSION: outcome.submission_id,
                                TAG_SAMPLE: "S000000", TAG_CHAIN: chain_id(outcome.submission_id, "S000000")}
    # And provenance maps the submission to the batch and holds the exact request
    submission = env.repository.get_submission(outcome.submission_id)
    assert submission is not None
    assert submission["status"] == "SUBMITTED" and submission["batch_id"] == outcome.batch_id
    assert submission["run_count"] == rows and submission["sheet"]["key"] == key
    request = env.repository.get_batch_request(outcome.batch_id)
    assert request is not None and request["request"]["requestId"] == f"autopilot-sheet-{outcome.submission_id}"
    assert views.batch_view(env.repository, outcome.batch_id).submission["submission_id"] == outcome.submission_id


def test_settings_file_is_content_addressed_and_readable_as_the_batch_runs(env: LauncherEnv) -> None:
    env.upload("submissions/big.csv", csv_sheet(150))
    outcome = env.launcher.launch_object(BUCKET, "submissions/big.csv")
    assert outcome is not None and outcome.settings_uri is not None
    key = outcome.settings_uri.removeprefix(f"s3://{BUCKET}/")
    body = env.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    import hashlib

    assert key == f"batch-settings/{hashlib.sha256(body).hexdigest()}.json"
    # When the batch is processed by the service, every row becomes a run
    env.emu.run_until_idle()
    batch = env.emu.batches[outcome.batch_id]
    assert batch.status == "PROCESSED" and batch.total_runs == 150


@pytest.mark.parametrize(("characters", "inline"), [(600, True), (1_200, False)])
def test_a_100_sample_sheet_with_non_ascii_parameters_is_launched_not_stuck(env: LauncherEnv, characters: int,
                                                                            inline: bool) -> None:
    """A Korean lab's 100 samples with Hangul descriptions (parameters may hold 50,000 bytes a run, the guide,
    2. Runs) were planned inline by counting characters, then refused by start_batch, which measured the request
    as ASCII-escaped JSON (6 bytes a Hangul character) against its provenance record's 350,000 bytes with a bare
    ValueError: no batch, no REJECTED record, the submission left ACCEPTED and the SQS message retried to the
    DLQ. Both now measure the request as DynamoDB records it (UTF-8): 600 characters a run (180 KB) go inline,
    1,200 (360 KB, more than one record holds) through the S3 settings file (s3UriSettings, the guide, 3.)."""
    note = ("환자검체설명" * 200)[:characters]
    rows = ["sample_id,note"] + [f"S{i:03d},{note}{i}" for i in range(100)]
    env.upload("submissions/hangul.csv", "\n".join(rows) + "\n")
    outcome = env.launcher.launch_object(BUCKET, "submissions/hangul.csv")
    assert outcome is not None and outcome.status == "SUBMITTED", outcome
    assert outcome.inline is inline and env.emu.calls["StartRunBatch"] == 1
    batch = env.emu.batches[outcome.batch_id]
    entries = batch.inline_settings if inline else env.read_json(batch.s3_uri_settings)
    assert entries[99]["parameters"]["note"] == f"{note}99"


_DYNAMODB_MAX_ITEM_BYTES = 400 * 1024


def _number_bytes(value: Any) -> int:
    digits = Decimal(str(value)).normalize().as_tuple().digits
    return (len(digits) + 1) // 2 + 1  # 1 byte per two significant digits, plus 1 byte


def _ddb_size(value: Any) -> int:
    """An attribute value's size as DynamoDB counts it ("Item sizes and formats", developer guide): strings in
    UTF-8; numbers 1 byte per two significant digits + 1; null/boolean 1; a list or map 3 bytes, plus 1 byte per
    element, plus its elements (a map's also their names). moto counts no list/map overhead, so it cannot tell."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | Decimal):
        return _number_bytes(value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list):
        return 3 + sum(1 + _ddb_size(v) for v in value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + 1 + _ddb_size(v) for k, v in value.items())
    raise TypeError(type(value))


def test_an_inline_request_within_the_json_measure_fits_the_dynamodb_item_that_records_it() -> None:
    """Seen: 100 samples, each with a list-of-numbers parameter (1,600 one-digit weights: 3.2 KB a run, far under
    the run's 50,000 bytes), measured as compact JSON under MAX_RECORDED_REQUEST_BYTES and planned inline; but
    BATCH#<id>/REQUEST stores the request as a DynamoDB map, where such a list costs 3 bytes an element: the item
    was ~1.5x the measure, over DynamoDB's 400 KB, and in AWS its write failed AFTER StartRunBatch had started
    the batch (unrecorded, the message retried into the DLQ). moto counts no list/map overhead, so the stored
    item is sized here by DynamoDB's documented rules ("DynamoDB item sizes and formats"); the launcher now
    measures the request the same way (recorded_request_bytes) and sends it through a settings file."""
    weights = "[" + ",".join("1" for _ in range(1600)) + "]"
    sheet = "sample_id,input_bam,weights\n" + "".join(
        f"S{i:06d},s3://lab-data/S{i:06d}.bam,\"{weights}\"\n" for i in range(100))
    key = "submissions/panel.csv"
    with speedups(), mock_aws(), launcher_env() as env:
        outcome = env.launcher.launch_object(BUCKET, key, env.upload(key, sheet))
        assert outcome is not None and outcome.status == "SUBMITTED", outcome
        assert outcome.batch_id
        item = env.repository.get_batch_request(outcome.batch_id)
        assert item is not None
        measured = recorded_request_bytes(item["request"])
        size = sum(len(k.encode()) + _ddb_size(v) for k, v in item.items())
        assert outcome.inline is False or size <= _DYNAMODB_MAX_ITEM_BYTES, (
            f"inline request measured {measured} bytes (<= {MAX_RECORDED_REQUEST_BYTES}) but its "
            f"BATCH#/REQUEST item is {size} bytes as DynamoDB counts it, over {_DYNAMODB_MAX_ITEM_BYTES}: "
            "PutItem fails after StartRunBatch started the batch")


def test_a_request_still_too_large_to_record_is_a_recorded_rejection(env: LauncherEnv,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """What start_batch still refuses before calling the service (a request its provenance record cannot hold)
    is a REJECTED submission with the reason, not an exception that leaves it ACCEPTED and retries to the DLQ."""
    monkeypatch.setattr(plan, "recorded_request_bytes", lambda request: 0)  # the plan misjudges: inline
    note = "환자검체설명" * 200
    rows = ["sample_id,note"] + [f"S{i:03d},{note}" for i in range(100)]
    env.upload("submissions/hangul.csv", "\n".join(rows) + "\n")
    outcome = env.launcher.launch_object(BUCKET, "submissions/hangul.csv")
    assert outcome is not None and outcome.status == "REJECTED" and env.emu.calls["StartRunBatch"] == 0
    assert "more than the 350000 its provenance record can hold" in outcome.errors[0]["reason"]
    submission = env.repository.get_submission(outcome.submission_id)
    assert submission is not None and submission["status"] == "REJECTED"


@pytest.mark.slow
def test_one_hundred_thousand_rows_go_through_the_s3_settings_file(env: LauncherEnv) -> None:
    env.upload("submissions/national.csv", csv_sheet(100_000))
    outcome = env.launcher.launch_object(BUCKET, "submissions/national.csv")
    assert outcome is not None and outcome.status == "SUBMITTED" and outcome.run_count == 100_000
    assert outcome.inline is False and env.emu.calls["StartRunBatch"] == 1
    entries = env.read_json(outcome.settings_uri or "")
    assert len(entries) == 100_000 and len({e["runSettingId"] for e in entries}) == 100_000
    assert entries[-1]["runTags"][TAG_SAMPLE] == "S099999"
    uploads = env.s3.list_object_versions(Bucket=BUCKET, Prefix="batch-settings/")["Versions"]
    assert len(uploads) == 1 and uploads[0]["Size"] > 8 << 20  # large enough to need a multipart upload


def test_launching_a_large_sheet_ships_no_s3_location_to_the_logs(shipped_logs: io.StringIO) -> None:
    """Developers' guide: no S3 keys or URIs in INFO logs (shared.batch_submit.request_summary leaves out the
    settings file's key for that reason). Yet every launch of more than 100 runs logged "settings file ready"
    with `uri: s3://<submissions bucket>/batch-settings/<sha>.json` at INFO: an S3 location shipped to
    CloudWatch Logs. It now names the submission; the ACCEPTED record and the batch's request keep the URI."""
    with speedups(), mock_aws(), launcher_env() as env:
        env.upload("submissions/cohort-101.csv", csv_sheet(101))
        outcome = env.launcher.launch_object(BUCKET, "submissions/cohort-101.csv")
        assert outcome is not None and outcome.status == "SUBMITTED" and outcome.inline is False
        submission = env.repository.get_submission(outcome.submission_id)
        assert submission is not None and submission["settings_uri"] == outcome.settings_uri
    logs = shipped_logs.getvalue()
    assert "settings file ready" in logs
    assert [line for line in logs.splitlines() if "s3://" in line or "batch-settings/" in line] == []


def test_duplicate_delivery_and_duplicate_upload_start_exactly_one_batch(env: LauncherEnv) -> None:
    key = "submissions/cohort.csv"
    version = env.upload(key, csv_sheet(120))
    first = env.launcher.launch_object(BUCKET, key, version)
    # the same event delivered again, then the same bytes uploaded again to the same key (a new version)
    again = env.launcher.launch_object(BUCKET, key, version)
    second_version = env.upload(key, csv_sheet(120))
    reupload = env.launcher.launch_object(BUCKET, key, second_version)
    assert first is not None and again is not None and reupload is not None
    assert (again.status, reupload.status) == ("DUPLICATE", "DUPLICATE")
    assert again.batch_id == reupload.batch_id == first.batch_id
    assert env.emu.calls["StartRunBatch"] == 1 and len(env.emu.batches) == 1
    assert len(env.s3.list_object_versions(Bucket=BUCKET, Prefix="batch-settings/")["Versions"]) == 1


def test_a_crash_after_start_is_recovered_by_the_same_request_id(env: LauncherEnv) -> None:
    # Given a first invocation that started the batch but died before recording it
    env.upload("submissions/c.csv", csv_sheet(5))
    original = env.repository.record_submission
    calls = {"n": 0}

    def crash_on_submitted(submission_id, status, recorded_at, attributes, attempt=1):  # type: ignore[no-untyped-def]
        if status == "SUBMITTED" and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("Lambda timed out")
        return original(submission_id, status, recorded_at, attributes, attempt)

    env.repository.record_submission = crash_on_submitted  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        env.launcher.launch_object(BUCKET, "submissions/c.csv")
    # When the message comes back
    outcome = env.launcher.launch_object(BUCKET, "submissions/c.csv")
    # Then the service returned the same batch for the same requestId: still one batch, now recorded
    assert outcome is not None and outcome.status == "SUBMITTED"
    assert env.emu.calls["StartRunBatch"] == 2 and len(env.emu.batches) == 1


def test_same_sheet_under_another_key_is_another_submission(env: LauncherEnv) -> None:
    env.upload("submissions/a.csv", csv_sheet(3))
    env.upload("submissions/b.csv", csv_sheet(3))
    a = env.launcher.launch_object(BUCKET, "submissions/a.csv")
    b = env.launcher.launch_object(BUCKET, "submissions/b.csv")
    assert a is not None and b is not None and a.submission_id != b.submission_id
    assert len(env.emu.batches) == 2


def test_error_reports_and_other_prefixes_are_not_sheets(env: LauncherEnv) -> None:
    env.upload("submissions/x.csv.errors.json", "{}")
    env.upload("elsewhere/x.csv", csv_sheet(1))
    assert env.launcher.launch_object(BUCKET, "submissions/x.csv.errors.json") is None
    assert env.launcher.launch_object(BUCKET, "elsewhere/x.csv") is None
    assert env.omics_calls == 1  # only the fixture's CreateRunCache


def test_direct_document_and_dry_run(env: LauncherEnv) -> None:
    sheet = {"batchName": "cli-cohort", "parameters": {"reference": "s3://lab-ref/hg38.fa"},
             "runs": [{"runSettingId": "P1", "parameters": {"input_bam": "s3://lab-data/p1.bam"}},
                      {"sample_id": "P2", "parameters": {"input_bam": "s3://lab-data/p2.bam"}, "priority": 5}]}
    dry = env.launcher.launch_document(sheet, name="cli-cohort", dry_run=True)
    assert dry.status == "VALID" and dry.run_count == 2 and env.emu.calls["StartRunBatch"] == 0
    assert env.repository.get_submission(dry.submission_id) is None
    outcome = env.launcher.launch_document(json.dumps(sheet), name="cli-cohort")
    assert outcome.status == "SUBMITTED"
    batch = env.emu.batches[outcome.batch_id or ""]
    assert batch.name == "cli-cohort"
    assert batch.default_run_setting["parameters"] == {"reference": "s3://lab-ref/hg38.fa"}
    assert [e["runSettingId"] for e in batch.inline_settings] == ["P1", "P2"]
    assert env.launcher.launch_document(json.dumps(sheet), name="cli-cohort").status == "DUPLICATE"


def test_rejected_sheet_records_every_error_writes_report_alarms_once_and_calls_nothing(env: LauncherEnv) -> None:
    body = "sample_id,input_bam,priority\nS1,s3:/bad/uri,1\nS1,s3://lab/x.bam,high\n"
    key = "submissions/bad.csv"
    env.upload(key, body)
    outcome = env.launcher.launch_object(BUCKET, key)
    again = env.launcher.launch_object(BUCKET, key)  # redelivered
    expected = [
        {"row": 2, "column": "input_bam", "reason": "'s3:/bad/uri' is not a well-formed s3://bucket/key URI"},
        {"row": 3, "column": "priority", "reason": "priority must be a whole number, not 'high'"},
        {"row": 3, "column": "sample_id", "reason": "duplicate runSettingId 'S1' (first at row 2)"},
    ]
    assert outcome is not None and again is not None
    assert outcome.status == again.status == "REJECTED" and outcome.errors == expected
    report = env.read_json(f"s3://{BUCKET}/{key}.errors.json")
    assert report["errors"] == expected and report["error_count"] == 3
    submission = env.repository.get_submission(outcome.submission_id)
    assert submission is not None and submission["status"] == "REJECTED" and submission["errors"] == expected
    assert "batch_pk" not in submission
    alarms = env.alarms()
    assert len(alarms) == 1 and alarms[0]["error_count"] == 3
    assert env.metrics["SheetsRejected"] == 1
    assert env.omics_calls == 1  # the fixture's CreateRunCache only: nothing for the sheet


def test_fixing_a_rejected_sheet_in_place_does_not_leave_its_rejection_report_beside_the_launched_sheet(
        env: LauncherEnv) -> None:
    """A rejected sheet gets `<sheet key>.errors.json` beside it (README: "an `<sheet>.errors.json` report is
    written beside it"). The user fixed the sheet and uploaded it again under the same key; it was launched, but
    the report beside it still said REJECTED with the old errors and named no sheet version: the user, or the
    lab's automation watching for `.errors.json`, took the fixed sheet for refused and uploaded it elsewhere (a
    second batch of the same samples). The report is now replaced by one naming the launched submission and
    the sheet version each report is about (not deleted: the launcher deletes nothing in the bucket)."""
    key = "submissions/cohort.csv"
    bad = env.upload(key, csv_sheet(3).replace("S000001", "S000000"))  # a duplicate runSettingId
    first = env.launcher.launch_object(BUCKET, key, bad)
    assert first is not None and first.status == "REJECTED"
    fixed = env.upload(key, csv_sheet(3))
    second = env.launcher.launch_object(BUCKET, key, fixed)
    assert second is not None and second.status == "SUBMITTED"
    report = env.read_json(f"s3://{BUCKET}/{key}.errors.json")
    assert (report["status"], report["submission_id"], report["batch_id"], report["errors"]) == (
        "SUBMITTED", second.submission_id, second.batch_id, [])
    assert report["sheet_version_id"] == fixed and report["supersedes"] == {"submission_id": first.submission_id,
                                                                           "status": "REJECTED"}
    # a sheet never rejected gets no report
    env.upload("submissions/other.csv", csv_sheet(2))
    assert env.launcher.launch_object(BUCKET, "submissions/other.csv") is not None
    assert "Contents" not in env.s3.list_objects_v2(Bucket=BUCKET, Prefix="submissions/other.csv.errors.json")


def test_a_report_rejecting_the_same_submission_is_superseded_when_it_launches() -> None:
    """Seen: a sheet refused by HealthOmics for a cause outside the sheet (its workflow not ACTIVE yet:
    ResourceNotFoundException; likewise AccessDenied before an IAM fix) was REJECTED with `<key>.errors.json`;
    once the cause was fixed the same bytes, uploaded again, launched under the same submission, but the report
    beside the sheet kept saying REJECTED (a report of the launched submission was never superseded), and a user
    or automation reading it would upload again or give up. Rests on the report's contract (it tells what became
    of the sheet beside it): replaced unless it already names this launch (submission, SUBMITTED, batch)."""
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env() as env:
        env.emu.workflows[env.workflow_id].status = "INACTIVE"
        first = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert first is not None and first.status == "REJECTED"
        env.emu.workflows[env.workflow_id].status = "ACTIVE"
        second = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert second is not None and second.status == "SUBMITTED"
        assert second.submission_id == first.submission_id
        report = json.loads(env.s3.get_object(Bucket=BUCKET, Key=key + ".errors.json")["Body"].read())
        assert report["status"] != "REJECTED", (
            f"submission {second.submission_id} is SUBMITTED (batch {second.batch_id}) but the report beside the "
            f"sheet still says {report['status']}: {report['errors']}")


def test_service_refusal_is_a_rejection_with_the_service_message() -> None:
    # the deployment names its storage, so nothing asks for the workflow's default before StartRunBatch
    with speedups(), mock_aws(), launcher_env(workflow_id="4242", storage_type="STATIC", storage_capacity=1200) as env:
        env.upload("submissions/c.csv", csv_sheet(2))
        outcome = env.launcher.launch_object(BUCKET, "submissions/c.csv")
    assert outcome is not None and outcome.status == "REJECTED"
    reason = "HealthOmics refused the batch: ResourceNotFoundException: Workflow 4242 not found"
    assert outcome.errors == [{"row": None, "column": None, "reason": reason}]


def test_a_workflow_the_service_does_not_know_is_a_rejection_with_the_service_message() -> None:
    # when the launcher first asks for the workflow's default storage (no storageType named anywhere)
    with speedups(), mock_aws(), launcher_env(workflow_id="4242") as env:
        env.upload("submissions/c.csv", csv_sheet(2))
        outcome = env.launcher.launch_object(BUCKET, "submissions/c.csv")
    assert outcome is not None and outcome.status == "REJECTED"
    reason = "workflow 4242: HealthOmics refused GetWorkflow: ResourceNotFoundException: Workflow 4242 not found"
    assert outcome.errors == [{"row": None, "column": "workflowId", "reason": reason}]


@pytest.mark.parametrize(("reason", "message", "kind"), [
    ("INTERNAL_SERVER_EXCEPTION", "The service encountered a transient error. Retry the batch.", "TRANSIENT"),
    ("InternalServerException", None, "TRANSIENT"),
    ("SERVICE_ERROR", None, "TRANSIENT"),
    ("VALIDATION_EXCEPTION", "Expected 100 unique runSettingIds but there were 99", "VALIDATION"),
    ("VALIDATION_EXCEPTION", 'Expected s3UriConfigs etag: "a" but was: "b". s3UriConfigs was changed after '
                             "calling StartRunBatch.", "SETTINGS_CHANGED"),
    ("Batch has 100001 runs but 100000 runs is the max.", None, "UNKNOWN"),
    (None, "The service encountered a temporary error. Retry the batch.", "TRANSIENT"),
])
def test_batch_failure_classification(reason: str | None, message: str | None, kind: str) -> None:
    assert classify_batch_failure(reason, message) == kind


def _failed_event(batch_id: str, reason: str, message: str, event_id: str = "e1") -> object:
    raw = reference_event("runbatch-status-change.failed")
    raw["id"] = event_id
    raw["detail"].update({"batchId": batch_id, "arn": f"arn:aws:omics:us-east-1:123456789012:runBatch/{batch_id}",
                          "failureReason": reason, "failureMessage": message})
    return parse_omics_event(raw)


def test_transient_batch_failure_is_resubmitted_once_with_the_same_request() -> None:
    faults = FaultPlan(batches=[BatchFault(predicate=lambda batch_id, name: batch_id == first_id[0])])
    first_id: list[str] = [""]
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        env.upload("submissions/t.csv", csv_sheet(3))
        outcome = env.launcher.launch_object(BUCKET, "submissions/t.csv")
        assert outcome is not None and outcome.batch_id
        first_id[0] = outcome.batch_id
        env.emu.run_until_idle()
        assert env.emu.batches[outcome.batch_id].status == "FAILED"
        event = _failed_event(outcome.batch_id, "INTERNAL_SERVER_EXCEPTION",
                              "The service encountered a transient error. Retry the batch.")
        result = env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
        duplicate = env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
        request = env.repository.get_batch_request(outcome.batch_id)
        assert result.kind == "TRANSIENT" and duplicate.action == "ALREADY_HANDLED"
        assert env.emu.calls["StartRunBatch"] == 2  # the original and exactly one resubmission
        assert request is not None and request["request"]["requestId"] == outcome.request_id
        if result.new_batch_id != outcome.batch_id:  # a service that starts a new batch for the same requestId
            assert result.action == "RESUBMITTED"
            link = env.repository.get_batch_link(result.new_batch_id or "")
            assert link is not None and link["root_batch_id"] == outcome.batch_id
        else:  # a service that answers with the failed batch: recorded and alarmed, never looped
            assert result.action == "RECORDED" and len(env.alarms()) == 1


def test_validation_batch_failure_is_recorded_and_alarmed_once_without_calls(env: LauncherEnv) -> None:
    env.upload("submissions/v.csv", csv_sheet(2))
    outcome = env.launcher.launch_object(BUCKET, "submissions/v.csv")
    assert outcome is not None and outcome.batch_id
    calls = dict(env.emu.calls)
    event = _failed_event(outcome.batch_id, "VALIDATION_EXCEPTION", "Expected 2 unique runSettingIds but there were 1")
    first = env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
    second = env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
    assert (first.kind, first.action, second.action) == ("VALIDATION", "RECORDED", "ALREADY_HANDLED")
    # Nothing started; only GetBatch, which must prove the batch FAILED before its submission is reopened.
    assert {k: v - calls.get(k, 0) for k, v in env.emu.calls.items() if v != calls.get(k, 0)} == {"GetBatch": 2}
    submission = env.repository.get_submission(outcome.submission_id)
    assert submission is not None and submission["batch_failure"]["reason"] == "VALIDATION_EXCEPTION"
    assert submission["batch_failure"]["message"] == "Expected 2 unique runSettingIds but there were 1"
    # The alarm e-mail carries the reason, not the service's free text (it can name samples and S3 keys).
    alarms = env.alarms()
    assert len(alarms) == 1 and alarms[0]["reason"] == "VALIDATION_EXCEPTION" and "message" not in alarms[0]


def test_a_sheet_whose_batch_failed_validation_can_be_launched_again() -> None:
    """A batch FAILED as a whole for a validation reason (the guide, batch-level failures: not retryable, fix
    the configuration and submit a new batch). The launcher recorded and alarmed it but the submission stayed
    SUBMITTED: once the cause was fixed and the same sheet uploaded again, the launcher answered DUPLICATE with
    the failed batch and started nothing (its requestId, from the same bytes, would return the failed batch
    anyway): the samples never ran. Now the submission becomes FAILED, a new upload of the sheet is launch
    attempt 2 with its own requestId (exactly once: the same upload delivered again, or another upload, is a
    duplicate of it), and the first batch's late failure reopens nothing."""
    faults = FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION", message="Invalid JSON format in run "
                                           "configuration", times=1)])
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        launched = env.upload(key, csv_sheet(3))
        first = env.launcher.launch_object(BUCKET, key, launched)
        assert first is not None and first.status == "SUBMITTED" and first.batch_id
        env.emu.run_until_idle()
        assert env.emu.batches[first.batch_id].status == "FAILED"
        event = _failed_event(first.batch_id, "VALIDATION_EXCEPTION", "Invalid JSON format in run configuration")
        handled = env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
        assert (handled.kind, handled.action) == ("VALIDATION", "RECORDED")
        assert (env.repository.get_submission(first.submission_id) or {}).get("status") == "FAILED"
        # the upload that was launched, delivered again, is still a duplicate
        again = env.launcher.launch_object(BUCKET, key, launched)
        assert again is not None and (again.status, again.batch_id) == ("DUPLICATE", first.batch_id)
        # the cause fixed, the same sheet uploaded again: a new batch, with a new requestId
        reupload = env.upload(key, csv_sheet(3))
        second = env.launcher.launch_object(BUCKET, key, reupload)
        assert second is not None and second.status == "SUBMITTED" and second.batch_id != first.batch_id
        assert second.submission_id == first.submission_id and second.attempt == 2
        assert second.request_id == f"autopilot-sheet-{first.submission_id}-2"
        env.emu.run_until_idle()
        assert env.emu.batches[second.batch_id].status == "PROCESSED"
        # exactly once: the new upload delivered again, and yet another upload, start nothing
        for version in (reupload, env.upload(key, csv_sheet(3))):
            duplicate = env.launcher.launch_object(BUCKET, key, version)
            assert duplicate is not None and (duplicate.status, duplicate.batch_id) == ("DUPLICATE", second.batch_id)
        # and the first batch's failure delivered late does not reopen the submission
        env.launcher.on_batch_failed(event)  # type: ignore[arg-type]
        submission = env.repository.get_submission(first.submission_id) or {}
        assert (submission["status"], submission["batch_id"], submission["attempt"]) == ("SUBMITTED",
                                                                                        second.batch_id, 2)
        assert env.emu.calls["StartRunBatch"] == 2


def test_the_failed_first_batch_keeps_its_submission_after_the_sheet_is_relaunched() -> None:
    """Seen: `autopilot batch show <B1>` (the batch the failure alarm names) showed the submission that started
    it until the fixed sheet was uploaded again (launch attempt 2, batch B2): the one SUBMISSION#<id>/SUMMARY
    item's batch-index keys moved to B2, so B1's view had no submission at all, and nothing said B1 was attempt
    1 of that sheet. Now each launch attempt keeps its own record under its batch (SUBMISSION#<id>/ATTEMPT#<n>)."""
    faults = FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION", message="Invalid JSON", times=1)])
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        # Given a sheet whose first batch failed validation as a whole
        first = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(2)))
        assert first is not None and first.batch_id
        env.emu.run_until_idle()
        env.launcher.on_batch_failed(_failed_event(first.batch_id, "VALIDATION_EXCEPTION", "Invalid JSON"))  # type: ignore[arg-type]
        # When the fixed sheet is launched again, as a new batch
        second = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(2)))
        assert second is not None and second.status == "SUBMITTED" and second.batch_id != first.batch_id
        # Then each batch's view shows the submission, at the launch attempt that started that batch
        shown = {batch: views.batch_view(env.repository, str(batch)).submission for batch in (first.batch_id,
                                                                                            second.batch_id)}
        seen = {b: s and (s["submission_id"], int(s.get("attempt", 1)), s["status"]) for b, s in shown.items()}
        assert seen == {first.batch_id: (first.submission_id, 1, "FAILED"),
                        second.batch_id: (first.submission_id, 2, "SUBMITTED")}, (
            f"submission {first.submission_id} relaunched as batch {second.batch_id}: batch views show {seen}")


def test_failed_batch_not_started_here_is_left_alone(env: LauncherEnv) -> None:
    result = env.launcher.on_batch_failed(_failed_event("7123456", "INTERNAL_SERVER_EXCEPTION", "x"))  # type: ignore[arg-type]
    assert (result.kind, result.action) == ("NOT_OURS", "NONE")



def test_a_launched_batch_and_its_runs_carry_the_stacks_identity(env: LauncherEnv,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the launcher of stack "omics-autopilot-dev" (AUTOPILOT_STACK_ID, set by the stack),
    When it launches a sheet,
    Then the batch and every run carry autopilot:stack, so another autopilot stack in the account
    (whose runs carry autopilot:submission as well) never takes them for its own (docs/RERUN_POLICY.md)."""
    monkeypatch.setenv("AUTOPILOT_STACK_ID", "omics-autopilot-dev")
    env.upload("submissions/cohort-2.csv", csv_sheet(2))
    outcome = env.launcher.launch_object(BUCKET, "submissions/cohort-2.csv")
    assert outcome is not None and outcome.status == "SUBMITTED"
    batch = env.emu.batches[outcome.batch_id]
    assert batch.tags["autopilot:stack"] == "omics-autopilot-dev"
    assert [e["runTags"]["autopilot:stack"] for e in batch.inline_settings] == ["omics-autopilot-dev"] * 2
