"""A batch the service restarted in place (StartRunBatch's SAME_BATCH answer to the launcher's resubmission of a
transient batch-level failure: tests/unit/test_batch_resubmission.py) lives a second life after its recorded
FAILED. The events of that life can be lost like any other: the reconciler must heal them, a lost PROCESSED (its
failed members are then re-run) and a lost second FAILED (the launcher then resubmits it or gives up and alarms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.logic import Reconciler

from shared.batch_submit import SAME_BATCH, resubmit_batch
from shared.events import parse_omics_event
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import batch_event

T0 = datetime(2026, 2, 1, tzinfo=UTC)
ARN = "arn:aws:omics:us-east-1:123456789012:runBatch/b1"


class _Omics:
    """HealthOmics for batch b1: StartRunBatch restarts it in place; then GetBatch says `status`."""

    def __init__(self) -> None:
        self.status = "FAILED"
        self.failed_time = T0 + timedelta(minutes=40)

    def start_run_batch(self, **request: Any) -> dict[str, Any]:
        self.status = "PENDING"
        return {"id": "b1", "arn": ARN, "status": "PENDING", "uuid": "uuid-b1"}

    def get_batch(self, **_: Any) -> dict[str, Any]:
        times = {"processedTime": T0 + timedelta(minutes=40), "failedTime": self.failed_time}
        return {"id": "b1", "arn": ARN, "uuid": "uuid-b1", "status": self.status, "totalRuns": 1, **times}

    def list_runs_in_batch(self, **_: Any) -> dict[str, Any]:
        return {"runs": [{"runSettingId": "s1", "runId": "1111111",
                          "runArn": "arn:aws:omics:us-east-1:123456789012:run/1111111"}]}


def _restarted(repository: ProvenanceRepository, recorder: Recorder, omics: _Omics) -> None:
    repository.put_batch_request("b1", {"requestId": "r1", "workflowId": "1234567"}, "launcher")
    # The batch failed as a whole, transiently: recorded FAILED, it left the `active` index
    recorder.record(parse_omics_event(batch_event("b1", "FAILED", T0, failureReason="INTERNAL_SERVER_EXCEPTION")))
    # The launcher resubmitted it and the service restarted the same batch
    result = resubmit_batch(omics, repository, "b1", repository.get_batch_request("b1") or {}, root_batch_id="b1",
                            attempt=0, reason="INTERNAL_SERVER_EXCEPTION", sleep=lambda _: None,
                            now=lambda: T0 + timedelta(minutes=1))
    assert result.answer == SAME_BATCH
    # Its second life: INPROGRESS delivered (ranked below the recorded FAILED: not applied), then one event lost
    recorder.record(parse_omics_event(batch_event("b1", "INPROGRESS", T0 + timedelta(minutes=5))))


def test_a_restarted_batch_whose_processed_event_was_lost_is_healed(table_name: str) -> None:
    repository, omics = ProvenanceRepository(table_name), _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    _restarted(repository, recorder, omics)
    omics.status = "PROCESSED"
    # When the reconciler sweeps after the stale threshold
    report = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))
    # Then provenance says PROCESSED with its member, and the batch left the index
    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    assert (report.batches_checked, summary.get("status")) == (1, "PROCESSED")
    assert len(repository.items_with_prefix(keys.batch_pk("b1"), "MEMBER#")) == 1
    assert "active_pk" not in summary


def test_a_restarted_batch_whose_second_failed_event_was_lost_is_healed(table_name: str) -> None:
    repository, omics = ProvenanceRepository(table_name), _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    _restarted(repository, recorder, omics)
    omics.status = "FAILED"  # failed again; the event was lost
    report = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))
    # Then the second failure is recorded (a healed event, which the reconciler forwards to the launcher)
    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    assert report.batches_checked == 1 and [h.entity_id for h in report.healed] == ["b1"]
    assert summary.get("status") == "FAILED" and summary["status_time"] > str(summary["restarted_at"])
    assert "active_pk" not in summary
    # and a later sweep leaves it alone
    again = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=6))
    assert again.batches_checked == 0


def test_a_second_failure_timed_before_the_restart_is_healed_once_not_every_sweep(table_name: str) -> None:
    # Given GetBatch answers the second failure with the first one's time (not documented either way)
    repository, omics = ProvenanceRepository(table_name), _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    _restarted(repository, recorder, omics)
    omics.status = "FAILED"
    omics.failed_time = T0  # the first failure's time, before the restart
    first = Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))
    # Then it is healed once (recorded at the restart's time at the earliest), and the next sweep leaves it
    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    assert len(first.healed) == 1 and "active_pk" not in summary
    assert Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=6)).healed == []
