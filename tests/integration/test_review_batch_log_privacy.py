"""HIPAA: what the one batch starter logs at INFO names no sample and no S3 key. A lab names its sheets as it
likes (often by patient or sample), and the batch name is the sheet's file name; the settings file is an S3
key. The request id (a digest) and the counts tell an operator which batch it was."""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.stub import Stubber

from shared.batch_submit import start_batch
from shared.observability import logger
from shared.provenance.repository import ProvenanceRepository
from tests.factories import REGION

SHEET_NAME = "PT-7781-QX_tumor.csv"
SETTINGS_URI = "s3://lab-submissions/settings/PT-7781-QX/0123abcd.json"


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO:
            self.lines.append(f"{record.getMessage()} {record.__dict__}")


def test_batch_started_is_logged_without_the_sheet_name_or_settings_key(table_name: str) -> None:
    # Given a batch request named after its sheet, its runs in an S3 settings file
    omics = boto3.client("omics", region_name=REGION)
    request: dict[str, Any] = {
        "requestId": "autopilot-sheet-0123456789abcdef", "batchName": SHEET_NAME,
        "defaultRunSetting": {"workflowId": "1234567", "roleArn": "arn:aws:iam::123456789012:role/omics"},
        "batchRunSettings": {"s3UriSettings": SETTINGS_URI}}
    captured = _Captured()
    logger.addHandler(captured)
    level = logger.log_level
    logger.setLevel(logging.INFO)
    try:
        with Stubber(omics) as stub:
            stub.add_response("start_run_batch", {"id": "7000001", "arn": "arn:aws:omics:us-east-1:1:runBatch/7000001",
                                                  "status": "CREATING", "uuid": "u-1"}, request)
            # When it is started
            batch_id = start_batch(omics, ProvenanceRepository(table_name, boto3.client("dynamodb")), request,
                                   origin="launcher")
    finally:
        logger.removeHandler(captured)
        logger.setLevel(level)
    # Then the INFO log says which batch it was, and nothing of the sheet's name or the settings file's key
    assert batch_id == "7000001" and captured.lines
    assert any("7000001" in line and "autopilot-sheet-0123456789abcdef" in line for line in captured.lines)
    assert not [line for line in captured.lines if "PT-7781" in line or "s3://" in line]
