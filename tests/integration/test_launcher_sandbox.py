"""The launcher in the sandbox (sandbox.local.LocalAccount: resources from the synthesized template, real
handlers behind their queues): upload -> batch runs in the emulator -> provenance maps every runSettingId
to its runId and final status. Also the direct invocation path the CLI uses, and SQS handler semantics."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from sandbox.local import LocalAccount
from sandbox.omics import FaultPlan, OmicsEmulator, OutputSpec, RunFault, TaskSpec
from shared.api_limits import api_limits
from shared.provenance.views import batch_view
from tests.launcher_env import csv_sheet

# One task: these tests are about sheets, batches and their members; more tasks would only add events to record.
TASKS = [TaskSpec("call", (), 300.0, (OutputSpec("vcf", 4096),))]

pytestmark = pytest.mark.slow


def _prepare(emulator: OmicsEmulator) -> dict[str, Any]:
    return {"workflowId": emulator.register_workflow("germline", tasks=TASKS)}


# A few rows go inline; one row more than StartRunBatch's inlineSettings holds (botocore's model) goes through
# an S3 settings file: the smallest sheet that shows it.
@pytest.mark.parametrize("rows", [3, api_limits().inline_max + 1])
def test_uploaded_sheet_becomes_a_batch_whose_every_sample_is_in_provenance(rows: int) -> None:
    faults = FaultPlan(runs=[RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="call", run_setting_id="S000001")])
    with LocalAccount(prepare=_prepare, faults=faults) as account:
        bucket = account.outputs["SubmissionsBucketName"]
        # Given a sheet uploaded where the launcher listens
        account.s3.put_object(Bucket=bucket, Key="submissions/cohort.csv", Body=csv_sheet(rows).encode())
        # When the account runs until nothing is left to do
        assert account.run_until_quiet()
        # Then one batch ran every row, and provenance maps each runSettingId to its run and final status
        (batch,) = account.emulator.batches.values()
        assert batch.status == "PROCESSED" and batch.total_runs == rows
        truth = {e.run_setting_id: account.emulator.runs[e.run_id] for e in batch.entries}
        view = batch_view(account.repository, batch.id)
        assert view.submission is not None and view.submission["status"] == "SUBMITTED"
        assert view.submission["run_count"] == rows and view.submission["sheet"]["key"] == "submissions/cohort.csv"
        first = {sample: outcome.attempts[0] for sample, outcome in view.samples.items()}
        assert set(first) == set(truth) and len(first) == rows
        assert {s: (a.run_id, a.status) for s, a in first.items()} == {
            s: (run.id, run.status) for s, run in truth.items()}
        assert first["S000001"].status == "FAILED" and first["S000000"].status == "COMPLETED"
        request = account.repository.get_batch_request(batch.id)
        assert request is not None and request["origin"] == "launcher"
        assert ("inlineSettings" in request["request"]["batchRunSettings"]) is (rows <= api_limits().inline_max)
        # a second delivery of the same upload (same bytes, same key) starts nothing
        account.s3.put_object(Bucket=bucket, Key="submissions/cohort.csv", Body=csv_sheet(rows).encode())
        assert account.run_until_quiet()
        assert len(account.emulator.batches) == 1
        assert account.dlq_messages() == 0


def test_rejected_upload_gets_a_report_and_starts_nothing() -> None:
    with LocalAccount(prepare=_prepare) as account:
        bucket = account.outputs["SubmissionsBucketName"]
        account.s3.put_object(Bucket=bucket, Key="submissions/bad.csv", Body=b"sample_id,bam\nS1,s3:/x\nS1,\n")
        assert account.run_until_quiet()
        report = json.loads(account.s3.get_object(Bucket=bucket, Key="submissions/bad.csv.errors.json")["Body"].read())
        assert report["status"] == "REJECTED" and [e["reason"] for e in report["errors"]] == [
            "'s3:/x' is not a well-formed s3://bucket/key URI", "duplicate runSettingId 'S1' (first at row 2)"]
        assert account.emulator.calls["StartRunBatch"] == 0 and not account.emulator.batches
        assert account.dlq_messages() == 0


def test_direct_invocation_is_the_cli_path() -> None:
    sheet = {"batchName": "cli", "runs": [{"runSettingId": f"P{i}", "parameters": {"sample": f"P{i}"}}
                                          for i in range(3)]}
    with LocalAccount(prepare=_prepare) as account:
        dry = account.invoke("launcher", {"sheet": sheet, "name": "cli", "dryRun": True})
        assert dry["status"] == "VALID" and dry["run_count"] == 3 and not account.emulator.batches
        outcome = account.invoke("launcher", {"sheet": json.dumps(sheet), "name": "cli", "format": "json"})
        assert outcome["status"] == "SUBMITTED"
        assert account.run_until_quiet()
        samples = batch_view(account.repository, outcome["batch_id"]).samples
        assert {s: o.final.status for s, o in samples.items()} == {f"P{i}": "COMPLETED" for i in range(3)}


def test_project_cli_submit_dry_run_then_submit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    from pathlib import Path

    from autopilot_cli.app import SandboxTarget, main

    example = Path(__file__).resolve().parents[2] / "examples" / "sheets" / "germline-cohort.csv"
    with LocalAccount(prepare=_prepare) as account:
        target = SandboxTarget(account)

        def cli(*argv: str) -> dict[str, Any]:
            stdout, stderr = io.StringIO(), io.StringIO()
            assert main(["--json", *argv], target=target, stdout=stdout, stderr=stderr) == 0, stderr.getvalue()
            return json.loads(stdout.getvalue())  # type: ignore[no-any-return]

        dry = cli("submit", str(example), "--dry-run")
        assert dry["status"] == "VALID" and dry["run_count"] == 3 and not account.emulator.batches
        done = cli("submit", str(example))
        assert done["status"] == "SUBMITTED" and list(account.emulator.batches) == [done["batch_id"]]
        assert cli("submit", str(example))["status"] == "DUPLICATE"
        bad = tmp_path / "bad.csv"
        bad.write_text("sample_id,storageType\nS1,STATIC\n")
        stdout, stderr = io.StringIO(), io.StringIO()
        assert main(["--json", "submit", str(bad)], target=target, stdout=stdout, stderr=stderr) == 1
        assert "storageType is a batch-level setting and cannot vary per run" in stderr.getvalue()


class _Captured(logging.Handler):
    """Every log record of every function, with its extra fields, as CloudWatch Logs would keep it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


def test_a_rejected_sheet_leaves_no_sample_id_or_s3_key_in_logs_or_alarm_messages() -> None:
    """HIPAA: errors of a rejected sheet name samples and S3 locations. Logs at INFO and the alarm e-mail
    carry counts and the report's location only (issue 11, "Privacy")."""
    from shared.observability import logger

    samples = [f"PT-{n}-QX" for n in (7781, 7782, 7783)]
    keys = [f"s3://clinic-data/patients/{s}.bam" for s in samples]
    bad_output = "s3://exfil-bucket/patients/"
    body = "sample_id,input_bam,outputUri\n" + "\n".join(
        [f"{samples[0]},{keys[0]},", f"{samples[1]},{keys[1]},{bad_output}", f"{samples[1]},s3:/{keys[2][5:]},",
         f"{samples[2]}\u200b,{keys[2]},"]) + "\n"
    captured = _Captured()
    logger.addHandler(captured)
    level = logger.log_level
    logger.setLevel(logging.INFO)
    try:
        with LocalAccount(prepare=_prepare) as account:
            sqs = account.sqs
            inbox = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
            inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            boto3.client("sns", region_name="us-east-1").subscribe(
                TopicArn=account.outputs["AlarmTopicArn"], Protocol="sqs", Endpoint=inbox_arn)
            bucket = account.outputs["SubmissionsBucketName"]
            # Given a cohort's sheet that is rejected for several reasons, each naming a sample or a key
            account.s3.put_object(Bucket=bucket, Key="submissions/clinic.csv", Body=body.encode())
            # When the account runs it
            assert account.run_until_quiet()
            # Then the report beside the sheet holds the details (so a leak would have had them to leak) ...
            report = json.loads(account.s3.get_object(Bucket=bucket, Key="submissions/clinic.csv.errors.json")
                                ["Body"].read())
            assert report["error_count"] == 4 and samples[1] in json.dumps(report)
            alarms = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)
                      .get("Messages", [])]
            output = list(account.lambda_output.lines)
            assert account.dlq_messages() == 0 and not account.emulator.batches
    finally:
        logger.removeHandler(captured)
        logger.setLevel(level)
    # ... and no log line of any function, nor any alarm (subject or message), names a sample or a key
    assert alarms and captured.lines
    alarm_text = [json.dumps(alarm) for alarm in alarms]
    assert all(json.loads(alarm["Message"])["error_count"] == 4 for alarm in alarms)
    for text in (*captured.lines, *output, *alarm_text):
        for secret in (*samples, *keys, *(k.split("/", 3)[3] for k in keys), bad_output):
            assert secret not in text, (secret, text[:300])
