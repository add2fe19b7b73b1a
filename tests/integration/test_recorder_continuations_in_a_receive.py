"""The recorder's event source hands it up to 100 messages a receive (batch_size=100: stacks/components/recorder.py).
A run whose ListRunTasks pages take the whole invocation checkpoints with CHECKPOINT_RESERVE_SECONDS left; every run
record after it in the same receive then failed at once ("no time left to enrich") and its message's receive count
grew. Found by review D: the user saw the COMPLETED events of a batch's large runs, finishing together, go to the
DLQ (its alarm firing; only a later sweep enriched them). A record reached after the others used the invocation
now continues as a new message; one in an invocation that never has the time still ends in the DLQ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import recorder.handler as handler_module
from shared.provenance.repository import ProvenanceRepository
from tests.factories import run_event, sqs_event
from tests.integration.recorder_queue import MAX_RECEIVE_COUNT, Context, ProvenanceQueue
from tests.integration.test_recorder_many_tasks_continuation import ManyTasks

pytest_plugins = ["tests.integration.recorder_queue"]  # the `provenance_queue` fixture

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BATCH_SIZE = 100  # stacks/components/recorder.py


def _receive(queue: ProvenanceQueue, bodies: list[dict[str, Any]]) -> list[bool]:
    """One invocation on up to BATCH_SIZE messages (one SQS receive); True per message whose record succeeded."""
    event = sqs_event(bodies)
    queue.clock.starts.append(queue.clock.elapsed)
    try:
        response = handler_module.lambda_handler(event, Context(queue.clock))
    finally:
        queue.clock.starts.pop()
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    return [r["messageId"] not in failed for r in event["Records"]]


def test_large_runs_finishing_together_are_all_enriched_none_to_the_dlq(
        table_name: str, provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = provenance_queue
    omics = ManyTasks(queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    runs = [f"70000{n:02d}" for n in range(1, 11)]  # ten 8,000-task runs of one batch, finishing within seconds
    pending: list[tuple[dict[str, Any], int]] = [
        (run_event(r, "COMPLETED", T0 + timedelta(seconds=n)), 0) for n, r in enumerate(runs)]
    dead: list[str] = []
    receives = 0
    while pending and receives < 200:
        receives += 1
        batch, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
        outcomes = _receive(queue, [body for body, _ in batch])
        for (body, count), ok in zip(batch, outcomes, strict=True):
            if ok:
                continue
            if count + 1 >= MAX_RECEIVE_COUNT:
                dead.append(body["detail"]["runId"])
            else:
                pending.append((body, count + 1))  # visible again after the visibility timeout
        pending.extend((body, 0) for body in queue.sent())  # continuations: new messages, receive count 0
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    unenriched = [r for r in runs if "details_recorded_at" not in (repository.run_summary(r, f"uuid-{r}") or {})]
    assert dead == [] and unenriched == [], (
        f"COMPLETED events to the DLQ: {dead}; runs the recorder did not enrich: {unenriched} ({receives} receives)")


def test_a_run_record_in_invocations_too_short_to_enrich_still_ends_in_the_dlq(
        table_name: str, provenance_queue: ProvenanceQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """No record before it used the time: a continuation would make no progress, for ever. It fails as before."""
    queue = provenance_queue
    omics = ManyTasks(queue.clock)
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics)
    queue.clock.timeout = 8.0  # shorter than an enrichment's budget
    queue.deliver(run_event("7100001", "COMPLETED", T0))
    assert len(queue.dead_letters) == 1 and list(queue.sent()) == []
