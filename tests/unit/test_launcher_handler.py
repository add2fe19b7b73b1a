"""The launcher's Lambda handler: SQS records of S3 and aws.omics events, partial batch failures, and the
direct invocation path, with the handler's environment as the stack sets it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from launcher import handler
from launcher.plan import SheetIdentity
from launcher.store import LauncherStore
from sandbox.moto_speedups import speedups
from tests.factories import FakeLambdaContext, reference_event, sqs_event
from tests.launcher_env import BUCKET, ROLE, LauncherEnv, csv_sheet, launcher_env


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[LauncherEnv]:
    with speedups(), mock_aws(), launcher_env() as environment:
        cache_id = environment.cache_id
        for name, value in {"PROVENANCE_TABLE": environment.repository.table_name, "OMICS_RATE_LIMITS": '{"*": 1000}',
                            "OMICS_ROLE_ARN": ROLE, "RUN_CACHE_ID": cache_id, "WORKFLOW_ID": environment.workflow_id,
                            "RUN_OUTPUT_URI": "s3://lab-outputs/runs/", "SUBMISSIONS_BUCKET": BUCKET,
                            "ALARM_TOPIC_ARN": environment.launcher.alarm_topic_arn or ""}.items():
            monkeypatch.setenv(name, value)
        handler._launchers.clear()
        yield environment


def test_sqs_batch_with_sheet_foreign_and_malformed_events(env: LauncherEnv) -> None:
    env.upload("submissions/a.csv", csv_sheet(2))
    sheet_event = env.object_created("submissions/a.csv")
    foreign = {**reference_event("run-status-change.completed")}
    malformed = {**sheet_event, "id": "bad", "detail": {"bucket": {"name": BUCKET}}}  # no object
    response = handler.lambda_handler(sqs_event([sheet_event, foreign, malformed]), FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    assert env.emu.calls["StartRunBatch"] == 1
    rejected = env.repository.client.scan(TableName=env.repository.table_name,
                                          FilterExpression="entity = :e",
                                          ExpressionAttributeValues={":e": {"S": "REJECTED_EVENT"}})["Items"]
    assert [item["sk"]["S"] for item in rejected] == ["EVENT#bad"]


def test_a_sheet_being_launched_elsewhere_is_retried_later(env: LauncherEnv) -> None:
    env.upload("submissions/b.csv", csv_sheet(2))
    event = sqs_event([env.object_created("submissions/b.csv")])
    # Given another invocation that holds the submission's lease
    obj = LauncherStore(env.s3).read_sheet(BUCKET, "submissions/b.csv", None, 1 << 20)
    identity = SheetIdentity("s3", obj.sha256, bucket=BUCKET, key="submissions/b.csv")
    assert env.repository.acquire_lease(f"submission-{identity.submission_id}", "other-invocation",
                                        2_000_000_000, 900)
    response = handler.lambda_handler(event, FakeLambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert env.emu.calls["StartRunBatch"] == 0


def test_failed_batch_event_through_the_queue(env: LauncherEnv) -> None:
    env.upload("submissions/c.csv", csv_sheet(2))
    handler.lambda_handler(sqs_event([env.object_created("submissions/c.csv")]), FakeLambdaContext())
    (batch_id,) = env.emu.batches
    failed = reference_event("runbatch-status-change.failed")
    failed["detail"]["batchId"] = batch_id
    response = handler.lambda_handler(sqs_event([failed]), FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    assert len(env.alarms()) == 1  # VALIDATION_EXCEPTION: recorded and alarmed, not resubmitted
    assert env.emu.calls["StartRunBatch"] == 1


def test_direct_invocation_returns_the_outcome(env: LauncherEnv) -> None:
    result = handler.lambda_handler({"sheet": "sample_id,bam\nS1,s3://lab/s1.bam\n", "name": "cli.csv"},
                                    FakeLambdaContext())
    assert result["status"] == "SUBMITTED" and result["run_count"] == 1 and result["inline"] is True
    rejected = handler.lambda_handler({"sheet": "", "name": "empty.csv", "dryRun": True}, FakeLambdaContext())
    assert rejected["status"] == "REJECTED" and rejected["errors"] == [
        {"row": None, "column": None, "reason": "sheet is empty"}]
