"""The reconciler and run identity (run id, run uuid): GetRun takes the id alone, so an answer with
another uuid means the recorded run was deleted and its id given to a new run.

Guide, "Working with HealthOmics runs" (HealthOmics 실행 사용): HealthOmics reuses the IDs of deleted runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from reconciler.logic import ACTIVE_RUN_STATUSES, HEALED, Reconciler, heals_of

from shared.events import parse_omics_event
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.provenance.views import run_view, run_views
from shared.recorder import Recorder
from tests.factories import (
    ACCOUNT,
    REGION,
    batch_event,
    create_provenance_table,
    get_run_response,
    list_run_tasks_response,
    run_event,
)

pytest_plugins = ["tests.integration.recorder_stub"]  # the `omics` fixture

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_stale_run_whose_id_now_names_another_run_is_healed_to_deleted() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        repository = ProvenanceRepository(create_provenance_table(dynamodb), dynamodb)
        omics = boto3.client("omics", region_name="us-east-1")
        with Stubber(omics) as stub:
            recorder = Recorder(repository, omics=lambda: omics)
            # Given run 960 (uuid-a) last seen RUNNING, its later events lost
            running = run_event("960", "RUNNING", T0)
            running["detail"]["uuid"] = "uuid-a"
            repository.put_items(recorder.record(parse_omics_event(running)).history)
            # and HealthOmics has since deleted it and given id 960 to a new run (uuid-b)
            stub.add_response("get_run", get_run_response("960", "RUNNING", uuid="uuid-b"), {"id": "960"})
            # When a sweep finds it stale
            report = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=1))
            stub.assert_no_pending_responses()  # one GetRun, nothing else
        # Then the recorded run is healed to DELETED (its outcome unknown, never taken from uuid-b)
        assert [(h.entity_id, h.run_uuid, h.status, h.source) for h in report.healed] == [
            ("960", "uuid-a", "DELETED", "IdReused")]
        (view,) = run_views(repository, "960")
        assert (view.run_uuid, view.status, view.outcome) == ("uuid-a", "DELETED", None)
        assert [i["entity"] for i in repository.run_items("960", "uuid-a") if i.get("entity") == HEALED] == [HEALED]
        # and it is no longer in flight; the new run is left to its own events
        assert repository.active_since_before("RUN", "~") == []


def test_run_show_without_a_uuid_is_the_run_that_now_carries_the_id_not_the_deleted_one_healed_later(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """Seen: run 960 (uuid-a) seen RUNNING, then deleted (its DELETED event lost) and id 960 given to uuid-b,
    RUNNING and recorded; the sweep healed uuid-a to DELETED, timed at the sweep. Runs sharing an id were
    ordered by creation time or else their latest status time, so the healed uuid-a sorted after uuid-b:
    `autopilot run show 960` (the latest run that carried the id) showed the deleted run, and the runs of id 960
    ("oldest first") were listed newest first."""
    client, stub = omics
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    recorder = Recorder(repository, omics=lambda: client)
    # Given uuid-a seen RUNNING, and uuid-b, which took its id, seen RUNNING 45 minutes later
    for uuid, when in (("uuid-a", T0), ("uuid-b", T0 + timedelta(minutes=45))):
        event = run_event("960", "RUNNING", when)
        event["detail"]["uuid"] = uuid
        event["id"] = f"evt-{uuid}"
        repository.put_items(recorder.record(parse_omics_event(event)).history)
    # When a sweep heals uuid-a to DELETED (GetRun 960 answers uuid-b)
    stub.add_response("get_run", get_run_response("960", "RUNNING", uuid="uuid-b"), {"id": "960"})
    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=1))
    # Then `run show 960` is uuid-b, and the runs of id 960 are in the order they began
    shown = run_view(repository, "960")
    order = [(v.run_uuid, v.status) for v in run_views(repository, "960")]
    assert order == [("uuid-a", "DELETED"), ("uuid-b", "RUNNING")], f"runs of id 960, oldest first: {order}"
    assert shown is not None and (shown.run_uuid, shown.status) == ("uuid-b", "RUNNING"), (
        f"`run show 960` answers {shown.run_uuid if shown else None} ({shown.status if shown else None})")
    # and the latest summary of the id (what the cohort benchmark compares, one Query of summaries) is that run
    latest = repository.live_run_summaries(["960"])["960"]
    assert (latest["run_uuid"], latest["status"]) == ("uuid-b", "RUNNING")


def test_a_run_whose_terminal_event_was_lost_before_its_deleted_event_is_enriched_by_a_sweep(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """Seen: a run recorded RUNNING whose FAILED event was lost (events are best effort, guide §1) and whose DELETED
    event arrived kept no failure reason, inputs, digests or tasks, and no sweep ever asked GetRun: DELETED took it
    out of the `active` index at once and only a terminal event enriches. It now stays in the index until a sweep
    has enriched it (GetRun still answers a deleted run under its uuid, status DELETED: guide §2 lists DELETED among
    run statuses); so does a run whose only recorded event is DELETED."""
    client, stub = omics
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    repository = recorder.repository
    for run_id, status, minutes in (("3000002", "RUNNING", 10), ("3000002", "DELETED", 50),
                                    ("3000003", "DELETED", 50)):
        repository.put_items(recorder.record(
            parse_omics_event(run_event(run_id, status, T0 + timedelta(minutes=minutes)))).history)
    for run_id in ("3000002", "3000003"):
        stub.add_response("get_run", get_run_response(run_id, "DELETED"), {"id": run_id})
        stub.add_response("list_run_tasks", list_run_tasks_response(run_id, 1), {"id": run_id})

    report = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))

    for run_id in ("3000002", "3000003"):
        summary = repository.run_summary(run_id, f"uuid-{run_id}") or {}
        assert "details_recorded_at" in summary, (
            f"run {run_id} recorded {summary.get('status')} with no GetRun details ever "
            f"(digest={summary.get('digest')}); active index: {repository.active_since_before('RUN', '~')}")
        assert (summary["status"], summary.get("outcome"), summary["api_status"]) == ("DELETED", None, "DELETED")
    assert report.enriched == 2 and not report.used_list_runs and report.healed == []
    assert repository.active_since_before("RUN", "~") == []


def test_a_run_healed_to_deleted_is_not_recorded_as_deleted_before_it_ran(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """Seen: a run created at T0 and recorded RUNNING at T0+10 min, its terminal and DELETED events lost (guide §1),
    was healed by a sweep whose GetRun answered DELETED (same uuid); the heal was timed at the run's creationTime,
    so its status history read DELETED (T0) before RUNNING (T0+10 min). GetRun keeps no deletion time (guide §2:
    creation, start and stop times): a deletion follows stopTime, so the heal takes the sweep's time."""
    client, stub = omics
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    recorder.repository.put_items(
        recorder.record(parse_omics_event(run_event("3000001", "RUNNING", T0 + timedelta(minutes=10)))).history)
    stub.add_response("get_run", get_run_response(
        "3000001", "DELETED", creationTime=T0, startTime=T0 + timedelta(minutes=10),
        stopTime=T0 + timedelta(minutes=40)), {"id": "3000001"})
    stub.add_response("list_run_tasks", list_run_tasks_response("3000001", 1), {"id": "3000001"})

    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=2))

    view = run_view(recorder.repository, "3000001", "uuid-3000001")
    assert view is not None and view.status == "DELETED"
    times = {h["status"]: h["time"] for h in view.history}
    assert times["DELETED"] > times["RUNNING"], (
        f"DELETED recorded at {times['DELETED']}, before the run's RUNNING at {times['RUNNING']}")
    assert times["DELETED"].startswith("2026-03-01T02:00:00")  # the sweep's time, to the second


def _listed(run_id: str, status: str, created: datetime) -> dict[str, Any]:
    """A ListRuns item (no uuid)."""
    return {"arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:run/{run_id}", "id": run_id, "status": status,
            "workflowId": "1234567", "name": f"run-{run_id}", "creationTime": created,
            "startTime": created + timedelta(minutes=5)}


def test_a_deleted_runs_record_is_not_healed_with_the_status_of_the_new_run_that_took_its_id(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """Seen: run 4000001 (uuid-4000001), recorded PENDING, its later events lost, ended and was deleted; HealthOmics
    gave its id to a new run created two hours later, now RUNNING. A sweep with many stale runs used ListRuns, took
    the listed id for the recorded run and healed the deleted run to RUNNING with the new run's start time, every
    sweep until the new run ended. ListRuns items carry no uuid but do carry creationTime; the ids of deleted runs
    are reused (guide, "Working with HealthOmics runs"; §2: GetRun returns the uuid): a listed run created after the
    recorded run's last event is another run, so the recorded run is checked by GetRun, which finds it gone."""
    client, stub = omics
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    repository = recorder.repository
    for run_id, status in (("4000001", "PENDING"), ("4000002", "RUNNING")):
        repository.put_items(recorder.record(parse_omics_event(run_event(run_id, status, T0))).history)
    new_run_created = T0 + timedelta(hours=2)
    for status in ACTIVE_RUN_STATUSES:
        items = [_listed("4000001", "RUNNING", new_run_created), _listed("4000002", "RUNNING", T0)] \
            if status == "RUNNING" else []
        stub.add_response("list_runs", {"items": items}, {"status": status, "maxResults": 100})
    stub.add_response("get_run", get_run_response("4000001", "RUNNING", uuid="uuid-new", creationTime=new_run_created),
                      {"id": "4000001"})

    report = Reconciler(recorder, stale_after=timedelta(minutes=30), list_runs_above=1).sweep(T0 + timedelta(hours=3))

    healed = [(h.entity_id, h.run_uuid, h.recorded_status, h.status, h.source) for h in report.healed]
    summary = repository.run_summary("4000001", "uuid-4000001") or {}
    assert healed == [("4000001", "uuid-4000001", "PENDING", "DELETED", "IdReused")], (
        f"deleted run uuid-4000001 healed from the new run's listing: {healed}; its record now says "
        f"{summary.get('status')} since {summary.get('status_time')}")
    assert report.used_list_runs and report.unchanged == 1  # 4000002: listed, created before its own events
    assert [i["run_id"] for i in repository.active_since_before("RUN", "~")] == ["4000002"]


def test_one_stale_run_that_cannot_be_checked_now_does_not_fail_the_sweep() -> None:
    """A throttled GetRun for one stale run (the service already retried) leaves that run for the next
    sweep; the other stale runs are still healed and the sweep is recorded."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        repository = ProvenanceRepository(create_provenance_table(dynamodb), dynamodb)
        omics = boto3.client("omics", region_name="us-east-1")
        with Stubber(omics) as stub:
            recorder = Recorder(repository, omics=lambda: omics)
            # Given two runs last seen RUNNING, their later events lost
            for run_id, run_uuid in (("961", "uuid-1"), ("962", "uuid-2")):
                running = run_event(run_id, "RUNNING", T0)
                running["detail"]["uuid"] = run_uuid
                repository.put_items(recorder.record(parse_omics_event(running)).history)
            # and GetRun is throttled for the first, answers CANCELLED for the second
            stub.add_client_error("get_run", "ThrottlingException", "Rate exceeded", 400, expected_params={"id": "961"})
            stub.add_response("get_run", get_run_response("962", "CANCELLED", uuid="uuid-2"), {"id": "962"})
            stub.add_response("list_run_tasks", {"items": []}, {"id": "962"})
            # When a sweep finds them stale
            report = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=1))
        # Then the sweep completes: the second is healed, the first is left for the next sweep
        assert [(h.entity_id, h.status) for h in report.healed] == [("962", "CANCELLED")]
        assert report.summary()["deferred"] == 1 and not report.stopped_early
        assert [i["run_id"] for i in repository.active_since_before("RUN", "~")] == ["961"]


def test_a_heal_deferred_by_a_throttled_table_write_keeps_its_status_history(
        table_name: str, omics: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: a run whose FAILED event was lost (events are best effort, guide §1) was healed by the sweep, but a
    throttled table write during its enrichment (a retryable ProvenanceError, after the SDK's retries) deferred it;
    the next sweep finished the enrichment, yet the run's status history still ended at RUNNING under a summary
    saying FAILED, and no HEALED record said the failure was healed. The heal's history item and HEALED record
    were written on a throttled HealthOmics call (RetryableError) only, not on the table errors the sweep defers
    all the same."""
    client, stub = omics
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    repository = recorder.repository
    repository.put_items(recorder.record(parse_omics_event(run_event("5000001", "RUNNING", T0))).history)
    reconciler = Reconciler(recorder, stale_after=timedelta(minutes=30))
    real = repository.record_run_details
    throttled_once: list[bool] = []

    def record_run_details(*args: Any, **kwargs: Any) -> None:
        if not throttled_once:
            throttled_once.append(True)
            raise ProvenanceError("update_item failed: ProvisionedThroughputExceededException", True)
        real(*args, **kwargs)

    monkeypatch.setattr(repository, "record_run_details", record_run_details)
    failed = get_run_response("5000001", "FAILED", creationTime=T0, startTime=T0,
                              stopTime=T0 + timedelta(minutes=20))
    for _ in range(2):  # the deferred sweep, then the one that finishes the enrichment
        stub.add_response("get_run", failed, {"id": "5000001"})
        stub.add_response("list_run_tasks", list_run_tasks_response("5000001", 1), {"id": "5000001"})
    assert reconciler.sweep(T0 + timedelta(hours=1)).deferred == 1
    reconciler.sweep(T0 + timedelta(hours=2))

    items = repository.run_items("5000001", "uuid-5000001")
    summary = next(i for i in items if i["sk"] == "SUMMARY")
    history = [i["status"] for i in items if i.get("entity") == "RUN_STATUS"]
    assert summary["status"] == "FAILED" and "details_recorded_at" in summary
    assert history == ["RUNNING", "FAILED"] and [h["status"] for h in heals_of(items)] == ["FAILED"], (
        f"summary FAILED (enriched) but status history {history} and HEALED records {heals_of(items)}")


def test_a_failed_list_runs_pass_leaves_the_active_runs_for_the_next_sweep_not_the_whole_sweep(
        table_name: str, omics: tuple[Any, Stubber]) -> None:
    """With many stale runs the sweep lists the active statuses with ListRuns (quota 10 TPS, guide §5). A throttled
    ListRuns (the service already retried) must leave those runs for the next sweep as a throttled GetRun leaves
    one run: the stale batch is still reconciled and the sweep recorded."""
    client, stub = omics
    recorder = Recorder(ProvenanceRepository(table_name, boto3.client("dynamodb")), omics=lambda: client)
    repository = recorder.repository
    for run_id in ("6000001", "6000002"):
        repository.put_items(recorder.record(parse_omics_event(run_event(run_id, "RUNNING", T0))).history)
    repository.put_items(recorder.record(parse_omics_event(batch_event("b6", "SUBMITTING", T0))).history)
    stub.add_client_error("list_runs", "ThrottlingException", "Rate exceeded", 400,
                          expected_params={"status": "PENDING", "maxResults": 100})
    stub.add_response("get_batch", {"id": "b6", "status": "INPROGRESS", "submittedTime": T0 + timedelta(minutes=5)},
                      {"batchId": "b6"})
    stub.add_response("list_runs_in_batch", {"runs": []}, {"batchId": "b6", "maxItems": 100})

    report = Reconciler(recorder, stale_after=timedelta(minutes=30), list_runs_above=1).sweep(T0 + timedelta(hours=1))

    assert [(h.kind, h.entity_id, h.status) for h in report.healed] == [("BATCH", "b6", "INPROGRESS")]
    assert report.deferred == 2 and not report.stopped_early
    assert len(repository.items_with_prefix("RECONCILE#SWEEPS", "SWEEP#")) == 1
    assert sorted(i["run_id"] for i in repository.active_since_before("RUN", "~")) == ["6000001", "6000002"]


def test_out_of_call_time_the_sweep_stops_and_leaves_the_rest_for_the_next() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        repository = ProvenanceRepository(create_provenance_table(dynamodb), dynamodb)
        from shared.omics import DeadlineExceeded

        invocation_left = [600.0]

        class OutOfTime:
            def get_run(self, **_: object) -> None:
                invocation_left[0] = 6.0  # the call waited until the invocation's own deadline
                raise DeadlineExceeded("GetRun: 1.0 s left for the call, not started")

        recorder = Recorder(repository, omics=lambda: OutOfTime())
        for run_id in ("963", "964"):
            running = run_event(run_id, "RUNNING", T0)
            running["detail"]["uuid"] = f"uuid-{run_id}"
            repository.put_items(recorder.record(parse_omics_event(running)).history)
        report = Reconciler(recorder, stale_after=timedelta(minutes=30),
                            time_left=lambda: invocation_left[0]).sweep(T0 + timedelta(hours=1))
        assert report.stopped_early and report.summary()["deferred"] == 1 and report.healed == []
        assert len(repository.active_since_before("RUN", "~")) == 2
