"""A failed ListRuns pass leaves the stale active runs for the next sweep (37ae086), but through the project's own
bounded client (shared.omics.omics_client: adaptive retries inside a 15 s call budget) a throttled ListRuns ends in
DeadlineExceeded, which the sweep took for its invocation running out: it recorded stopped_early and reconciled no
batch and finished no enrichment, with minutes left. Found by review D. Now only the invocation's own time left
(`time_left` under `safety_seconds`) stops a sweep; a call's DeadlineExceeded defers what it was for."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import bucket
from reconciler.logic import Reconciler

from shared.events import parse_omics_event
from shared.omics import DeadlineExceeded, omics_client
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import REGION, batch_event, get_run_response, run_event

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self) -> Any:
        yield self._body


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    return AWSResponse("https://omics", status, {"content-type": "application/json", **(headers or {})},
                       _Raw(json.dumps(body).encode()))


class _FakeTime:
    """One clock for every wait a throttled call makes: botocore's retry back-off (endpoint), its adaptive
    client-side rate limiter (clock and condition wait), and the bounded client's deadline. Each wait moves the
    clock instead of sleeping, so the call runs out of its 15 s budget exactly as it would, in no real time."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        # at least a microsecond, as any real wait takes: botocore's token bucket can be left a rounding error
        # short of a token, and a wait too small to move the clock would then loop for ever
        seconds = max(seconds, 1e-6)
        self.now += seconds
        self.slept += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> _FakeTime:
    fake = _FakeTime()

    class _Condition(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            fake.sleep(timeout or 0.0)
            return False

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=fake.sleep))
    monkeypatch.setattr(bucket.Clock, "sleep", lambda _self, amount: fake.sleep(amount))
    monkeypatch.setattr(bucket.Clock, "current_time", lambda _self: fake.clock())
    monkeypatch.setattr(bucket, "threading", SimpleNamespace(Lock=threading.Lock, Condition=_Condition))
    return fake


def test_a_throttled_list_runs_through_the_bounded_client_still_reconciles_the_stale_batch(
        table_name: str, fake_time: _FakeTime) -> None:
    """What an operator sees: while ListRuns is throttled (10 TPS shared by every function, guide §5), each sweep
    records stopped_early and heals no batch (here a batch whose INPROGRESS event was lost), though only one call
    failed and the invocation had its whole time left."""
    client = omics_client(100.0, region_name=REGION, count=lambda *_: None, clock=fake_time.clock,
                          sleep=fake_time.sleep)
    calls: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        operation = request.context.get("omics_autopilot_operation")
        calls.append(operation)
        if operation == "ListRuns":
            return _answer(400, {"__type": "ThrottlingException", "message": "Rate exceeded"},
                           {"x-amzn-errortype": "ThrottlingException"})
        if operation == "GetBatch":
            return _answer(200, {"id": "b6", "status": "INPROGRESS",
                                 "submittedTime": (T0 + timedelta(minutes=5)).timestamp()})
        if operation == "ListRunsInBatch":
            return _answer(200, {"runs": []})
        raise AssertionError(operation)

    client.meta.events.register("before-send.omics", answer)
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    repository = recorder.repository
    for run_id in ("6000001", "6000002"):
        repository.put_items(recorder.record(parse_omics_event(run_event(run_id, "RUNNING", T0))).history)
    repository.put_items(recorder.record(parse_omics_event(batch_event("b6", "SUBMITTING", T0))).history)

    report = Reconciler(recorder, stale_after=timedelta(minutes=30), list_runs_above=1).sweep(T0 + timedelta(hours=1))

    assert calls.count("ListRuns") > 1 and fake_time.slept > 0  # retried, backing off, until its budget ran out
    assert [(h.kind, h.entity_id, h.status) for h in report.healed] == [("BATCH", "b6", "INPROGRESS")], (
        f"a throttled ListRuns (calls {calls}) stopped the sweep: stopped_early={report.stopped_early}, "
        f"healed {report.healed}, batch b6 still {(repository.get_item('BATCH#b6', 'SUMMARY') or {}).get('status')}")


def test_a_get_run_out_of_its_call_budget_defers_that_run_alone(table_name: str) -> None:
    """A throttled GetRun out of its call budget (not of the invocation's time) defers its run; the next is checked."""
    asked: list[str] = []

    class Throttled:
        def get_run(self, id: str) -> dict[str, Any]:
            asked.append(id)
            if id == "6000001":
                raise DeadlineExceeded("GetRun: retry would not fit the call budget")
            return get_run_response(id, "RUNNING")

    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: Throttled())
    for run_id in ("6000001", "6000002"):
        recorder.repository.put_items(recorder.record(parse_omics_event(run_event(run_id, "RUNNING", T0))).history)
    report = Reconciler(recorder, stale_after=timedelta(minutes=30),
                        time_left=lambda: 600.0).sweep(T0 + timedelta(hours=1))
    assert asked == ["6000001", "6000002"] and not report.stopped_early
    assert report.deferred == 1 and report.unchanged == 1
