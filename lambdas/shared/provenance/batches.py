"""Batches: status, follow-up links, members (and their re-filing under a root batch) and the requests
that started them, over the BATCH#<batchId> partition (keys.py) and the batch index."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from shared.provenance import keys
from shared.provenance.base import ProvenanceError, RepositoryBase, UpdateOutcome, _Update, serialize
from shared.provenance.items import BatchMember, StatusObservation
from shared.status import BATCH_SETTLED

# A long loop over items (a batch's members re-filed) stops with this much of the invocation left, and a
# chunk of that many items is what it holds and writes between two looks at the time.
WORK_RESERVE_SECONDS = 10.0
REFILE_CHUNK = 1000


class BatchesMixin(RepositoryBase):
    """Reads and writes of run batches."""

    # ------------------------------------------------------------------ batches
    def advance_batch(self, observation: StatusObservation, attributes: Mapping[str, Any]) -> UpdateOutcome:
        batch_id = observation.entity_id
        update = _Update(
            sets={"entity": "BATCH", "batch_id": batch_id, "status": observation.status,
                  "status_time": observation.event_time, **attributes},
            set_if_absent={"batch_pk": keys.batch_pk(batch_id), "batch_sk": f"BATCH#0000#{batch_id}"},
        )
        # PROCESSED and the deletion of its runs stay in the `active` index until the members are recorded
        # (`finish_batch`), like a run until its enrichment is finished; RUNS_DELETING until what follows it.
        if observation.status in BATCH_SETTLED:
            update.removes += ["active_pk", "active_sk"]
        else:
            update.sets.update(keys.active_keys("BATCH", observation.event_time, batch_id))
        key = {keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}
        return self._ordered_update(key, observation.order, update)

    def finish_batch(self, batch_id: str, gone: str | None = None, gone_at: str | None = None) -> None:
        """An ended batch's members are recorded (or can no longer be): it leaves the `active` index. `gone`:
        why HealthOmics can no longer tell anything more about it (noted once, at `gone_at`)."""
        note = {"gone": gone, "gone_at": gone_at} if gone else {}
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(set_if_absent=note, removes=["active_pk", "active_sk"]), returns="NONE")

    def get_batch_link(self, batch_id: str) -> dict[str, Any] | None:
        return self.get_item(*self.batch_link_key(batch_id))

    @staticmethod
    def batch_link_key(batch_id: str) -> tuple[str, str]:
        return keys.batch_pk(batch_id), "LINK"

    def put_batch_link(self, batch_id: str, parent_batch_id: str, root_batch_id: str, attempt: int,
                       attributes: Mapping[str, Any] | None = None) -> int:
        """A follow-up batch's place in its root batch's history (written by whoever starts it, after
        StartRunBatch returned). Returns how many members it re-filed: the recorder may have recorded them
        under the batch itself before the link existed (it reads the link again after its mark; this side
        sees the mark, so one of the two re-files them)."""
        self.put_record({keys.PK: keys.batch_pk(batch_id), keys.SK: "LINK", "entity": "BATCH_LINK",
                         "batch_id": batch_id, "parent_batch_id": parent_batch_id,
                         "root_batch_id": root_batch_id, "attempt": attempt, **(attributes or {})})
        # Index the follow-up's summary under its root so the root's batch view shows it, unless its members
        # are recorded elsewhere (or half re-filed): then the summary moves with them, last.
        update = _Update(sets=self._filed_under(batch_id, root_batch_id, attempt)).build()
        update["ExpressionAttributeNames"].update({"#recorded": "members_recorded_at", "#root": "root_batch_id",
                                                   "#attempt": "attempt", "#refiling": "members_refiling"})
        update["ExpressionAttributeValues"].update(serialize({":root": root_batch_id, ":attempt": attempt}))
        try:
            self._call("update_item", Key=serialize({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}),
                       ConditionExpression="attribute_not_exists(#recorded) OR (#root = :root AND "
                                           "#attempt = :attempt AND attribute_not_exists(#refiling))",
                       **update)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.refile_batch_members(batch_id, root_batch_id, attempt)
        return 0

    @staticmethod
    def _filed_under(batch_id: str, root_batch_id: str, attempt: int) -> dict[str, Any]:
        """A batch summary's place in the batch index: under its root batch, at its attempt."""
        return {"batch_pk": keys.batch_pk(root_batch_id), "batch_sk": f"BATCH#{attempt:04d}#{batch_id}",
                "root_batch_id": root_batch_id, "attempt": attempt, "batch_id": batch_id, "entity": "BATCH"}

    def refile_batch_members(self, batch_id: str, root_batch_id: str, attempt: int) -> int:
        """File a batch's recorded members under `root_batch_id` at `attempt` (its LINK came after them),
        from what the table holds; returns how many moved. A member's key is its batch's partition, so
        rewriting its index attributes takes it out of the wrong root's view: nothing else to delete.
        Idempotent: every re-filer writes the same values. The summary is marked first and moved last, so a
        re-file stopped half-way is finished by the next one (`members_refiling`)."""
        key = {keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}
        self.mark_members_refiling(batch_id, root_batch_id)
        # A chunk of members at a time, each written before the next is read: memory stays one chunk, and a
        # 100,000-member batch stops with time left (its record alone retried) instead of at the timeout,
        # which would fail every record of the invocation. Each try moves at least one chunk (members an
        # earlier try moved are skipped), and stops only with members still to move.
        members = self.iter_with_prefix(keys.batch_pk(batch_id), keys.member_sk(""), ConsistentRead=True)
        moved = 0
        while chunk := list(itertools.islice(members, REFILE_CHUNK)):
            stale = [{**item, **self._member_filed_under(root_batch_id, attempt, item["run_setting_id"])}
                     for item in chunk
                     if (item.get("root_batch_id"), int(item.get("attempt", 0))) != (root_batch_id, attempt)]
            if not stale:
                continue
            if moved and self.time_left() < WORK_RESERVE_SECONDS:
                raise ProvenanceError(f"batch {batch_id}: re-file stopped for time after {moved} members; resumes",
                                      True)
            if self.put_items(stale):
                raise ProvenanceError(f"batch {batch_id}: re-filed members were not all written", True)
            moved += len(stale)
        place = self._filed_under(batch_id, root_batch_id, attempt)
        self._update(key, _Update(sets=place, removes=["members_refiling"]), returns="NONE")
        return moved

    def mark_members_refiling(self, batch_id: str, root_batch_id: str) -> None:
        """The batch's members belong under `root_batch_id` and some may not be there: whoever sees the mark
        re-files them from the LINK (`refile_batch_members` clears it once they and the summary moved)."""
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(sets={"members_refiling": root_batch_id}), returns="NONE")

    @staticmethod
    def _member_filed_under(root_batch_id: str, attempt: int, run_setting_id: str) -> dict[str, Any]:
        """A member's place in the batch index: under its root batch, at its batch's attempt."""
        return {"root_batch_id": root_batch_id, "attempt": attempt, "batch_pk": keys.batch_pk(root_batch_id),
                "batch_sk": f"MEMBER#{run_setting_id}#{attempt:04d}"}

    def put_batch_members(self, root_batch_id: str, attempt: int, members: Sequence[BatchMember],
                          recorded_at: str) -> list[dict[str, Any]]:
        items = []
        for m in members:
            items.append({
                keys.PK: keys.batch_pk(m.batch_id), keys.SK: keys.member_sk(m.run_setting_id),
                "entity": "MEMBER", "recorded_at": recorded_at,
                **self._member_filed_under(root_batch_id, attempt, m.run_setting_id),
                "sample_pk": f"SAMPLE#{m.run_setting_id}",
                "sample_sk": f"MEMBER#{m.batch_id}#{m.run_id or '-'}",
                **m.model_dump(exclude_none=True),
            })
        return self.put_items(items)

    def recorded_member_settings(self, batch_id: str, run_ids: Collection[str]) -> dict[str, str]:
        """The runSettingId of each of `run_ids` among the batch's recorded ListRunsInBatch rows (strongly
        consistent; the rows' two ids alone are returned: a 100,000-member batch is a few dozen pages)."""
        wanted = set(run_ids)
        rows = self.iter_with_prefix(keys.batch_pk(batch_id), keys.member_sk(""), ConsistentRead=True,
                                     ProjectionExpression="run_id, run_setting_id")
        return {row["run_id"]: row["run_setting_id"] for row in rows if row.get("run_id") in wanted}

    def checkpoint_batch_members(self, batch_id: str, cursor: str, count: int, root_batch_id: str,
                                 attempt: int, resumed_from: str | None) -> bool:
        """Members recorded so far (under `root_batch_id` at `attempt`: a resume under another root re-files),
        if the cursor is still `resumed_from` and the members are not marked recorded. False: another
        invocation moved it first (or finished) and carries the listing on."""
        return self._move_cursor({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}, "members_cursor",
                                 resumed_from,
                                 _Update(sets={"members_cursor": cursor, "members_count_so_far": count,
                                               "members_cursor_root": self.members_place(root_batch_id, attempt)}),
                                 unless="members_recorded_at")

    @staticmethod
    def members_place(root_batch_id: str, attempt: int) -> str:
        """Where a batch's members are filed (`members_cursor_root`): a resume compares it with its own."""
        return f"{attempt:04d}#{root_batch_id}"

    def mark_batch_members_recorded(self, batch_id: str, root_batch_id: str, attempt: int, count: int,
                                    recorded_at: str, error: str | None = None) -> None:
        """`error`: why the members (after the first `count`) can never be recorded; no one tries again."""
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(removes=["members_cursor", "members_count_so_far", "members_cursor_root"],
                             sets={"members_recorded_at": recorded_at, "members_recorded": count,
                                   **({"members_error": error} if error else {}),
                                   **self._filed_under(batch_id, root_batch_id, attempt)}), returns="NONE")

    # ------------------------------------------------------------------ batch requests
    def put_batch_request(self, batch_id: str, request: Mapping[str, Any], origin: str,
                          attributes: Mapping[str, Any] | None = None) -> None:
        """The exact StartRunBatch request that created `batch_id` (inline settings or the S3 settings
        URI), so a batch-level failure can be resubmitted unchanged and failed members re-run with
        their original per-run settings. `origin` is launcher | rerunner."""
        self.put_record({keys.PK: keys.batch_pk(batch_id), keys.SK: "REQUEST", "entity": "BATCH_REQUEST",
                         "batch_id": batch_id, "origin": origin, "request": dict(request),
                         **(attributes or {})})

    def get_batch_request(self, batch_id: str) -> dict[str, Any] | None:
        return self.get_item(keys.batch_pk(batch_id), "REQUEST")

    # ------------------------------------------------------------------ queries (one Query each)
    def batch_items(self, batch_id: str) -> list[dict[str, Any]]:
        """One batch's own partition: summary, status history, ListRunsInBatch members, link."""
        return self._query_partition(None, keys.batch_pk(batch_id))

    def batch_view(self, root_batch_id: str) -> list[dict[str, Any]]:
        """A root batch with its follow-ups, submission, members and every attempt's run summary."""
        return self._query_partition(keys.GSI_BATCH, keys.batch_pk(root_batch_id))
