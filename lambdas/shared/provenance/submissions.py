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
    # Once a batch exists the item carries the batch GSI keys, so batch_view shows it. A relaunch moves it to
    # the new batch: each launch attempt with a batch also keeps its own record, SUBMISSION#<id>/ATTEMPT#<n>,
    # filed under that attempt's batch, so a failed first batch still names the submission that started it.
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
            update.sets.update(keys.submission_batch_keys(str(batch_id), submission_id))
        order = f"{rank:02d}" if attempt <= 1 else f"a{attempt:03d}-{rank:02d}"  # "a..." sorts after "04"
        result = self._ordered_update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                                      order, update, order_attribute="submission_order")
        # Also on a redelivery of what is recorded: the attempt's record may be what a crash left unwritten.
        if batch_id and result.item.get("submission_order") == order:
            self._record_attempt(submission_id, attempt, str(batch_id), order, result.item)
        return result

    def _record_attempt(self, submission_id: str, attempt: int, batch_id: str, order: str,
                        summary: Mapping[str, Any]) -> None:
        """The submission as this launch attempt left it (its sheet, status, batch), under the attempt's batch;
        forward only, like the summary it copies."""
        facts = {k: v for k, v in summary.items()
                 if k not in (keys.PK, keys.SK, "batch_pk", "batch_sk", "submission_order")}
        update = _Update(sets={**facts, "entity": "SUBMISSION_ATTEMPT", "attempt": attempt,
                               **keys.submission_batch_keys(batch_id, submission_id, attempt)})
        self._ordered_update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.submission_attempt_sk(attempt)},
                             order, update, order_attribute="submission_order", item=False)

    def annotate_submission(self, submission_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Add facts to an existing submission (e.g. a batch-level failure and its resubmission)."""
        return self._update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                            _Update(sets=_plain(dict(attributes))))
