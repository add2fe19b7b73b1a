"""When GetBatch's own counts close a PROCESSED batch for the re-runner (rerunner.follow_up.nothing_failed):
only when they prove no member failed; on any doubt its members are read as before.

Guide, "Batch runs" (HealthOmics 배치 실행; HEALTHOMICS.md section 3): PROCESSED means every run reached a
terminal state (COMPLETED, FAILED or CANCELLED); GetBatch's runSummary counts the runs per status
(PENDING, STARTING, RUNNING, STOPPING, COMPLETED, DELETED, CANCELLED, FAILED), eventually consistent but
exact at PROCESSED; submissionSummary counts the successful, failed and pending StartSubmissions (a failed
one never became a run: submissionSummary.failedStartSubmissionCount > 0 means some runs failed to submit).
The response below has the shape of the guide's GetBatch example (its counts changed to a finished batch)."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest

from rerunner.follow_up import nothing_failed

PROCESSED_CLEAN: dict[str, Any] = {
    "id": "7123456",
    "status": "PROCESSED",
    "totalRuns": 96,
    "submissionSummary": {"successfulStartSubmissionCount": 96, "failedStartSubmissionCount": 0,
                          "pendingStartSubmissionCount": 0},
    "runSummary": {"pendingRunCount": 0, "startingRunCount": 0, "runningRunCount": 0, "stoppingRunCount": 0,
                   "completedRunCount": 94, "failedRunCount": 0, "cancelledRunCount": 2, "deletedRunCount": 0},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    batch = copy.deepcopy(PROCESSED_CLEAN)
    *parents, last = path.split(".")
    node = batch
    for name in parents:
        node = node[name]
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return batch


def test_the_counts_read_are_getbatch_s_own_fields() -> None:
    output = botocore.session.get_session().get_service_model("omics").operation_model("GetBatch").output_shape
    for summary in ("runSummary", "submissionSummary"):
        assert set(PROCESSED_CLEAN[summary]) <= set(output.members[summary].members)
    assert "PROCESSED" in output.members["status"].enum


def test_a_processed_batch_whose_runs_completed_or_were_cancelled_has_nothing_to_follow_up() -> None:
    assert nothing_failed(PROCESSED_CLEAN)


@pytest.mark.parametrize("path, value", [
    ("status", "INPROGRESS"),  # counts not final yet
    ("status", "RUNS_DELETED"),  # not PROCESSED any more: members are read as before
    ("runSummary.failedRunCount", 1),
    ("runSummary.completedRunCount", 93),  # one submitted run unaccounted for
    ("runSummary.deletedRunCount", 1),  # a member deleted since (it may have failed)
    ("runSummary.runningRunCount", 1),
    ("submissionSummary.failedStartSubmissionCount", 1),
    ("submissionSummary.pendingStartSubmissionCount", 1),
    ("runSummary.failedRunCount", None),  # a count missing: doubt
    ("submissionSummary.failedStartSubmissionCount", None),
    ("runSummary", None),
    ("runSummary.failedRunCount", "0"),
])
def test_any_doubt_reads_the_members(path: str, value: Any) -> None:
    assert not nothing_failed(_with(path, value))


def test_no_batch_reads_the_members() -> None:
    assert not nothing_failed(None) and not nothing_failed({})
