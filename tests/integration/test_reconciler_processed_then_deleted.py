"""Known defect, kept as a strict xfail until fixed (it then fails: remove the mark).

Reviewer 3: a PROCESSED batch whose members were never recorded (ListRunsInBatch throttled, message to the
DLQ) stays in the `active` index so the reconciler finishes it -- unless a later status arrives first:
RUNS_DELETING / RUNS_DELETED (DeleteRunBatch on a PROCESSED batch) is BATCH_SETTLED, takes the batch out of
the index, and finish_batch records members only for INPROGRESS/PROCESSED. The sample -> run map of the batch
is then never recorded, although ListRunsInBatch still answers."""

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

OPEN_DEFECT = (
    'open defect (reviewer 3, session 11): a PROCESSED batch whose members were never recorded leaves the'
    ' active index on RUNS_DELETING/RUNS_DELETED, so its members are never recorded'
)


class _Omics:
    def __init__(self) -> None:
        self.status, self.throttled = "PROCESSED", True

    def get_batch(self, **_: Any) -> dict[str, Any]:
        return {"id": "b1", "arn": ARN, "uuid": "uuid-b1", "status": self.status}

    def list_runs_in_batch(self, **_: Any) -> dict[str, Any]:
        if self.throttled:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListRunsInBatch")
        return {"runs": [{"runSettingId": "s1", "runId": "1111111",
                          "runArn": "arn:aws:omics:us-east-1:123456789012:run/1111111"}]}


@pytest.mark.xfail(strict=True, reason=OPEN_DEFECT)
@pytest.mark.parametrize("delivered", [True, False], ids=["RUNS_DELETING delivered", "RUNS_DELETED healed"])
def test_members_of_a_processed_batch_are_recorded_even_after_its_runs_were_deleted(table_name: str,
                                                                                    delivered: bool) -> None:
    repository = ProvenanceRepository(table_name)
    omics = _Omics()
    recorder = Recorder(repository, omics=lambda: omics)
    with pytest.raises(RetryableError):  # PROCESSED recorded, its members not (the message ends in the DLQ)
        recorder.record(parse_omics_event(batch_event("b1", "PROCESSED", T0)))
    omics.throttled = False
    # The team deletes the batch's runs (DeleteRunBatch on a PROCESSED batch)
    omics.status = "RUNS_DELETED"
    if delivered:
        recorder.record(parse_omics_event(batch_event("b1", "RUNS_DELETING", T0 + timedelta(minutes=5))))
    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=2))
    Reconciler(recorder, stale_after=timedelta(minutes=30)).sweep(T0 + timedelta(hours=3))

    summary = repository.get_item(keys.batch_pk("b1"), keys.SUMMARY) or {}
    members = repository.items_with_prefix(keys.batch_pk("b1"), "MEMBER#")
    assert len(members) == 1, (f"members recorded: {len(members)}; batch status {summary.get('status')}, "
                               f"in active index: {'active_pk' in summary}, "
                               f"members_recorded_at: {summary.get('members_recorded_at')}")
