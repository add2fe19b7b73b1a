"""An error's text can quote the request's values (a HealthOmics validation message names the parameter
value it refused: an S3 URI, a sample name). At INFO and above the functions log the error's type, code
and operation only; the text goes to DEBUG and, where it is provenance, to DynamoDB."""

from __future__ import annotations

import traceback
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
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




def test_an_error_that_escapes_a_handler_leaves_its_text_behind(monkeypatch, shipped_logs) -> None:
    """Lambda's runtime writes an unhandled exception's type, message and stack frames into the function's log
    at ERROR (and X-Ray records it with its message). The pruner's scheduled start raised one listing each
    cache's error text; a direct invocation's ValidationError quotes the payload. What leaves a handler names
    the error's type, code and operation; the original stays on the exception for a caller in-process."""
    import pruner.handler as pruner_handler

    cause = _client_error(operation="GetRunCache")

    def start(_: Any) -> None:
        raise RuntimeError(f"prune passes could not start for 1 cache(s): cache-1: {cause}") from cause

    monkeypatch.setattr(pruner_handler, "_pruner", lambda: SimpleNamespace(handle=start))
    with pytest.raises(Exception) as raised:
        pruner_handler.lambda_handler({}, FakeLambdaContext())
    escaped = raised.value
    printed = "".join(traceback.format_exception(escaped))  # the runtime prints less: message and frames
    assert URI not in printed and SAMPLE not in printed
    assert "RuntimeError" in str(escaped) and "ValidationException" in str(escaped) and "GetRunCache" in str(escaped)
    out = shipped_logs.getvalue()
    assert "invocation failed" in out and '"error_type":"RuntimeError"' in out and URI not in out
    assert escaped.__context__ is not None and URI in str(escaped.__context__)  # for tests and the sandbox



def test_with_the_x_ray_sdk_on_the_tracer_gets_the_guarded_handler() -> None:
    """ENABLE_XRAY_SDK=true: Powertools' Tracer records what leaves the handler it wraps (an exception with its
    message): it must wrap the guard, not the handler itself."""
    from shared.errors import HandlerFailed
    from shared.observability import _Tracer

    wrapped: list[Any] = []

    class RecordingTracer:
        def capture_lambda_handler(self, handler: Any) -> Any:
            wrapped.append(handler)
            return handler

    tracer = _Tracer()
    tracer._tracer = RecordingTracer()

    def handler(event: Any, context: Any) -> None:
        raise RuntimeError(f"no access to {URI}")

    tracer.capture_lambda_handler(handler)
    (traced,) = wrapped
    with pytest.raises(HandlerFailed) as raised:
        traced({}, FakeLambdaContext())
    assert URI not in str(raised.value)
