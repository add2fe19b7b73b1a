"""Runs: status history, summaries moved forward in order, details, tasks, samples and lineage, over the
RUN#<runId> partition (keys.py) and the lineage, sample and unresolved indexes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from shared.lineage import RunClaim
from shared.provenance import keys
from shared.provenance.base import ProvenanceError, RepositoryBase, UpdateOutcome, _Update, serialize
from shared.provenance.items import BatchMember, RunDetails, StatusObservation, TaskDetails
from shared.status import RUN_TERMINAL, RunStatus

# resourceDigests are inlined in the run summary up to this size; beyond it (thousands of inputs) they go to
# chunk items under the run, each well under DynamoDB's 400 KB item limit.
INLINE_DIGESTS_BYTES = 64 * 1024
DIGEST_CHUNK_BYTES = 256 * 1024


def run_first_seen(summary: Mapping[str, Any]) -> str:
    """When a run began: its creation time (GetRun), else when the stack started it, else its earliest recorded
    status (`first_seen_at`, read from its history by `run_summaries` / `runs_with_id`, never stored: a stored
    first-seen time would depend on the order events arrive in). Never its latest status time: a deleted run
    healed by a sweep would look newer than the run that reused its id."""
    return str(summary.get("creation_time") or summary.get("started_at") or summary.get("first_seen_at") or "")


def _status_time(status_sk: str) -> str:
    """The time in a status history sort key relative to its run: STATUS#<rank>#<time>#<status>."""
    return status_sk.split("#")[2]


def _run_order(summary: Mapping[str, Any]) -> tuple[str, str]:
    """Runs that carried one id, in time order: a reused id belongs to a run created after the previous
    one was deleted (the uuid only breaks ties)."""
    return run_first_seen(summary), str(summary.get("run_uuid") or "")


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


class WaitingClaim(NamedTuple):
    """A run whose claim is not proven yet (shared/supersede.py), as its marker records it."""

    claim: RunClaim
    index_keys: dict[str, Any]  # where the run is indexed once proven
    supersedes: bool  # it completed or failed: once proven a re-run, it settles its parent's failure


class RunsMixin(RepositoryBase):
    """Reads and writes of runs and their tasks."""

    # ------------------------------------------------------------------ history
    @staticmethod
    def history_item(observation: StatusObservation) -> dict[str, Any]:
        identity: dict[str, Any] = {}
        if observation.kind == "TASK":
            assert observation.run_id is not None and observation.run_uuid is not None
            pk = keys.run_pk(observation.run_id)
            sk = keys.run_sk(observation.run_uuid, keys.task_status_sk(
                observation.entity_id, observation.rank, observation.event_time, observation.status))
            identity = {"run_uuid": observation.run_uuid}
        elif observation.kind == "RUN":
            assert observation.run_uuid is not None
            pk = keys.run_pk(observation.entity_id)
            sk = keys.run_sk(observation.run_uuid,
                             keys.status_sk(observation.rank, observation.event_time, observation.status))
            identity = {"run_uuid": observation.run_uuid}
        else:
            pk = keys.batch_pk(observation.entity_id)
            sk = keys.status_sk(observation.rank, observation.event_time, observation.status)
        return {
            keys.PK: pk,
            keys.SK: sk,
            "entity": f"{observation.kind}_STATUS",
            "status": observation.status,
            "event_time": observation.event_time,
            **identity,
            **observation.attributes,
        }

    # ------------------------------------------------------------------ runs
    def advance_run(self, observation: StatusObservation, attributes: Mapping[str, Any]) -> UpdateOutcome:
        """Move a run's summary to this status if it is newer than what is recorded.

        A terminal status is also the run's `outcome`, ordered on its own (`outcome_order`): DELETED
        outranks every status, and when it arrives first the terminal event must still set the outcome.
        The item comes back for a terminal status only (whether to enrich the run is decided on it).
        A terminal run stays in the `active` index, under its terminal event's time, until its enrichment
        is finished (`finish_run`): one whose enrichment failed where nothing retries it (the reconciler's
        heal, a message gone to the DLQ) is found there and finished by a later sweep. DELETED leaves the index
        as it is: an enriched run has left it, and one deleted before its enrichment (its terminal event lost)
        stays there so that a sweep enriches it from GetRun, which still answers a deleted run for a while."""
        assert observation.run_uuid is not None
        run_id, run_uuid = observation.entity_id, observation.run_uuid
        update = _Update(sets={"entity": "RUN", "run_id": run_id, "run_uuid": run_uuid, "status": observation.status,
                               "status_time": observation.event_time, **attributes})
        terminal = observation.status in RUN_TERMINAL
        deleted = observation.status == RunStatus.DELETED
        if terminal:
            update.sets.update(outcome=observation.status, outcome_order=observation.order,
                               outcome_time=observation.event_time)
        if not deleted:
            update.sets.update(keys.active_keys("RUN", observation.event_time, run_id))
        key = self.run_summary_key(run_id, run_uuid)
        result = self._ordered_update(key, observation.order, update, item=terminal or deleted)
        if deleted and result.applied and "active_pk" not in result.item and "details_recorded_at" not in result.item:
            # DELETED is the first event recorded for this run: into the index, to be enriched like the others
            self._update(key, _Update(sets=keys.active_keys("RUN", observation.event_time, run_id)), returns="NONE")
        if terminal and not result.applied and str(result.item.get("outcome_order", "")) < observation.order:
            # A later status (DELETED) is recorded: keep it, and record the outcome beside it.
            outcome = _Update(sets={"outcome": observation.status, "outcome_time": observation.event_time})
            result = UpdateOutcome(False, self._ordered_update(key, observation.order, outcome,
                                                               order_attribute="outcome_order").item)
        return result

    def finish_run(self, run_id: str, run_uuid: str) -> None:
        """The run's enrichment is finished (details, tasks, cost and what follows), or was already and a later
        terminal event put the run back in the `active` index: it leaves the index."""
        self._update(self.run_summary_key(run_id, run_uuid),
                     _Update(removes=["active_pk", "active_sk", "enrichment_pending", "tasks_cursor"]),
                     returns="NONE")

    def checkpoint_run_tasks(self, run_id: str, run_uuid: str, cursor: str, resumed_from: str | None) -> bool:
        """The ListRunTasks cursor after the task pages recorded so far, if it is still `resumed_from`. False:
        another invocation (a duplicate event or continuation) moved it first and carries the enrichment on."""
        return self._move_cursor(self.run_summary_key(run_id, run_uuid), "tasks_cursor", resumed_from,
                                 _Update(sets={"tasks_cursor": cursor}))

    @staticmethod
    def run_index_keys(details: RunDetails) -> dict[str, Any]:
        """Where a run's lineage places it: its attempt chain, its sample (when known), its root batch (if any)."""
        index: dict[str, Any] = keys.lineage_keys(details.root_run_id, details.root_run_uuid, details.attempt,
                                                  details.run_id, str(details.uuid))
        if details.sample:
            index["sample_pk"] = f"SAMPLE#{details.sample}"
        if details.root_batch_id:
            index["batch_pk"] = keys.batch_pk(details.root_batch_id)
            index["batch_sk"] = f"RUN#{details.sample or '-'}#{details.attempt:04d}#{details.run_id}#{details.uuid}"
        return index

    def record_run_details(self, details: RunDetails, recorded_at: str, outcome: str | None = None,
                           placed: bool = True, cost: Mapping[str, Any] | None = None) -> None:
        """Write what GetRun said about a run (idempotent) and index it for lineage/sample/batch/unresolved.

        `outcome` is the run's terminal status as the ordered event history established it; GetRun's own
        status is kept as `api_status` and never overwrites the ordered `status`/`outcome`. A digest list
        too large to inline goes to chunk items under the run first, so the summary never exceeds 400 KB.
        `placed=False`: its lineage claims a place no record proves yet (shared/supersede.py): recorded with its
        tags, as an `unproven_claim`, but out of the lineage, sample and batch indexes until `admit_run`.
        `cost`: the run's cost totals, written with its details (a reader sees both or neither)."""
        assert details.uuid, "a run's details are recorded under its uuid"
        run_uuid = details.uuid
        facts = details.model_dump(exclude_none=True, exclude={"run_id", "status"})
        digests = facts.pop("resource_digests", None)
        # `enrichment_pending` until `finish_run`: a retry, or a later terminal event, knows the details alone
        # are written and what follows them (supersede, adoption, storage, reprice) is not.
        update = _Update(sets={**facts, "entity": "RUN", "run_id": details.run_id, "run_uuid": run_uuid,
                               "details_recorded_at": recorded_at, "enrichment_pending": True,
                               "details_outcome": outcome or "UNKNOWN"},
                         removes=["tasks_cursor"])  # every task page is recorded: a later enrichment starts over
        if details.status:  # a run that is gone has no API status
            update.sets["api_status"] = details.status
        if cost is not None:
            update.sets["cost"] = dict(cost)
        if digests:
            chunks = self._digest_chunks(digests)
            if len(chunks) == 1 and _size(digests) <= INLINE_DIGESTS_BYTES:
                update.sets["resource_digests"] = digests
            else:
                items = [{keys.PK: keys.run_pk(details.run_id), keys.SK: keys.digests_sk(run_uuid, index),
                          "entity": "RUN_DIGESTS", "run_uuid": run_uuid, "resource_digests": chunk}
                         for index, chunk in enumerate(chunks)]
                if self.put_items(items):
                    raise ProvenanceError(f"digest chunks of run {details.run_id} were not all written", True)
                update.sets["resource_digests_chunks"] = len(chunks)
                update.removes.append("resource_digests")
        when = details.creation_time or recorded_at
        # indexed under its sample once known (here, admit_run or adopt_sample)
        update.sets["sample_sk"] = keys.sample_keys(details.sample or "", when, details.run_id, run_uuid)["sample_sk"]
        if placed:
            update.sets.update(self.run_index_keys(details))
        else:
            update.sets["unproven_claim"] = True
        if outcome in RUN_TERMINAL:  # set by the ordered event history; only fills a summary no event reached yet
            update.set_if_absent.update({"outcome": outcome, "status": outcome})
        if outcome == RunStatus.FAILED:
            update.sets["unresolved_pk"] = keys.UNRESOLVED
            update.sets["unresolved_sk"] = f"{details.stop_time or recorded_at}#{details.run_id}#{run_uuid}"
        if outcome != RunStatus.FAILED:  # only a failure is indexed as unresolved: nothing to read back
            self._update(self.run_summary_key(details.run_id, run_uuid), update, returns="NONE")
            return
        item = self._update(self.run_summary_key(details.run_id, run_uuid), update)
        if item.get("superseded_by"):
            # A later attempt was recorded first (events reorder): this failure is already handled.
            self._clear_unresolved(details.run_id, run_uuid, item["superseded_by"])

    def record_late_outcome(self, run_id: str, run_uuid: str, outcome: str, failed_at: str) -> None:
        """The terminal outcome of a run whose details were recorded before it was known (deleted first and
        enriched by a sweep): recorded as the details' outcome, a failure indexed as unresolved (unless a later
        attempt superseded it already)."""
        update = _Update(sets={"details_outcome": outcome})
        if outcome == RunStatus.FAILED:
            update.sets["unresolved_pk"] = keys.UNRESOLVED
            update.sets["unresolved_sk"] = f"{failed_at}#{run_id}#{run_uuid}"
        item = self._update(self.run_summary_key(run_id, run_uuid), update)
        if outcome == RunStatus.FAILED and item.get("superseded_by"):
            self._clear_unresolved(run_id, run_uuid, item["superseded_by"])

    @staticmethod
    def _digest_chunks(digests: Mapping[str, str]) -> list[dict[str, str]]:
        chunks: list[dict[str, str]] = [{}]
        size = 0
        for uri, digest in digests.items():
            entry = len(uri.encode()) + len(str(digest).encode()) + 8
            if chunks[-1] and size + entry > DIGEST_CHUNK_BYTES:
                chunks.append({})
                size = 0
            chunks[-1][uri] = digest
            size += entry
        return chunks

    def _clear_unresolved(self, run_id: str, run_uuid: str, child_run_id: str) -> None:
        update = _Update(sets={"superseded_by": child_run_id}, removes=["unresolved_pk", "unresolved_sk"])
        self._update(self.run_summary_key(run_id, run_uuid), update, returns="NONE")

    def supersede(self, parent_run_id: str, parent_run_uuid: str, child_run_id: str) -> None:
        """A later attempt of the parent run exists: the parent's failure is no longer unresolved. Only after
        the re-runner's records proved it (shared/supersede.py): a run's lineage tags alone prove nothing."""
        self._clear_unresolved(parent_run_id, parent_run_uuid, child_run_id)

    # ------------------------------------------------------------------ re-run proof (shared/supersede.py)
    def rerun_records(self, run_id: str, run_uuid: str,
                      attempt: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The re-runner's decision and claim on `attempt` of a failed run (id, uuid): one consistent
        BatchGetItem of both."""
        decision, claim = self.rerun_record_keys(run_id, run_uuid, attempt)
        found = self.get_items([decision, claim])
        return found.get(decision), found.get(claim)

    @staticmethod
    def rerun_record_keys(run_id: str, run_uuid: str, attempt: int) -> tuple[tuple[str, str], tuple[str, str]]:
        """The keys of the re-runner's decision and claim on `attempt` of a failed run (id, uuid)."""
        decision = (keys.run_pk(run_id), keys.run_sk(run_uuid, keys.rerun_sk(attempt)))
        return decision, (decision[0], decision[1] + keys.RERUN_CLAIM)

    def admit_run(self, run_id: str, run_uuid: str, index_keys: Mapping[str, Any]) -> None:
        """A run's claimed place is proven (shared/supersede.py): indexed there, no longer an unproven claim."""
        self._update(self.run_summary_key(run_id, run_uuid), _Update(sets=dict(index_keys), removes=["unproven_claim"]),
                     returns="NONE")

    @staticmethod
    def waiting_claim_key(claim: RunClaim) -> tuple[str, str] | None:
        """Where a run whose claim is not proven waits: where the record that can prove it is written afterwards
        looks (a batch's members: their batch, one Query); a standalone run under the parent it names (a copy of
        it is proven at once; anything else never is). None: nowhere (no batch, no parent known by its uuid)."""
        sk = keys.waiting_rerun_sk(claim.run_id, claim.run_uuid)
        if claim.batch_id:
            return keys.batch_pk(claim.batch_id), sk
        if claim.parent_run_id and claim.parent_run_uuid:
            return keys.run_pk(claim.parent_run_id), keys.run_sk(claim.parent_run_uuid, sk)
        return None

    def put_waiting_claim(self, claim: RunClaim, index_keys: Mapping[str, Any], supersedes: bool,
                          expires_at: int) -> bool:
        """Leave the run waiting for a proof, until `expires_at` (the table's TTL). False: nowhere to wait."""
        key = self.waiting_claim_key(claim)
        if key is None:
            return False
        # child_* names: a run partition groups its items by `run_uuid` (runs_with_id), which is the parent's here.
        self.put_record({keys.PK: key[0], keys.SK: key[1], "entity": "WAITING_RERUN", "child_run_id": claim.run_id,
                         "child_run_uuid": claim.run_uuid, "child_batch_id": claim.batch_id,
                         "child_source_run_id": claim.source_run_id, "root_run_id": claim.root_run_id,
                         "root_batch_id": claim.root_batch_id, "parent_run_id": claim.parent_run_id,
                         "parent_run_uuid": claim.parent_run_uuid, "attempt": claim.attempt,
                         "supersedes": supersedes, "index_keys": dict(index_keys), keys.TTL_ATTRIBUTE: expires_at})
        return True

    def delete_waiting_claim(self, claim: RunClaim) -> None:
        key = self.waiting_claim_key(claim)
        if key is not None:
            self.delete_item(*key)

    @staticmethod
    def _waiting(item: Mapping[str, Any]) -> WaitingClaim:
        # A marker written before claims were placed names a parent and waits only to supersede it.
        parent = item.get("parent_run_id")
        claim = RunClaim(run_id=str(item["child_run_id"]), run_uuid=str(item["child_run_uuid"]),
                         batch_id=item.get("child_batch_id"), source_run_id=item.get("child_source_run_id"),
                         root_run_id=str(item.get("root_run_id") or parent), root_batch_id=item.get("root_batch_id"),
                         parent_run_id=parent, parent_run_uuid=item.get("parent_run_uuid"),
                         attempt=int(item["attempt"]))
        return WaitingClaim(claim, dict(item.get("index_keys") or {}), bool(item.get("supersedes", True)))

    def waiting_claims_in_batch(self, batch_id: str) -> list[WaitingClaim]:
        """The batch's members whose claims no record proved yet (consistent Query)."""
        return [self._waiting(item)
                for item in self.iter_with_prefix(keys.batch_pk(batch_id), keys.WAITING_RERUN, ConsistentRead=True)]

    def put_tasks(self, tasks: Iterable[TaskDetails], recorded_at: str,
                  annotations: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """`annotations`: extra attributes per task id (its cost), written in the same item."""
        return self.put_items(self.task_items(tasks, recorded_at, annotations))

    @staticmethod
    def task_items(tasks: Iterable[TaskDetails], recorded_at: str,
                   annotations: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        extra = annotations or {}
        return [
            {keys.PK: keys.run_pk(t.run_id), keys.SK: keys.run_sk(t.run_uuid, keys.task_sk(t.task_id)),
             "entity": "TASK", "recorded_at": recorded_at, **t.model_dump(exclude_none=True),
             **extra.get(t.task_id, {})}
            for t in tasks
        ]

    # ------------------------------------------------------------------ a run's sample
    def put_run_samples(self, members: Sequence[BatchMember]) -> list[dict[str, Any]]:
        """Each listed run's sample (runSettingId) under the run (id, uuid): how the recorder finds the sample
        of a run that carries no sample tag (costTagSample=false)."""
        return self.put_items([
            {keys.PK: keys.run_pk(m.run_id), keys.SK: keys.run_sk(m.run_uuid, keys.RUN_SAMPLE),
             "entity": "RUN_SAMPLE", "sample": m.run_setting_id, "batch_id": m.batch_id}
            for m in members if m.run_id and m.run_uuid])

    def run_sample(self, run_id: str, run_uuid: str) -> str | None:
        item = self.get_item(keys.run_pk(run_id), keys.run_sk(run_uuid, keys.RUN_SAMPLE)) or {}
        return str(item["sample"]) if item.get("sample") else None

    def adopt_sample(self, run_id: str, run_uuid: str, sample: str) -> bool:
        """Index a recorded run (details written, so its sample_sk is) under `sample`, unless it has one."""
        try:
            self._call("update_item", Key=serialize(self.run_summary_key(run_id, run_uuid)),
                       UpdateExpression="SET #sample = :sample, #pk = :pk",
                       ConditionExpression="attribute_exists(#recorded) AND attribute_not_exists(#pk)",
                       ExpressionAttributeNames={"#sample": "sample", "#pk": "sample_pk",
                                                 "#recorded": "details_recorded_at"},
                       ExpressionAttributeValues=serialize({":sample": sample, ":pk": f"SAMPLE#{sample}"}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # ------------------------------------------------------------------ queries (one Query each)
    def run_items(self, run_id: str, run_uuid: str | None = None) -> list[dict[str, Any]]:
        """Everything recorded about one run: summary, status history, tasks and their histories, with sort
        keys relative to the run (SUMMARY, STATUS#..., TASK#...) and digest chunks joined into the summary.
        A run is (id, uuid); without a uuid, the latest run that carried the id (ids of deleted runs are
        reused, never while the run exists)."""
        by_uuid = self.runs_with_id(run_id)
        if not by_uuid:
            return []
        if run_uuid is None:
            run_uuid = list(by_uuid)[-1]
        return by_uuid.get(run_uuid, [])

    def runs_with_id(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every run that carried `run_id` (oldest first), each with its run_items: one Query."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        summaries: dict[str, dict[str, Any]] = {}
        chunks: dict[str, list[dict[str, Any]]] = {}
        for item in self._query_partition(None, keys.run_pk(run_id)):
            run_uuid = str(item.get("run_uuid", ""))
            if not run_uuid:
                continue
            sk = str(item[keys.SK])
            if sk == keys.run_summary_sk(run_uuid):
                item = {**item, keys.SK: keys.SUMMARY}
                summaries[run_uuid] = item
            elif sk.startswith(keys.run_sk(run_uuid, "")):
                item = {**item, keys.SK: sk[len(keys.run_sk(run_uuid, "")):]}
                if item.get("entity") == "RUN_DIGESTS":
                    chunks.setdefault(run_uuid, []).append(item)
                    continue
            grouped.setdefault(run_uuid, []).append(item)
        for run_uuid, parts in chunks.items():
            if run_uuid in summaries:
                joined: dict[str, str] = {}
                for part in sorted(parts, key=lambda p: p[keys.SK]):
                    joined.update(part.get("resource_digests") or {})
                summaries[run_uuid]["resource_digests"] = joined
        for run_uuid, summary in summaries.items():
            history = [str(i[keys.SK]) for i in grouped.get(run_uuid, []) if str(i[keys.SK]).startswith("STATUS#")]
            if history:
                summaries[run_uuid] = summary = {**summary, "first_seen_at": _status_time(min(history))}
                grouped[run_uuid] = [summary if i[keys.SK] == keys.SUMMARY else i for i in grouped[run_uuid]]
        order = sorted(grouped, key=lambda u: _run_order(summaries.get(u, {})))
        return {u: sorted(grouped[u], key=lambda i: i[keys.SK]) for u in order}

    def run_summaries(self, run_id: str) -> list[dict[str, Any]]:
        """The summary of every run that carried `run_id`, oldest first (one Query of summaries only)."""
        items = list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.run_pk(run_id), ":prefix": keys.run_summary_sk("")}),
            ConsistentRead=True,
        ))
        if len(items) > 1:  # runs sharing an id: those without a creation time are placed by their history
            items = [item if run_first_seen(item) else {**item, **self._first_status(run_id, str(item["run_uuid"]))}
                     for item in items]
        return sorted(items, key=_run_order)

    def _first_status(self, run_id: str, run_uuid: str) -> dict[str, str]:
        """`first_seen_at`: the time of a run's lowest-ranked recorded status (its history sorts by rank, then
        time), one item read; none without a history."""
        first = next(self._query(None, KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                                 ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
                                 ExpressionAttributeValues=serialize({":pk": keys.run_pk(run_id),
                                                                      ":prefix": keys.run_sk(run_uuid, "STATUS#")}),
                                 ConsistentRead=True, Limit=1), None)
        if first is None:
            return {}
        return {"first_seen_at": _status_time(str(first[keys.SK])[len(keys.run_sk(run_uuid, "")):])}

    def run_summary(self, run_id: str, run_uuid: str) -> dict[str, Any] | None:
        key = self.run_summary_key(run_id, run_uuid)
        return self.get_item(key[keys.PK], key[keys.SK])

    def live_run_summaries(self, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For runs known by id alone (ListRunsInBatch, ListRuns): the latest run that carried each id,
        which is the live one (an id is reused only after its run was deleted). One Query per id."""
        found = {}
        for run_id in dict.fromkeys(run_ids):
            summaries = self.run_summaries(run_id)
            if summaries:
                found[run_id] = summaries[-1]
        return found

    def attempt_chain(self, root_run_id: str, root_run_uuid: str | None = None) -> list[dict[str, Any]]:
        """Every attempt of a root run (id, uuid), in attempt order (root first). Without a uuid: of the
        latest run that carried the root's id (one more Query)."""
        if root_run_uuid is None:
            latest = self.run_summaries(root_run_id)
            root_run_uuid = str(latest[-1]["run_uuid"]) if latest else None
        return self._query_partition(keys.GSI_LINEAGE, keys.lineage_pk(root_run_id, root_run_uuid))

    def sample_runs(self, sample: str) -> list[dict[str, Any]]:
        """Every run and batch membership of one sample (runSettingId / sample tag)."""
        return self._query_partition(keys.GSI_SAMPLE, f"SAMPLE#{sample}")

    def unresolved_failures(self) -> list[dict[str, Any]]:
        """Failed runs with no later attempt recorded, oldest failure first."""
        return self._query_partition(keys.GSI_UNRESOLVED, keys.UNRESOLVED)
