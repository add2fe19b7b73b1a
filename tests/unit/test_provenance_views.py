"""The sample and batch views, from records written the way the recorder writes them (GetRun details with
lineage, ListRunsInBatch members): every run of a sample is one attempt row, none hidden by another.

`_attempts` keyed a sample's attempts by (attempt, batch id): two runs of one sample outside any batch with the
same attempt number (two standalone attempt-0 runs started on different days) shared a key, and the later one
written overwrote the other, so `autopilot sample show` hid a run and could name the wrong final outcome."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from shared.provenance.items import BatchMember, RunDetails
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.views import batch_view, sample_view

SAMPLE = "S-0042"


@pytest.fixture
def repository(table_name: str) -> ProvenanceRepository:
    return ProvenanceRepository(table_name, boto3.client("dynamodb"))


def _run(repository: ProvenanceRepository, run_id: str, uuid: str, day: str, outcome: str, attempt: int = 0,
         batch_id: str | None = None, root_batch_id: str | None = None, root_run_id: str | None = None,
         **lineage: Any) -> None:
    repository.record_run_details(RunDetails(
        run_id=run_id, uuid=uuid, status=outcome, sample=SAMPLE, attempt=attempt, batch_id=batch_id,
        root_batch_id=root_batch_id, root_run_id=root_run_id or run_id, root_run_uuid=uuid if not root_run_id else None,
        creation_time=f"2026-01-{day}T08:00:00.000000Z", stop_time=f"2026-01-{day}T09:00:00.000000Z",
        failure_reason="RUN_TASK_FAILED" if outcome == "FAILED" else None, **lineage),
        f"2026-01-{day}T09:01:00.000000Z", outcome)


@pytest.mark.parametrize("reused_id", [False, True], ids=["two run ids", "one run id reused"])
def test_two_standalone_runs_of_a_sample_with_the_same_attempt_are_both_shown_oldest_first(
        repository: ProvenanceRepository, reused_id: bool) -> None:
    # Given two standalone attempt-0 runs of one sample, on different days (the newer one written first), and
    # HealthOmics may give the second the id of the first once that one was deleted
    newer = "1111111" if reused_id else "2222222"
    _run(repository, newer, "u-new", "07", "COMPLETED")
    _run(repository, "1111111", "u-old", "05", "FAILED")
    # When the sample is shown
    attempts = sample_view(repository, SAMPLE)
    # Then each run is its own row, the oldest first, and the final outcome is the newer run's
    assert [(a.attempt, a.run_id, a.run_uuid, a.status) for a in attempts] == [
        (0, "1111111", "u-old", "FAILED"), (0, newer, "u-new", "COMPLETED")], "a run of the sample is hidden"
    assert attempts[-1].status == "COMPLETED"


def test_standalone_runs_and_batch_members_of_an_attempt_interleave_by_time_and_keep_their_joins(
        repository: ProvenanceRepository) -> None:
    # Given the sample's batch member (joined to its run by batch id and run id), its follow-up's member listed
    # before its run is recorded, another batch whose submission failed (no run), and two standalone runs
    repository.put_batch_members("b-1", 0, [BatchMember(batch_id="b-1", run_setting_id=SAMPLE, run_id="3000001",
                                                        submission_status="SUCCESS")], "2026-01-01T00:00:00Z")
    _run(repository, "3000001", "u-b1", "01", "FAILED", batch_id="b-1", root_batch_id="b-1")
    repository.put_batch_members("b-2", 1, [BatchMember(batch_id="b-2", run_setting_id=SAMPLE, run_id="3000002",
                                                        submission_status="SUCCESS")], "2026-01-02T00:00:00Z")
    repository.put_batch_members("b-3", 0, [BatchMember(
        batch_id="b-3", run_setting_id=SAMPLE, submission_status="FAILED",
        submission_failure_reason="ValidationException")], "2026-01-03T00:00:00Z")
    _run(repository, "4000002", "u-s2", "09", "COMPLETED")
    _run(repository, "4000001", "u-s1", "04", "FAILED")
    # When the sample is shown
    attempts = sample_view(repository, SAMPLE)
    # Then: attempt order; within an attempt, time order, batch members and standalone runs alike (a member
    # with no run at its listing)
    assert [(a.attempt, a.run_id, a.run_uuid, a.batch_id, a.status, a.submission_status) for a in attempts] == [
        (0, "3000001", "u-b1", "b-1", "FAILED", "SUCCESS"),
        (0, None, None, "b-3", None, "FAILED"),
        (0, "4000001", "u-s1", None, "FAILED", None),
        (0, "4000002", "u-s2", None, "COMPLETED", None),
        (1, "3000002", None, "b-2", None, "SUCCESS"),
    ]
    # and the batch view of b-1 still joins its member to its run
    view = batch_view(repository, "b-1")
    assert [(a.attempt, a.run_id, a.run_uuid, a.status) for a in view.samples[SAMPLE].attempts] == [
        (0, "3000001", "u-b1", "FAILED")]


def test_a_samples_final_outcome_is_its_latest_run_not_the_batch_with_the_larger_id(
        repository: ProvenanceRepository) -> None:
    """Seen: `autopilot sample show` (and --json `final`) of a sample that failed OUT_OF_MEMORY_ERROR in one
    batch (never re-run: it needs a workflow change) and, submitted again in a new sheet, COMPLETED in a later
    batch, both attempt 0: the rows of an attempt were ordered by batch id string, so whenever the first batch's
    id sorted after the second's the listing ("oldest first") put the later run first and named the old
    failure the final outcome."""
    # Given the sample's failed run in batch 9000001, then its completed run in the later batch 1000002
    for batch_id, run_id, day, outcome in (("9000001", "5000001", "02", "FAILED"),
                                           ("1000002", "5000002", "06", "COMPLETED")):
        repository.put_batch_members(batch_id, 0, [BatchMember(batch_id=batch_id, run_setting_id=SAMPLE,
                                                               run_id=run_id, submission_status="SUCCESS")],
                                     f"2026-01-{day}T00:00:00Z")
        _run(repository, run_id, f"u-{run_id}", day, outcome, batch_id=batch_id, root_batch_id=batch_id)
    # When the sample is shown
    attempts = sample_view(repository, SAMPLE)
    # Then oldest first, and the final outcome is the later batch's
    assert [(a.batch_id, a.status) for a in attempts] == [("9000001", "FAILED"), ("1000002", "COMPLETED")]
    assert attempts[-1].status == "COMPLETED"
