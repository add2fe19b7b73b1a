"""A rejected sheet's warning log and alarm e-mail name no sample and no S3 key (developers' guide: no sample
ids or S3 keys in INFO logs or alarm messages). Labs name sheets after patients or samples, so the errors
report's location, which is the sheet's key plus a suffix, is as private as the errors in it: the log and the
alarm carry the submission id to look it up by (`autopilot submission show`), the REJECTED record keeps it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from autopilot_cli.app import main
from autopilot_cli.target import TableTarget
from sandbox.moto_speedups import speedups
from tests.launcher_env import BUCKET, LauncherEnv, launcher_env

SAMPLE_NAMED_KEY = "submissions/NA12878-smith-family/trio.csv"


@pytest.fixture
def env() -> Iterator[LauncherEnv]:
    with speedups(), mock_aws(), launcher_env() as environment:
        yield environment


def test_a_rejected_sheet_named_after_a_sample_is_alarmed_without_its_key(env: LauncherEnv,
                                                                            shipped_logs: io.StringIO) -> None:
    env.upload(SAMPLE_NAMED_KEY, "sample_id,input_bam\nNA12878,s3:/bad/uri\n")
    outcome = env.launcher.launch_object(BUCKET, SAMPLE_NAMED_KEY)

    assert outcome is not None and outcome.status == "REJECTED"
    # The report is written beside the sheet and its location recorded, for those allowed to read it.
    assert outcome.errors_report == f"s3://{BUCKET}/{SAMPLE_NAMED_KEY}.errors.json"
    record = env.repository.get_submission(outcome.submission_id)
    assert record is not None and record["errors_report"] == outcome.errors_report
    alarms = env.alarms()
    assert len(alarms) == 1 and alarms[0]["submission_id"] == outcome.submission_id
    shipped = shipped_logs.getvalue() + json.dumps(alarms)
    assert "sheet rejected" in shipped
    for private in ("NA12878", "smith", "trio.csv", SAMPLE_NAMED_KEY):
        assert private not in shipped, private


def test_the_submission_id_leads_to_every_error_and_the_report(env: LauncherEnv) -> None:
    env.upload(SAMPLE_NAMED_KEY, "sample_id,input_bam\nNA12878,s3:/bad/uri\n")
    outcome = env.launcher.launch_object(BUCKET, SAMPLE_NAMED_KEY)
    assert outcome is not None
    target = TableTarget(env.repository.table_name, boto3.Session())

    stdout = io.StringIO()
    code = main(["--json", "submission", "show", outcome.submission_id], target=target, stdout=stdout)

    shown = json.loads(stdout.getvalue())
    assert code == 0 and shown["status"] == "REJECTED" and shown["error_count"] == 1
    assert shown["errors"] == outcome.errors and shown["errors_report"] == outcome.errors_report
    missing = main(["submission", "show", "no-such-submission"], target=target, stdout=io.StringIO(),
                   stderr=(stderr := io.StringIO()))
    assert missing == 3 and "not recorded" in stderr.getvalue()
