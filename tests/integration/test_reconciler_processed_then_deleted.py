"""Found by reviewer 3 (session 11): a PROCESSED batch whose members were never recorded (ListRunsInBatch
throttled, message to the DLQ) stays in the `active` index so the reconciler finishes it -- unless a later
status arrives first: RUNS_DELETING / RUNS_DELETED (DeleteRunBatch on a PROCESSED batch) took the batch out of
the index, and members were recorded only for INPROGRESS/PROCESSED, so the sample -> run map of the batch was
never recorded, although ListRunsInBatch still answers: DeleteRunBatch deletes the runs, not the batch, and
ListRunsInBatch keeps their entries with submissionStatus DELETE_SUCCESS / DELETE_FAILED (HEALTHOMICS.md §3;
the guide's [배치 실행 개념] and [배치 실행 삭제]; only DeleteBatch makes it unanswerable, [배치 메타데이터 삭제]).
Now every ended status (PROCESSED, RUNS_DELETING, RUNS_DELETED, RUNS_DELETE_FAILED) records the members when
they are not recorded yet, and keeps the batch in the index until they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from reconciler.logic import Reconciler

from shared.errors import RetryableError
from shared.events import parse_omics_event
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import batch_event

T0 = datetime(2026, 2, 1, tzinfo=UTC)
ARN = "arn:aws:omics:us-east-1:123456789012:runBatch/b1"


class _Omics:
    def __init__(self) -> None:
        self.status, self.throttled = "PROCESSED", True

    def get_batch(self, **_: Any) -> dict[str, Any]:
        return {"id": "b1", "arn": ARN, "uuid": "uuid-b1", "status": self.status}

    def list_runs_in_batch(self, **_: Any) -> dict[str, Any]:
        if self.throttled:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListRunsInBatch")
        deleted = self.status.startswith("RUNS_DELET")  # the run's entry stays, its deletion's outcome with it
        return {"runs": [{"runSettingId": "s1", "runId": "1111111",
                          "runArn": "arn:aws:omics:us-east-1:123456789012:run/1111111",
                          "submissionStatus": "DELETE_SUCCESS" if deleted else "SUCCESS"}]}


@pytest.mark.parametrize("delivered, throttled_again", [("RUNS_DELETING", False), ("RUNS_DELETED", True),
                                                        (None, False)],
                         ids=["RUNS_DELETING delivered", "RUNS_DELETED delivered, throttled again",
                              "RUNS_DELETED healed"])
def test_members_of_a_processed_batch_are_recorded_even_after_its_runs_were_deleted(
        table_name: str, delivered: str | None, throttled_again: bool) -> None:
    repository = ProvenanceRepository(table_name)
    omics = _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    with pytest.raises(RetryableError):  # PROCESSED recorded, its members not (the message ends in the DLQ)
        recorder.record(parse_omics_event(batch_event("b1", "PROCESSED", T0)))
    omics.throttled = throttled_again
    # The team deletes the batch's runs (DeleteRunBatch on a PROCESSED batch)
    omics.status = "RUNS_DELETED"
    if delivered:
        event = parse_omics_event(batch_event("b1", delivered, T0 + timedelta(minutes=5)))
        if throttled_again:
            with pytest.raises(RetryableError):  # this message too ends in the DLQ: the batch stays indexed
                recorder.record(event)
            assert [i["batch_id"] for i in repository.active_since_before("BATCH", "~")] == ["b1"]
        else:
            recorder.record(event)
    omics.throttled = False
    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=2))
    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))

    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    members = repository.items_with_prefix(keys.batch_pk("b1"), "MEMBER#")
    assert len(members) == 1, (f"members recorded: {len(members)}; batch status {summary.get('status')}, "
                               f"in active index: {'active_pk' in summary}, "
                               f"members_recorded_at: {summary.get('members_recorded_at')}")
    assert members[0]["run_id"] == "1111111" and "members_error" not in summary
    # RUNS_DELETING delivered is not the end: the sweep healed what GetBatch says (test_reconciler_runs_deleting.py)
    assert summary["status"] == "RUNS_DELETED"
    assert "active_pk" not in summary  # nothing left for the reconciler
