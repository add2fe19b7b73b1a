"""A GetBatch answer whose failed-run count is missing (or not exact: the batch not PROCESSED) proves nothing:
failed members the recorder has not recorded yet are still looked for (found by review; the cold path read a
missing count as 0 and closed the batch as "no failed members").

Guide (HEALTHOMICS.md section 3, "Batch runs"): GetBatch's runSummary gives per-status counts, eventually
consistent and exact at PROCESSED; ListRuns(batchId, status=FAILED) names a batch's failed runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from rerunner.work import Work
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_getbatch_answer_without_failedruncount_does_not_drop_an_unrecorded_failed_member(
    make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PROCESSED batch of 3 whose member s1 failed, nothing recorded yet (the recorder is behind)
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1")]))
    batch_id = h.start_batch([f"s{i}" for i in range(3)])
    h.emulator.run_until_idle()
    assert h.emulator.batches[batch_id].status == "PROCESSED"
    real = h.access.get_batch

    def without_failed_count(batch: str) -> dict[str, Any]:
        got = real(batch)
        summary = dict(got["runSummary"])
        summary.pop("failedRunCount")  # a count absent: "any doubt reads the members" (nothing_failed)
        return {**got, "runSummary": summary}

    monkeypatch.setattr(h.access, "get_batch", without_failed_count)
    # When the re-runner handles the batch
    outcome = h.handle(Work(kind="batch", id=batch_id))
    # Then the failed member is not dropped as if GetBatch had said "0 failed": it is looked up and followed up
    # (or the work fails, to come back), never closed as "no failed members"
    assert outcome.skipped != "no failed members", (
        f"batch {batch_id}: failed member s1 dropped, outcome {outcome.skipped!r}, started {outcome.started}: "
        "the cold path read the absent failedRunCount as 0"
    )
