"""Sample-sheet submissions (the launcher's), under the SUBMISSION#<id> partition (keys.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.provenance import keys
from shared.provenance.base import RepositoryBase, UpdateOutcome, _plain, _Update


class SubmissionsMixin(RepositoryBase):
    """Reads and writes of sample-sheet submissions."""

    # ------------------------------------------------------------------ launcher: sample-sheet submissions
    # SUBMISSION#<id>/SUMMARY moves forward only: ACCEPTED < REJECTED < SUBMITTED < FAILED (its batch failed
    # as a whole and was not resubmitted), ranked in `submission_order`, so a late or duplicate delivery never
    # turns a submitted sheet back into an accepted one. A FAILED submission may be launched again: each launch
    # attempt ranks above every status of the one before (attempt 1 keeps the original ranks "01".."04").
    # Once a batch exists the item carries the batch GSI keys, so batch_view shows it.
    SUBMISSION_RANK = {"ACCEPTED": 1, "REJECTED": 2, "SUBMITTED": 3, "FAILED": 4}

    def get_submission(self, submission_id: str) -> dict[str, Any] | None:
        return self.get_item(keys.submission_pk(submission_id), keys.SUMMARY)

    def record_submission(self, submission_id: str, status: str, recorded_at: str,
                          attributes: Mapping[str, Any], attempt: int = 1) -> UpdateOutcome:
        """Record a submission's status (ACCEPTED | REJECTED | SUBMITTED | FAILED) at its launch `attempt`
        with its facts, forward only (applied: False when the item is already there or further)."""
        rank = self.SUBMISSION_RANK[status]
        update = _Update(sets={"entity": "SUBMISSION", "submission_id": submission_id, "status": status,
                               "status_time": recorded_at, **_plain(dict(attributes))})
        if attempt > 1:
            update.sets["attempt"] = attempt
        batch_id = attributes.get("batch_id")
        if batch_id:
            update.sets["batch_pk"] = keys.batch_pk(str(batch_id))
            update.sets["batch_sk"] = f"SUBMISSION#{submission_id}"
        order = f"{rank:02d}" if attempt <= 1 else f"a{attempt:03d}-{rank:02d}"  # "a..." sorts after "04"
        return self._ordered_update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                                    order, update, order_attribute="submission_order")

    def annotate_submission(self, submission_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Add facts to an existing submission (e.g. a batch-level failure and its resubmission)."""
        return self._update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                            _Update(sets=_plain(dict(attributes))))
