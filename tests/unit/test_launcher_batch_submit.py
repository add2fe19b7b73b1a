"""shared.batch_submit.start_batch: the one way a batch is started (launcher, re-runner, resubmission)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from sandbox.omics import FaultPlan, OmicsEmulator, VirtualClock, mock_omics
from shared.batch_submit import (
    MAX_RECORDED_REQUEST_BYTES,
    BatchRejected,
    RequestTooLarge,
    recorded_request_bytes,
    start_batch,
)
from shared.errors import RetryableError
from shared.omics import omics_client
from shared.provenance.repository import ProvenanceRepository

ROLE = "arn:aws:iam::123456789012:role/omics-service"


def _request(workflow_id: str, request_id: str = "sheet-abc", runs: int = 2) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "batchName": "cohort",
        "defaultRunSetting": {"workflowId": workflow_id, "roleArn": ROLE, "outputUri": "s3://out/runs/"},
        "batchRunSettings": {"inlineSettings": [{"runSettingId": f"S{i}", "parameters": {"x": i}}
                                                for i in range(runs)]},
    }


@pytest.fixture
def repository(table_name: str) -> ProvenanceRepository:
    return ProvenanceRepository(table_name)


def _no_sleep(_: float) -> None:
    return None


def _emulator(faults: FaultPlan | None = None) -> OmicsEmulator:
    return OmicsEmulator(clock=VirtualClock(), s3=boto3.client("s3"), events=boto3.client("events"),
                         faults=faults)


def test_starts_one_batch_and_records_request_and_submission(repository: ProvenanceRepository) -> None:
    # Given an emulated account with one workflow
    emu = _emulator()
    workflow_id = emu.register_workflow("wgs")
    with mock_omics(emu):
        omics = omics_client(100)
        # When the batch is started twice with the same request (a redelivered message)
        first = start_batch(omics, repository, _request(workflow_id), "launcher", "sub-1", sleep=_no_sleep)
        second = start_batch(omics, repository, _request(workflow_id), "launcher", "sub-1", sleep=_no_sleep)
    # Then exactly one batch exists, and provenance holds its exact request and the submission link
    assert first == second
    assert len(emu.batches) == 1
    recorded = repository.get_batch_request(first)
    assert recorded is not None
    assert recorded["origin"] == "launcher" and recorded["request_id"] == "sheet-abc"
    assert recorded["request"] == _request(workflow_id)
    submission = repository.get_submission("sub-1")
    assert submission is not None
    assert submission["status"] == "SUBMITTED" and submission["batch_id"] == first
    assert submission["batch_pk"] == f"BATCH#{first}" and submission["batch_sk"] == "SUBMISSION#sub-1"


def _retrying_client_without_real_sleep(monkeypatch: pytest.MonkeyPatch) -> Any:
    """botocore's own retries (standard mode, the same retry decisions as the deployed adaptive mode
    without its client-side rate limiter) with their back-off sleeps skipped: a test never waits."""
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _seconds: None)
    return boto3.client("omics", config=Config(retries={"mode": "standard", "max_attempts": 10}))


def test_throttled_start_is_retried_with_the_same_request_id_and_creates_one_batch(
    repository: ProvenanceRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a service that throttles every StartRunBatch call at first
    emu = _emulator(FaultPlan(throttle={"StartRunBatch": 1.0}))
    workflow_id = emu.register_workflow("wgs")
    omics = _retrying_client_without_real_sleep(monkeypatch)
    seen: list[str] = []
    omics.meta.events.register("provide-client-params.omics.StartRunBatch",
                               lambda params, **_: seen.append(params["requestId"]))
    slept: list[float] = []

    def recover(seconds: float) -> None:  # the throttling ends after our first back-off
        slept.append(seconds)
        emu.faults.throttle.clear()

    with mock_omics(emu):
        batch_id = start_batch(omics, repository, _request(workflow_id), "launcher", None, sleep=recover)
    # Then botocore and our loop retried the very same request; exactly one batch was created
    assert emu.calls["StartRunBatch"] > 2
    assert set(seen) == {"sheet-abc"} and len(seen) == 2
    assert len(slept) == 1
    assert list(emu.batches) == [batch_id]


def test_throttling_that_never_ends_is_retryable_and_records_nothing(
    repository: ProvenanceRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = _emulator(FaultPlan(throttle={"StartRunBatch": 1.0}))
    workflow_id = emu.register_workflow("wgs")
    omics = _retrying_client_without_real_sleep(monkeypatch)
    with mock_omics(emu), pytest.raises(RetryableError, match="ThrottlingException after 3 attempts"):
        start_batch(omics, repository, _request(workflow_id), "launcher", "sub-2", sleep=lambda _: None)
    assert not emu.batches
    assert repository.get_submission("sub-2") is None


def test_validation_error_is_permanent_with_the_service_message(repository: ProvenanceRepository) -> None:
    emu = _emulator()
    with mock_omics(emu), pytest.raises(BatchRejected) as raised:
        start_batch(omics_client(100), repository, _request("999"), "rerunner", None, sleep=lambda _: None)
    assert raised.value.code == "ResourceNotFoundException"
    assert "Workflow 999 not found" in raised.value.message


def test_stubbed_client_sees_the_exact_request() -> None:
    # botocore's Stubber validates the request against the service model
    client = boto3.client("omics")
    request = _request("1234567")
    repository = _MemoryRepository()
    with Stubber(client) as stub:
        stub.add_client_error("start_run_batch", "ThrottlingException", "Rate exceeded", 400,
                              expected_params=request)
        response = {"id": "7000001", "arn": "arn:aws:omics:us-east-1:1:runBatch/7000001",
                    "status": "CREATING",
                    "uuid": "u-1"}
        stub.add_response("start_run_batch", response, expected_params=request)
        batch_id = start_batch(client, repository, request, "launcher", "sub-3", sleep=lambda _: None)
    assert batch_id == "7000001"
    assert repository.requests == [("7000001", request, "launcher")]
    assert repository.submissions == [("sub-3", "SUBMITTED", "7000001")]
    assert repository.started == [("BATCH", "7000001")]  # in flight for the reconciler before any event


def test_request_too_large_to_record_is_refused_before_any_call() -> None:
    client = boto3.client("omics")
    request = _request("1234567", runs=100)
    for entry in request["batchRunSettings"]["inlineSettings"]:
        entry["parameters"] = {"blob": "x" * (MAX_RECORDED_REQUEST_BYTES // 90)}
    with Stubber(client), pytest.raises(RequestTooLarge, match="S3 settings file"):
        start_batch(client, _MemoryRepository(), request, "rerunner", None)


def test_a_request_is_measured_as_its_record_holds_it_in_utf8_not_ascii_escaped() -> None:
    """DynamoDB counts a string's UTF-8 bytes: a Hangul character is 3 bytes of the record, not the 6 of its
    ASCII-escaped JSON (which made start_batch refuse a request the launcher had measured as fitting). The
    `request` attribute (7) is a map (3) whose element costs 1 byte beside its name (4) and value (6)."""
    assert recorded_request_bytes({"note": "환자"}) == 7 + 3 + 4 + 1 + len("환자".encode()) == 21


def test_request_without_request_id_or_with_unknown_origin_is_refused() -> None:
    request = _request("1234567")
    with pytest.raises(ValueError, match="origin"):
        start_batch(boto3.client("omics"), _MemoryRepository(), request, "somebody", None)
    del request["requestId"]
    with pytest.raises(ValueError, match="requestId"):
        start_batch(boto3.client("omics"), _MemoryRepository(), request, "launcher", None)


class _MemoryRepository(ProvenanceRepository):
    def __init__(self) -> None:
        self.requests: list[tuple[str, Any, str]] = []
        self.submissions: list[tuple[str, str, str]] = []
        self.started: list[tuple[str, str]] = []

    def put_batch_request(self, batch_id: str, request: Any, origin: str, attributes: Any = None) -> None:
        self.requests.append((batch_id, request, origin))

    def note_started(self, kind: str, entity_id: str, started_at: str) -> None:
        self.started.append((kind, entity_id))

    def record_submission(self, submission_id: str, status: str, recorded_at: str, attributes: Any,
                          attempt: int = 1) -> Any:
        self.submissions.append((submission_id, status, attributes["batch_id"]))
