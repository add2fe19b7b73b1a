"""The provenance data-access layer: the only module that talks to the provenance table.

Writes are idempotent and order-independent:
- history items are keyed by (rank, time, status), so a duplicate rewrites the same item, even when
  it arrives under another event id;
- summaries move forward only: a conditional update on `status_order` (rank, time, event id);
- details from HealthOmics are facts of the run, written unconditionally (same truth each time).
Queries answer DESIGN.md's questions with one DynamoDB Query each.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.provenance import keys
from shared.provenance.items import BatchMember, RunDetails, StatusObservation, TaskDetails
from shared.status import BATCH_SETTLED, RUN_TERMINAL, RunStatus

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

BATCH_WRITE_LIMIT = 25
# UnprocessedItems / UnprocessedKeys (what a throttled BatchWriteItem / BatchGetItem answers, with HTTP 200)
# are not retried by the SDK: they are sent again after an exponential pause (equal jitter), at most this
# many sends in all (pauses under 3.2 s for writes, 6.4 s for reads).
BATCH_WRITE_TRIES = 7
BATCH_GET_TRIES = 8
UNPROCESSED_BASE_PAUSE_SECONDS = 0.05
# Seconds of the invocation a pause before resending unprocessed items may not eat into: the caller still has to
# report them unwritten (and be retried) before the Lambda timeout, which would fail every record it holds.
UNPROCESSED_RESERVE_SECONDS = 5.0
# A long loop over items (a batch's members re-filed) stops with this much of the invocation left, and a
# chunk of that many items is what it holds and writes between two looks at the time.
WORK_RESERVE_SECONDS = 10.0
REFILE_CHUNK = 1000
# resourceDigests are inlined in the run summary up to this size; beyond it (thousands of inputs) they go to
# chunk items under the run, each well under DynamoDB's 400 KB item limit.
INLINE_DIGESTS_BYTES = 64 * 1024
DIGEST_CHUNK_BYTES = 256 * 1024
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def _run_order(summary: Mapping[str, Any]) -> str:
    """Runs that carried one id, in time order: a reused id belongs to a run created after the previous
    one was deleted, so creation time (or, before enrichment, the latest event time) orders them."""
    return str(summary.get("creation_time") or summary.get("status_time") or summary.get("started_at") or "")


class ProvenanceError(Exception):
    """The table refused a write or read; `retryable` says whether a later attempt may succeed."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _plain(value: Any) -> Any:
    """Python values -> DynamoDB-serializable values (floats as Decimal, drop None in maps)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _from_ddb(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_ddb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_ddb(v) for v in value]
    return value


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_plain(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_ddb(_deserializer.deserialize(v)) for k, v in item.items()}


@dataclass
class _Update:
    """Builds one UpdateItem expression from SET and REMOVE clauses."""

    sets: dict[str, Any] = field(default_factory=dict)
    set_if_absent: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)

    def build(self) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses: list[str] = []
        for index, (name, value) in enumerate(self.sets.items()):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            clauses.append(f"#s{index} = :s{index}")
        for index, (name, value) in enumerate(self.set_if_absent.items()):
            names[f"#n{index}"] = name
            values[f":n{index}"] = value
            clauses.append(f"#n{index} = if_not_exists(#n{index}, :n{index})")
        expression = "SET " + ", ".join(clauses) if clauses else ""
        if self.removes:
            for index, name in enumerate(self.removes):
                names[f"#r{index}"] = name
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(self.removes)))
        return {
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values) if values else None,
        }


@dataclass(frozen=True)
class UpdateOutcome:
    """Result of an ordered summary update: whether it moved the item forward, and the item now (empty when
    the caller did not ask for it back)."""

    applied: bool
    item: dict[str, Any]


class ProvenanceRepository:
    def __init__(self, table_name: str, client: Any | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 time_left: Callable[[], float] = lambda: float("inf")) -> None:
        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")
        self.sleep = sleep
        self.time_left = time_left  # seconds of the invocation left (handlers set it from the Lambda context)

    # ------------------------------------------------------------------ low level
    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **params)  # type: ignore[no-any-return]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            raise ProvenanceError(f"{operation} failed: {code}: {error}", code in _RETRYABLE_CODES) from error

    def _pause(self, attempt: int) -> bool:
        """Before sending unprocessed items or keys again (try `attempt`, from 1): the SDK backs off a failed
        request, not these. Exponential with equal jitter, so concurrent writers spread out. False, without
        pausing, when the pause would leave less than the reserve of the invocation: give up and report."""
        cap = UNPROCESSED_BASE_PAUSE_SECONDS * 2 ** (attempt - 1)
        pause = cap / 2 + random.random() * cap / 2
        if self.time_left() - pause < UNPROCESSED_RESERVE_SECONDS:
            return False
        self.sleep(pause)
        return True

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Unconditional idempotent puts in batches of 25; returns the items that could not be written."""
        unique: dict[tuple[str, str], Mapping[str, Any]] = {}
        for item in items:
            unique[(item[keys.PK], item[keys.SK])] = item  # a batch may not hold one key twice
        pending = list(unique.values())
        failed: list[dict[str, Any]] = []
        for start in range(0, len(pending), BATCH_WRITE_LIMIT):
            chunk = [{"PutRequest": {"Item": serialize(i)}} for i in pending[start : start + BATCH_WRITE_LIMIT]]
            for attempt in range(BATCH_WRITE_TRIES):
                if attempt and not self._pause(attempt):
                    break
                try:
                    response = self.client.batch_write_item(RequestItems={self.table_name: chunk})
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code", "")
                    if code not in _RETRYABLE_CODES:
                        raise ProvenanceError(f"BatchWriteItem failed: {code}", False) from error
                    continue
                chunk = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if not chunk:
                    break
            failed.extend(deserialize(request["PutRequest"]["Item"]) for request in chunk)
        return failed

    def _ordered_update(
        self, key: dict[str, str], order: str, update: _Update, order_attribute: str = "status_order",
        item: bool = True,
    ) -> UpdateOutcome:
        """`item=False`: the caller needs only whether it applied, so the table sends no item back (a
        summary grows large once enriched; duplicates and late events would read it back for nothing)."""
        update.sets[order_attribute] = order
        built = update.build()
        built["ExpressionAttributeNames"]["#order"] = order_attribute
        values = built["ExpressionAttributeValues"]
        values[":order"] = _serializer.serialize(order)
        try:
            response = self._call(
                "update_item",
                Key=serialize(key),
                ConditionExpression="attribute_not_exists(#order) OR #order < :order",
                ReturnValues="ALL_NEW" if item else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD" if item else "NONE",
                **built,
            )
        except ClientError as error:
            return UpdateOutcome(False, deserialize(error.response.get("Item", {})))
        return UpdateOutcome(True, deserialize(response.get("Attributes", {})))

    def _update(self, key: dict[str, str], update: _Update, returns: str = "ALL_NEW", **extra: Any) -> dict[str, Any]:
        """`returns="NONE"` where the caller does not read the item back (it comes back empty)."""
        response = self._call("update_item", Key=serialize(key), ReturnValues=returns, **update.build(), **extra)
        return deserialize(response.get("Attributes", {}))

    def get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call("get_item", Key=serialize({keys.PK: pk, keys.SK: sk}), ConsistentRead=True)
        item = response.get("Item")
        return deserialize(item) if item else None

    def _query(self, index: str | None = None, **params: Any) -> Iterator[dict[str, Any]]:
        request = {"IndexName": index, **params}
        while True:
            response = self._call("query", **request)
            for item in response.get("Items", []):
                yield deserialize(item)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _query_partition(
        self, index: tuple[str, str, str] | None, pk_value: str, **params: Any
    ) -> list[dict[str, Any]]:
        name, pk_attr = (index[0], index[1]) if index else (None, keys.PK)
        return list(
            self._query(
                name,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": pk_attr},
                ExpressionAttributeValues=serialize({":pk": pk_value}),
                **params,
            )
        )

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

    @staticmethod
    def run_summary_key(run_id: str, run_uuid: str) -> dict[str, str]:
        return {keys.PK: keys.run_pk(run_id), keys.SK: keys.run_summary_sk(run_uuid)}

    # ------------------------------------------------------------------ runs
    def advance_run(self, observation: StatusObservation, attributes: Mapping[str, Any]) -> UpdateOutcome:
        """Move a run's summary to this status if it is newer than what is recorded.

        A terminal status is also the run's `outcome`, ordered on its own (`outcome_order`): DELETED
        outranks every status, and when it arrives first the terminal event must still set the outcome.
        The item comes back for a terminal status only (whether to enrich the run is decided on it).
        A terminal run stays in the `active` index, under its terminal event's time, until its enrichment
        is finished (`finish_run`): one whose enrichment failed where nothing retries it (the reconciler's
        heal, a message gone to the DLQ) is found there and finished by a later sweep."""
        assert observation.run_uuid is not None
        run_id, run_uuid = observation.entity_id, observation.run_uuid
        update = _Update(sets={"entity": "RUN", "run_id": run_id, "run_uuid": run_uuid, "status": observation.status,
                               "status_time": observation.event_time, **attributes})
        terminal = observation.status in RUN_TERMINAL
        if terminal:
            update.sets.update(outcome=observation.status, outcome_order=observation.order,
                               outcome_time=observation.event_time)
        if observation.status == RunStatus.DELETED:
            update.removes += ["active_pk", "active_sk"]
        else:
            update.sets["active_pk"] = "ACTIVE#RUN"
            update.sets["active_sk"] = f"{observation.event_time}#{run_id}"
        key = self.run_summary_key(run_id, run_uuid)
        result = self._ordered_update(key, observation.order, update, item=terminal)
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
                     _Update(removes=["active_pk", "active_sk", "enrichment_pending"]), returns="NONE")

    def record_run_details(self, details: RunDetails, recorded_at: str, outcome: str | None = None) -> None:
        """Write what GetRun said about a run (idempotent) and index it for lineage/sample/batch/unresolved.

        `outcome` is the run's terminal status as the ordered event history established it; GetRun's own
        status is kept as `api_status` and never overwrites the ordered `status`/`outcome`. A digest list
        too large to inline goes to chunk items under the run first, so the summary never exceeds 400 KB."""
        assert details.uuid, "a run's details are recorded under its uuid"
        run_uuid = details.uuid
        facts = details.model_dump(exclude_none=True, exclude={"run_id", "status"})
        digests = facts.pop("resource_digests", None)
        # `enrichment_pending` until `finish_run`: a retry, or a later terminal event, knows the details alone
        # are written and what follows them (supersede, adoption, storage, reprice) is not.
        update = _Update(sets={**facts, "entity": "RUN", "run_id": details.run_id, "run_uuid": run_uuid,
                               "details_recorded_at": recorded_at, "enrichment_pending": True})
        if details.status:  # a run that is gone has no API status
            update.sets["api_status"] = details.status
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
        update.sets.update(keys.lineage_keys(details.root_run_id, details.root_run_uuid, details.attempt,
                                             details.run_id, run_uuid))
        when = details.creation_time or recorded_at
        sample_index = keys.sample_keys(details.sample or "", when, details.run_id, run_uuid)
        update.sets["sample_sk"] = sample_index["sample_sk"]  # indexed once its sample is known (adopt_sample)
        if details.sample:
            update.sets["sample_pk"] = sample_index["sample_pk"]
        if details.root_batch_id:
            update.sets["batch_pk"] = keys.batch_pk(details.root_batch_id)
            update.sets["batch_sk"] = f"RUN#{details.sample or '-'}#{details.attempt:04d}#{details.run_id}#{run_uuid}"
        if outcome:  # already set by the ordered event history; only fills a summary no event reached yet
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
        """A later attempt of the parent run exists: the parent's failure is no longer unresolved."""
        self._clear_unresolved(parent_run_id, parent_run_uuid, child_run_id)

    def put_tasks(self, tasks: Iterable[TaskDetails], recorded_at: str,
                  annotations: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """`annotations`: extra attributes per task id (its cost), written in the same item."""
        extra = annotations or {}
        items = [
            {keys.PK: keys.run_pk(t.run_id), keys.SK: keys.run_sk(t.run_uuid, keys.task_sk(t.task_id)),
             "entity": "TASK", "recorded_at": recorded_at, **t.model_dump(exclude_none=True),
             **extra.get(t.task_id, {})}
            for t in tasks
        ]
        return self.put_items(items)

    # ------------------------------------------------------------------ batches
    def advance_batch(self, observation: StatusObservation, attributes: Mapping[str, Any]) -> UpdateOutcome:
        batch_id = observation.entity_id
        update = _Update(
            sets={"entity": "BATCH", "batch_id": batch_id, "status": observation.status,
                  "status_time": observation.event_time, **attributes},
            set_if_absent={"batch_pk": keys.batch_pk(batch_id), "batch_sk": f"BATCH#0000#{batch_id}"},
        )
        # PROCESSED stays in the `active` index until its members are recorded (`finish_batch`), like a run
        # until its enrichment is finished.
        if observation.status in BATCH_SETTLED:
            update.removes += ["active_pk", "active_sk"]
        else:
            update.sets["active_pk"] = "ACTIVE#BATCH"
            update.sets["active_sk"] = f"{observation.event_time}#{batch_id}"
        key = {keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}
        return self._ordered_update(key, observation.order, update)

    def finish_batch(self, batch_id: str) -> None:
        """A PROCESSED batch's members are recorded: it leaves the `active` index."""
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(removes=["active_pk", "active_sk"]), returns="NONE")

    def get_batch_link(self, batch_id: str) -> dict[str, Any] | None:
        return self.get_item(keys.batch_pk(batch_id), "LINK")

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

    def checkpoint_batch_members(self, batch_id: str, cursor: str, count: int, root_batch_id: str,
                                 attempt: int) -> None:
        """Members recorded so far (under `root_batch_id` at `attempt`: a resume under another root re-files)."""
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(sets={"members_cursor": cursor, "members_count_so_far": count,
                                   "members_cursor_root": self.members_place(root_batch_id, attempt)}),
                     returns="NONE")

    @staticmethod
    def members_place(root_batch_id: str, attempt: int) -> str:
        """Where a batch's members are filed (`members_cursor_root`): a resume compares it with its own."""
        return f"{attempt:04d}#{root_batch_id}"

    def mark_batch_members_recorded(self, batch_id: str, root_batch_id: str, attempt: int, count: int,
                                    recorded_at: str) -> None:
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY},
                     _Update(removes=["members_cursor", "members_count_so_far", "members_cursor_root"],
                             sets={"members_recorded_at": recorded_at, "members_recorded": count,
                                   **self._filed_under(batch_id, root_batch_id, attempt)}), returns="NONE")

    # ------------------------------------------------------------------ generic records
    def put_record(self, item: Mapping[str, Any]) -> None:
        """Write one self-describing record (submission, prune pass, brake...) that a capability owns."""
        failed = self.put_items([item])
        if failed:
            raise ProvenanceError(f"could not write record {item[keys.PK]}/{item[keys.SK]}", True)

    def advance_record(self, pk: str, sk: str, order: str, attributes: Mapping[str, Any]) -> bool:
        """Set a pointer record's attributes only if `order` is later than the one it holds (e.g. a
        region's current price list): a late or repeated write never moves it back. Returns whether it moved."""
        return self._ordered_update({keys.PK: pk, keys.SK: sk}, order, _Update(sets=_plain(dict(attributes))),
                                    order_attribute="record_order").applied

    def note_started(self, kind: str, entity_id: str, started_at: str, run_uuid: str | None = None) -> None:
        """Whoever starts a run or batch notes it as in flight before any event arrives, so that even if
        every one of its events is lost, the reconciler's `active` index finds it and heals it. Written
        only while no event was recorded (an event always carries more than this note). A run is noted
        under its (id, uuid), as StartRun returned them."""
        if kind == "RUN":
            assert run_uuid, "a run is noted under its uuid"
            key, identity = self.run_summary_key(entity_id, run_uuid), {"run_id": entity_id, "run_uuid": run_uuid}
        else:
            key, identity = {keys.PK: keys.batch_pk(entity_id), keys.SK: keys.SUMMARY}, {"batch_id": entity_id}
        update = _Update(sets={"entity": kind, **identity, "started_at": started_at,
                               "active_pk": f"ACTIVE#{kind}", "active_sk": f"{started_at}#{entity_id}"})
        with contextlib.suppress(ClientError):  # an event was recorded first: nothing to note
            self._call("update_item", Key=serialize(key),
                       ConditionExpression="attribute_not_exists(status_order)", **update.build())

    # ------------------------------------------------------------------ claims, leases, batch requests
    def claim(self, pk: str, sk: str, attributes: Mapping[str, Any], expires_at: int | None = None) -> bool:
        """Create an item only if it does not exist yet: the first caller wins, every other gets False.
        Used to make an action (a re-run of (run, attempt), a resubmission) happen exactly once."""
        item = {keys.PK: pk, keys.SK: sk, **attributes, keys.TTL_ATTRIBUTE: expires_at}
        try:
            self._call("put_item", Item=serialize(item), ConditionExpression="attribute_not_exists(#pk)",
                       ExpressionAttributeNames={"#pk": keys.PK})
        except ClientError:
            return False
        return True

    def acquire_lease(self, name: str, owner: str, now_epoch: int, ttl_seconds: int) -> bool:
        """A time-bounded exclusive lease (e.g. one prune of a cache at a time); re-entrant for `owner`,
        taken over once expired, so a crashed holder never blocks for longer than `ttl_seconds`."""
        try:
            self._call(
                "put_item",
                Item=serialize({keys.PK: keys.lease_pk(name), keys.SK: "LEASE", "entity": "LEASE", "owner": owner,
                                "lease_until": now_epoch + ttl_seconds,
                                keys.TTL_ATTRIBUTE: now_epoch + ttl_seconds + 86_400}),
                ConditionExpression="attribute_not_exists(#pk) OR lease_until < :now OR #owner = :owner",
                ExpressionAttributeNames={"#pk": keys.PK, "#owner": "owner"},
                ExpressionAttributeValues=serialize({":now": now_epoch, ":owner": owner}),
            )
        except ClientError:
            return False
        return True

    def release_lease(self, name: str, owner: str) -> None:
        with contextlib.suppress(ClientError):  # someone else holds it now (ours expired): nothing to release
            self._call("delete_item", Key=serialize({keys.PK: keys.lease_pk(name), keys.SK: "LEASE"}),
                       ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                       ExpressionAttributeValues=serialize({":owner": owner}))

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
        return sorted(items, key=_run_order)

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

    def batch_items(self, batch_id: str) -> list[dict[str, Any]]:
        """One batch's own partition: summary, status history, ListRunsInBatch members, link."""
        return self._query_partition(None, keys.batch_pk(batch_id))

    def attempt_chain(self, root_run_id: str, root_run_uuid: str | None = None) -> list[dict[str, Any]]:
        """Every attempt of a root run (id, uuid), in attempt order (root first). Without a uuid: of the
        latest run that carried the root's id (one more Query)."""
        if root_run_uuid is None:
            latest = self.run_summaries(root_run_id)
            root_run_uuid = str(latest[-1]["run_uuid"]) if latest else None
        return self._query_partition(keys.GSI_LINEAGE, keys.lineage_pk(root_run_id, root_run_uuid))

    def batch_view(self, root_batch_id: str) -> list[dict[str, Any]]:
        """A root batch with its follow-ups, submission, members and every attempt's run summary."""
        return self._query_partition(keys.GSI_BATCH, keys.batch_pk(root_batch_id))

    def sample_runs(self, sample: str) -> list[dict[str, Any]]:
        """Every run and batch membership of one sample (runSettingId / sample tag)."""
        return self._query_partition(keys.GSI_SAMPLE, f"SAMPLE#{sample}")

    def unresolved_failures(self) -> list[dict[str, Any]]:
        """Failed runs with no later attempt recorded, oldest failure first."""
        return self._query_partition(keys.GSI_UNRESOLVED, keys.UNRESOLVED)

    def prune_history(self, cache_id: str) -> list[dict[str, Any]]:
        """Every prune pass over one run cache, oldest first."""
        return list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id), ":prefix": "PRUNE#"}),
        ))

    def active_since_before(self, kind: str, before: str) -> list[dict[str, Any]]:
        """Runs or batches (kind RUN|BATCH) still non-terminal, or terminal but not finished (a run not
        enriched, a PROCESSED batch without its members), whose last event is older than `before`."""
        name, pk_attr, sk_attr = keys.GSI_ACTIVE
        return list(self._query(
            name,
            KeyConditionExpression="#pk = :pk AND #sk < :before",
            ExpressionAttributeNames={"#pk": pk_attr, "#sk": sk_attr},
            ExpressionAttributeValues=serialize({":pk": f"ACTIVE#{kind}", ":before": before}),
        ))

    # ------------------------------------------------------------------ launcher: sample-sheet submissions
    # SUBMISSION#<id>/SUMMARY moves forward only: ACCEPTED < REJECTED < SUBMITTED (ranked in
    # `submission_order`), so a late or duplicate delivery never turns a submitted sheet back into an
    # accepted one. Once a batch exists the item carries the batch GSI keys, so batch_view shows it.
    SUBMISSION_RANK = {"ACCEPTED": 1, "REJECTED": 2, "SUBMITTED": 3}

    def get_submission(self, submission_id: str) -> dict[str, Any] | None:
        return self.get_item(keys.submission_pk(submission_id), keys.SUMMARY)

    def record_submission(self, submission_id: str, status: str, recorded_at: str,
                          attributes: Mapping[str, Any]) -> UpdateOutcome:
        """Record a submission's status (ACCEPTED | REJECTED | SUBMITTED) with its facts, forward only."""
        rank = self.SUBMISSION_RANK[status]
        update = _Update(sets={"entity": "SUBMISSION", "submission_id": submission_id, "status": status,
                               "status_time": recorded_at, **_plain(dict(attributes))})
        batch_id = attributes.get("batch_id")
        if batch_id:
            update.sets["batch_pk"] = keys.batch_pk(str(batch_id))
            update.sets["batch_sk"] = f"SUBMISSION#{submission_id}"
        return self._ordered_update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                                    f"{rank:02d}", update, order_attribute="submission_order")

    def annotate_submission(self, submission_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Add facts to an existing submission (e.g. a batch-level failure and its resubmission)."""
        return self._update({keys.PK: keys.submission_pk(submission_id), keys.SK: keys.SUMMARY},
                            _Update(sets=_plain(dict(attributes))))

    # ------------------------------------------------------------------ re-runner: decisions, claims, brake
    # RUN#<runId>/RERUN#<attempt:02>            why a failed run was (not) re-run as that attempt
    # BATCH#<batchId>/RERUN#<attempt:02>#<group> one follow-up batch of a batch's failed members
    # BRAKE#<workflowId>/WINDOW#<start>          failures of a workflow in one fixed window (TTL)
    # BRAKE#<workflowId>/STATE                   the workflow's automatic re-runs are paused (or released)
    # BRAKE#<workflowId>/HELD#<kind>#<id>        work skipped while paused, re-queued on release
    def get_items(self, item_keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Consistent reads of many items (BatchGetItem, 100 a request); missing items are absent."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(item_keys))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [serialize({keys.PK: pk, keys.SK: sk}) for pk, sk in unique[start:start + 100]],
                "ConsistentRead": True}}
            for attempt in range(BATCH_GET_TRIES):
                if attempt and not self._pause(attempt):
                    break
                try:
                    response = self.client.batch_get_item(RequestItems=request)
                except ClientError as error:
                    code = error.response.get("Error", {}).get("Code", "")
                    raise ProvenanceError(f"BatchGetItem failed: {code}", code in _RETRYABLE_CODES) from error
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = deserialize(raw)
                    found[(item[keys.PK], item[keys.SK])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise ProvenanceError("BatchGetItem left keys unprocessed", True)
        return found

    def items_with_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return list(self.iter_with_prefix(pk, prefix))

    def iter_with_prefix(self, pk: str, prefix: str, **params: Any) -> Iterator[dict[str, Any]]:
        """The items of partition `pk` whose sort key begins with `prefix`, a Query page at a time."""
        return self._query(None, KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                           ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
                           ExpressionAttributeValues=serialize({":pk": pk, ":prefix": prefix}), **params)

    def delete_item(self, pk: str, sk: str) -> None:
        self._call("delete_item", Key=serialize({keys.PK: pk, keys.SK: sk}))

    def record_decision(self, pk: str, sk: str, attributes: Mapping[str, Any],
                        final: str = "STARTED") -> bool:
        """Set a decision record's attributes unless it already holds the `final` decision (a start is
        never overwritten by what a late or duplicate event concludes). `decided_at` keeps the first
        decision's time, so a duplicate or replayed event leaves the record exactly as it was.
        Returns whether it was written."""
        values = {k: v for k, v in attributes.items() if v is not None}
        first = {"decided_at": values.pop("decided_at")} if "decided_at" in values else {}
        built = _Update(sets=_plain(values), set_if_absent=_plain(first)).build()
        built["ExpressionAttributeNames"]["#decision_"] = "decision"
        built["ExpressionAttributeValues"] = {**(built["ExpressionAttributeValues"] or {}),
                                              ":final_": _serializer.serialize(final)}
        try:
            self._call("update_item", Key=serialize({keys.PK: pk, keys.SK: sk}),
                       ConditionExpression="attribute_not_exists(#decision_) OR #decision_ <> :final_",
                       **built)
        except ClientError:
            return False
        return True

    def first_seen(self, pk: str, sk: str, seen_at: str) -> str:
        """When a decision was first taken (set once; every later call reads the first value)."""
        item = self._update({keys.PK: pk, keys.SK: sk}, _Update(set_if_absent={"first_seen_at": seen_at}))
        return str(item["first_seen_at"])

    def complete_claim(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> None:
        """Record what a won claim produced (e.g. the run it started), so duplicates can skip."""
        self._update({keys.PK: pk, keys.SK: sk}, _Update(sets=_plain(dict(attributes))), returns="NONE")

    def count_once(self, pk: str, sk: str, member: str, count: int, expires_at: int) -> int:
        """Add `count` to a counter item once per `member` (a run or batch id); returns the total.
        A duplicate delivery of the same member adds nothing (members are kept in a string set)."""
        try:
            response = self._call(
                "update_item", Key=serialize({keys.PK: pk, keys.SK: sk}),
                UpdateExpression="ADD #count :n, #members :m SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(#members) OR NOT contains(#members, :member)",
                ExpressionAttributeNames={"#count": "failures", "#members": "members",
                                          "#ttl": keys.TTL_ATTRIBUTE},
                ExpressionAttributeValues={":n": {"N": str(count)}, ":m": {"SS": [member]},
                                           ":member": {"S": member}, ":ttl": {"N": str(expires_at)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            item = self.get_item(pk, sk) or {}
            return int(item.get("failures", 0))
        return int(deserialize(response.get("Attributes", {})).get("failures", 0))

    # ------------------------------------------------------------------ pruner: run-cache prune passes
    # CACHE#<cacheId> / VERSION                               highest manifest version ever seen (monotonic)
    # CACHE#<cacheId> / PRUNE#<startedAt>#<passId>            the pass record (counts added by work items)
    # CACHE#<cacheId> / PRUNEITEM#<passId>#r<round>#<itemId>  a work item: key range, checkpoint, result
    @staticmethod
    def prune_pass_sk(started_at: str, pass_id: str) -> str:
        return f"PRUNE#{started_at}#{pass_id}"

    @staticmethod
    def prune_item_sk(pass_id: str, round_number: int, item_id: str) -> str:
        return f"PRUNEITEM#{pass_id}#r{round_number:02d}#{item_id}"

    def cache_version(self, cache_id: str) -> int | None:
        item = self.get_item(keys.cache_pk(cache_id), "VERSION")
        return int(item["max_version"]) if item else None

    def raise_cache_version(self, cache_id: str, version: int, observed_at: str) -> None:
        """Record `version` as the cache's highest seen, unless a higher one is recorded already."""
        # ConditionalCheckFailed means an equal or higher version is recorded: nothing to do.
        with contextlib.suppress(ClientError):
            self._call("update_item", Key=serialize({keys.PK: keys.cache_pk(cache_id), keys.SK: "VERSION"}),
                       UpdateExpression="SET max_version = :v, observed_at = :t, entity = :e",
                       ConditionExpression="attribute_not_exists(max_version) OR max_version < :v",
                       ExpressionAttributeValues=serialize({":v": version, ":t": observed_at,
                                                            ":e": "CACHE_VERSION"}))

    def update_prune_record(self, cache_id: str, sk: str, sets: Mapping[str, Any]) -> dict[str, Any]:
        return self._update({keys.PK: keys.cache_pk(cache_id), keys.SK: sk}, _Update(sets=dict(sets)))

    def prune_items(self, cache_id: str, pass_id: str, round_number: int) -> list[dict[str, Any]]:
        """Every work item of one round of a pass."""
        return list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id),
                                                 ":prefix": f"PRUNEITEM#{pass_id}#r{round_number:02d}#"}),
        ))

    def complete_prune_item(self, cache_id: str, pass_sk: str, item_sk: str, item_sets: Mapping[str, Any],
                            counters: Mapping[str, int]) -> dict[str, Any] | None:
        """Mark a work item done and add its counters to the pass, atomically and exactly once.

        Returns the pass record afterwards, or None when the item was already completed (a redelivery).
        """
        pk = keys.cache_pk(cache_id)
        done = _Update(sets={**item_sets, "done": True}).build()
        adds = {"items_done": 1, **{name: value for name, value in counters.items() if value}}
        names = {f"#a{i}": name for i, name in enumerate(adds)}
        values = {f":a{i}": value for i, value in enumerate(adds.values())}
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table_name, "Key": serialize({keys.PK: pk, keys.SK: item_sk}),
                            "UpdateExpression": done["UpdateExpression"],
                            "ConditionExpression": "attribute_not_exists(done)",
                            "ExpressionAttributeNames": done["ExpressionAttributeNames"],
                            "ExpressionAttributeValues": done["ExpressionAttributeValues"]}},
                {"Update": {"TableName": self.table_name, "Key": serialize({keys.PK: pk, keys.SK: pass_sk}),
                            "UpdateExpression": "ADD " + ", ".join(f"{n} :a{i}" for i, n in enumerate(names)),
                            "ConditionExpression": "attribute_exists(#pk)",
                            "ExpressionAttributeNames": {**names, "#pk": keys.PK},
                            "ExpressionAttributeValues": serialize(values)}},
            ])
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException" and \
                    reasons and reasons[0] == "ConditionalCheckFailed":
                return None
            code = error.response.get("Error", {}).get("Code", "")
            raise ProvenanceError(f"TransactWriteItems failed: {code}: {error}", True) from error
        return self.get_item(pk, pass_sk)
