"""The provenance table's shared data access: the DynamoDB client, (de)serialization, update expressions,
retries of unprocessed items, and the reads and writes every aggregate uses (repository.py combines them)."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.provenance import keys

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


class ProvenanceError(Exception):
    """The table refused a write or read; `retryable` says whether a later attempt may succeed."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def unwritten(record: Mapping[str, Any]) -> ProvenanceError:
    """A self-describing record `put_items` could not write (retries exhausted)."""
    return ProvenanceError(f"could not write record {record[keys.PK]}/{record[keys.SK]}", True)


def _plain(value: Any) -> Any:
    """Python values -> DynamoDB-serializable values (floats as Decimal, drop None in maps)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def stored_size(name: str, value: Any) -> int:
    """The bytes an attribute `name` holding `value` adds to its item, as DynamoDB counts them ("DynamoDB item
    sizes and formats", DynamoDB developer guide): names and strings in UTF-8; a number about 1 byte per two
    significant digits plus 1; binary its raw bytes; null or Boolean 1; a list or map 3 bytes plus, per element,
    1 byte and the element (a map's also its name). Values as `_plain` stores them (a None in a map is dropped)."""
    return len(name.encode()) + _stored_value_size(_plain(value))


def _stored_value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | Decimal):
        digits = len(Decimal(value).normalize().as_tuple().digits)  # leading and trailing zeroes trimmed
        return (digits + 1) // 2 + 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + 1 + _stored_value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):  # a set costs no more than a list of its elements
        return 3 + sum(1 + _stored_value_size(v) for v in value)
    return len(str(value).encode())


def _from_ddb(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_ddb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_ddb(v) for v in value]
    return value


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


@functools.lru_cache(maxsize=8)
def _dynamodb_client(region: str | None, endpoint_url: str | None) -> Any:
    """One DynamoDB client per process and region/endpoint (what boto3 reads from the environment): the
    functions that build their repository per invocation reuse its connections and retry state when warm."""
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)


class RepositoryBase:
    """The table, its client and the machinery the aggregates' mixins share (runs.py, batches.py,
    caches_and_prunes.py, submissions.py, claims_and_leases.py); ProvenanceRepository combines them."""

    def __init__(self, table_name: str, client: Any | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 time_left: Callable[[], float] = lambda: float("inf")) -> None:
        self.table_name = table_name
        self.client = client or _dynamodb_client(os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                                                 os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
                                                 or os.environ.get("AWS_ENDPOINT_URL"))
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

    def _move_cursor(self, key: dict[str, str], cursor_attribute: str, moved_from: str | None, update: _Update,
                     unless: str | None = None) -> bool:
        """Write `update` (a page cursor checkpoint) only if `cursor_attribute` still holds `moved_from` (absent
        for None) and, when given, attribute `unless` is absent. False: another writer moved the cursor (or
        finished) since it was read, and carries the work on itself (a duplicate or reordered message)."""
        built = update.build()
        names, values = built["ExpressionAttributeNames"], built["ExpressionAttributeValues"]
        names["#cursor"] = cursor_attribute
        if moved_from is None:
            condition = "attribute_not_exists(#cursor)"
        else:
            condition = "#cursor = :moved_from"
            values[":moved_from"] = _serializer.serialize(moved_from)
        if unless:
            names["#unless"] = unless
            condition += " AND attribute_not_exists(#unless)"
        try:
            self._call("update_item", Key=serialize(key), ConditionExpression=condition, ReturnValues="NONE",
                       **built)
        except ClientError as error:  # only ConditionalCheckFailedException comes back as a ClientError
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

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

    # ------------------------------------------------------------------ keys
    @staticmethod
    def run_summary_key(run_id: str, run_uuid: str) -> dict[str, str]:
        return {keys.PK: keys.run_pk(run_id), keys.SK: keys.run_summary_sk(run_uuid)}

    # ------------------------------------------------------------------ generic records
    def put_record(self, item: Mapping[str, Any]) -> None:
        """Write one self-describing record (submission, prune pass, brake...) that a capability owns."""
        failed = self.put_items([item])
        if failed:
            raise unwritten(item)

    def advance_record(self, pk: str, sk: str, order: str, attributes: Mapping[str, Any]) -> bool:
        """Set a pointer record's attributes only if `order` is later than the one it holds (e.g. a
        region's current price list): a late or repeated write never moves it back. Returns whether it moved."""
        return self._ordered_update({keys.PK: pk, keys.SK: sk}, order, _Update(sets=_plain(dict(attributes))),
                                    order_attribute="record_order").applied

    # ------------------------------------------------------------------ generic reads
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

    # ------------------------------------------------------------------ the `active` index (runs and batches)
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
                               **keys.active_keys(kind, started_at, entity_id)})
        with contextlib.suppress(ClientError):  # an event was recorded first: nothing to note
            self._call("update_item", Key=serialize(key),
                       ConditionExpression="attribute_not_exists(status_order)", **update.build())

    def note_restarted(self, batch_id: str, restarted_at: str) -> None:
        """A batch the service restarted in place (StartRunBatch's SAME_BATCH answer to a resubmission) is in
        flight again: back in the `active` index, whatever its record says (FAILED took it out), with the time of
        its restart, so the reconciler heals the events of its second life should they be lost."""
        update = _Update(sets={"entity": "BATCH", "batch_id": batch_id, "restarted_at": restarted_at,
                               **keys.active_keys("BATCH", restarted_at, batch_id)})
        self._update({keys.PK: keys.batch_pk(batch_id), keys.SK: keys.SUMMARY}, update, returns="NONE")

    def active_since_before(self, kind: str, before: str) -> list[dict[str, Any]]:
        """Runs or batches (kind RUN|BATCH) still non-terminal, or terminal but not finished (a run not
        enriched, an ended batch without its members), whose last event is older than `before`."""
        name, pk_attr, sk_attr = keys.GSI_ACTIVE
        return list(self._query(
            name,
            KeyConditionExpression="#pk = :pk AND #sk < :before",
            ExpressionAttributeNames={"#pk": pk_attr, "#sk": sk_attr},
            ExpressionAttributeValues=serialize({":pk": keys.active_pk(kind), ":before": before}),
        ))
