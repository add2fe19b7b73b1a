"""An error's text can quote the request's values (a HealthOmics validation message names the parameter
value it refused: an S3 URI, a sample name). At INFO and above the functions log the error's type, code
and operation only; the text goes to DEBUG and, where it is provenance, to DynamoDB."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
from botocore.exceptions import ClientError
from reconciler.logic import Reconciler, SweepReport

import rerunner.handler as rerunner_handler
from rerunner.dal import _domain_error
from shared.errors import RetryableError
from shared.observability import error_fields
from shared.provenance.repository import ProvenanceRepository
from tests.factories import FakeLambdaContext, reference_event, sqs_event

URI = "s3://lab-bucket/cohort-7/NA12878.bam"
SAMPLE = "NA12878"


def _client_error(code: str = "ValidationException", operation: str = "GetRun") -> ClientError:
    message = f"Parameter value {URI} for input_bam is not accessible"
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                       operation)


def test_error_fields_name_the_code_and_operation_not_the_text() -> None:
    try:
        raise _domain_error(_client_error(), f"GetObject {URI}") from _client_error()
    except Exception as error:
        fields = error_fields(error)
    assert fields == {"error_type": "PermanentError", "error_code": "ValidationException", "operation": "GetRun"}


def test_the_rerunner_logs_a_permanent_error_without_its_text(table_name, monkeypatch, shipped_logs) -> None:
    repository = ProvenanceRepository(table_name)
    cause = _client_error(operation="GetObject")

    def handle(_: Any) -> None:
        raise _domain_error(cause, f"GetObject {URI}") from cause

    monkeypatch.setattr(rerunner_handler, "_rerunner", lambda: SimpleNamespace(repository=repository, handle=handle))
    result = rerunner_handler.lambda_handler(sqs_event([reference_event("runbatch-status-change.processed")]),
                                             FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    out = shipped_logs.getvalue()
    assert "re-run work cannot succeed" in out and '"error_code":"ValidationException"' in out
    assert '"operation":"GetObject"' in out
    assert URI not in out and SAMPLE not in out
    # the rejected-event record (provenance) keeps the whole text
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    (rejected,) = [i for i in items if i.get("entity", {}).get("S") == "REJECTED_EVENT"]
    assert URI in rejected["reason"]["S"]


def test_the_reconciler_logs_a_deferred_entity_without_the_error_text(shipped_logs) -> None:
    def reconcile() -> None:
        cause = _client_error(code="ThrottlingException")
        raise RetryableError(f"GetRun: ThrottlingException: {cause}") from cause

    report = SweepReport(now="", threshold="")
    assert Reconciler._item(report, reconcile) is True
    out = shipped_logs.getvalue()
    assert "stale entity left for the next sweep" in out and '"error_code":"ThrottlingException"' in out
    assert URI not in out


