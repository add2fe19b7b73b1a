"""A run deleted before its terminal event was recorded is enriched by a sweep as DELETED (b047cb3). Its terminal
event, arriving after that sweep (events are reordered and delayed, guide §1), found the enrichment done: what
depends on the outcome (superseding the parent's failure, a failure's unresolved index) never happened, and the
result depended on whether a sweep ran between DELETED and the terminal event. Found by review D: the user saw the
parent's failure still unresolved though its re-run COMPLETED. The outcome's steps now run when it arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber
from reconciler.logic import Reconciler

from shared.events import parse_omics_event
from shared.lineage import TAG_PARENT_RUN, TAG_PARENT_RUN_UUID, TAG_ROOT_RUN, TAG_ROOT_RUN_UUID
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import get_run_response, run_event

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rerun_of_a_failed_run(table_name: str, client: Any, stub: Stubber) -> Recorder:
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    stub.add_response("get_run", get_run_response("3000001", "FAILED"), {"id": "3000001"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "3000001"})
    recorder.record(parse_omics_event(run_event("3000001", "FAILED", T0)))
    recorder.repository.put_record({keys.PK: keys.run_pk("3000001"),
                                    keys.SK: keys.run_sk("uuid-3000001", keys.rerun_sk(2) + keys.RERUN_CLAIM),
                                    "new_run_id": "3000002", "new_run_uuid": "uuid-3000002"})
    assert [f["run_id"] for f in recorder.repository.unresolved_failures()] == ["3000001"]
    return recorder


def _rerun_get_run(status: str) -> dict[str, Any]:
    return get_run_response("3000002", status, runId="3000001", tags={
        TAG_PARENT_RUN: "3000001", TAG_PARENT_RUN_UUID: "uuid-3000001", TAG_ROOT_RUN: "3000001",
        TAG_ROOT_RUN_UUID: "uuid-3000001", "autopilot:attempt": "2"})


def _deleted_first_then(recorder: Any, stub: Stubber, terminal: str, *, sweep: bool) -> None:
    """The re-run ended (`terminal`) and was deleted; its DELETED event arrives first, then (when `sweep`) a sweep
    30 min later enriches the deleted run from GetRun, then the delayed terminal event arrives."""
    recorder.record(parse_omics_event(run_event("3000002", "DELETED", T0 + timedelta(hours=3))))
    stub.add_response("get_run", _rerun_get_run("DELETED"), {"id": "3000002"})
    stub.add_response("list_run_tasks", {"items": []}, {"id": "3000002"})
    if sweep:
        Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=4))
    recorder.record(parse_omics_event(run_event("3000002", terminal, T0 + timedelta(hours=2, minutes=50))))


def test_a_completed_rerun_whose_deleted_event_came_first_settles_its_parent_even_if_a_sweep_ran_between(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """A user sees the parent run's failure still listed as unresolved (UnresolvedFailures gauge, `failures`
    views) although its re-run COMPLETED: the re-run's DELETED event came first, a sweep enriched it as DELETED
    (settle(supersedes=False)), and its COMPLETED event, arriving afterwards, found enrichment no longer due. Without
    the intervening sweep (as before b047cb3) the same events settle the parent."""
    client, stub = omics
    recorder = _rerun_of_a_failed_run(table_name, client, stub)
    _deleted_first_then(recorder, stub, "COMPLETED", sweep=True)
    summary = recorder.repository.run_summary("3000002", "uuid-3000002") or {}
    assert summary.get("outcome") == "COMPLETED"
    unresolved = [f["run_id"] for f in recorder.repository.unresolved_failures()]
    assert unresolved == [], (
        f"parent 3000001 still unresolved {unresolved} although its re-run 3000002 is recorded COMPLETED "
        f"(enriched with final=DELETED by the sweep; the late COMPLETED event did not enrich again)")


def test_control_without_the_sweep_the_same_events_settle_the_parent(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """The same events with no sweep between them: the parent's failure is settled (this passes)."""
    client, stub = omics
    recorder = _rerun_of_a_failed_run(table_name, client, stub)
    _deleted_first_then(recorder, stub, "COMPLETED", sweep=False)
    assert recorder.repository.unresolved_failures() == []


def test_a_failed_rerun_whose_deleted_event_came_first_is_itself_unresolved_after_a_sweep(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """The same order with a FAILED re-run: the parent's failure is settled by its failed re-run, which is now the
    unresolved one (as when its FAILED event comes first)."""
    client, stub = omics
    recorder = _rerun_of_a_failed_run(table_name, client, stub)
    _deleted_first_then(recorder, stub, "FAILED", sweep=True)
    assert [f["run_id"] for f in recorder.repository.unresolved_failures()] == ["3000002"]
    # A duplicate of the FAILED event changes nothing
    recorder.record(parse_omics_event(run_event("3000002", "FAILED", T0 + timedelta(hours=2, minutes=50))))
    assert [f["run_id"] for f in recorder.repository.unresolved_failures()] == ["3000002"]
