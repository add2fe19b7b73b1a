"""Contract tests of the DynamoDB action fast paths of sandbox/moto_speedups.py (copies, expressions, errors), in
the style of tests/sandbox/test_moto_speedups.py: the same calls on plain moto and under `speedups()`, compared."""

from __future__ import annotations

import copy
import re
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import dynamodb_backends

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import ACCOUNT, REGION, _call, _two_index_table, _update_each, plain_and_fast


# ------------------------------------------------------------------ UpdateItem images, the recorder's way
def _stream_images(table: str) -> list[Any]:
    """The old and new images of a table's stream records as moto keeps them (moto serves no Streams API here)."""
    shard = dynamodb_backends[ACCOUNT][REGION].tables[table].stream_shard
    return [{k: v for k, v in r.to_json()["dynamodb"].items() if k in ("Keys", "OldImage", "NewImage")}
            for r in shard.items]


def _ordered_updates_scenario() -> list[Any]:
    """The provenance recorder's writes: ordered updates (many SET actions, `attribute_not_exists(#order) OR
    #order < :order`) answered with ALL_NEW, or NONE, refused with the old item (ALL_OLD) or without; new items,
    in-place changes of nested values, transactions; on a table without a stream and on one with a stream."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    out: list[Any] = []
    for table, stream in (("plain", None), ("streamed", {"StreamEnabled": True,
                                                         "StreamViewType": "NEW_AND_OLD_IMAGES"})):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         **({"StreamSpecification": stream} if stream else {}))
        names = {f"#a{i}": f"attr_{i}" for i in range(12)} | {"#order": "status_order", "#m": "nested"}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(12)) + ", #order = :order, #m = :m"
        for step, order in enumerate(["03", "01", "05", "05", "02", "07", "06", "09"]):
            for key in ("run-1", f"run-{step}"):  # an existing item, and a new one every other step
                for attempt, (returns, on_failure) in enumerate((("ALL_NEW", "ALL_OLD"), ("NONE", "NONE"),
                                                                 ("ALL_NEW", None))):
                    request = {
                        "TableName": table, "Key": {"pk": {"S": key}, "sk": {"S": "SUMMARY"}},
                        "UpdateExpression": expression,
                        "ConditionExpression": "attribute_not_exists(#order) OR #order < :order",
                        "ExpressionAttributeNames": names, "ReturnValues": returns,
                        "ExpressionAttributeValues": {f":v{i}": {"S": f"{order}-{i}"} for i in range(12)} | {
                            ":order": {"S": f"{order}{attempt}"},
                            ":m": {"M": {"x": {"N": str(step)}, "l": {"L": [{"S": order}]}}}},
                        **({"ReturnValuesOnConditionCheckFailure": on_failure} if on_failure else {})}
                    out.append(_call(lambda request=request: ddb.update_item(**request)))
            # a nested value changed in place, the answer with the new item, then with the old one
            for returns in ("ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "NONE"):
                request = {"TableName": table, "Key": {"pk": {"S": "run-1"}, "sk": {"S": "SUMMARY"}},
                           "UpdateExpression": "SET nested.x = nested.x + :one, "
                                               "nested.l = list_append(nested.l, :l) ADD #count :one REMOVE attr_11",
                           "ExpressionAttributeNames": {"#count": "updates"}, "ReturnValues": returns,
                           "ExpressionAttributeValues": {":one": {"N": "1"}, ":l": {"L": [{"N": str(step)}]}}}
                out.append(_call(lambda request=request: ddb.update_item(**request)))
        out.append(_call(lambda t=table: ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": t, "Key": {"pk": {"S": "run-1"}, "sk": {"S": "SUMMARY"}},
                        "UpdateExpression": "SET nested.x = :v", "ExpressionAttributeValues": {":v": {"N": "0"}}}},
            {"Update": {"TableName": t, "Key": {"pk": {"S": "run-2"}, "sk": {"S": "SUMMARY"}},
                        "UpdateExpression": "SET attr_0 = :v", "ExpressionAttributeValues": {":v": {"S": "t"}}}}])))
        # refused updates: a condition, a type mismatch, an unknown table, a malformed key; with ALL_NEW
        for args in ({"ConditionExpression": "attribute_not_exists(pk)"},
                     {"UpdateExpression": "SET attr_0 = attr_0 + :v"},
                     {"TableName": "missing"},
                     {"Key": {"pk": {"N": "1"}, "sk": {"S": "SUMMARY"}}}):
            call = {"TableName": table, "Key": {"pk": {"S": "run-1"}, "sk": {"S": "SUMMARY"}},
                    "UpdateExpression": "SET attr_0 = :v", "ExpressionAttributeValues": {":v": {"S": "x"}},
                    "ReturnValues": "ALL_NEW", **args}
            out.append(_call(lambda call=call: ddb.update_item(**call)))
        out.append(_call(lambda t=table: ddb.scan(TableName=t)))
        if stream:
            out.append(_stream_images(table))
    return out


def test_ordered_updates_answer_and_stream_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a table without and one with a NEW_AND_OLD_IMAGES stream, when the recorder's ordered updates are
    applied and refused with every answer it asks for (ALL_NEW, NONE, the old item on a refusal), nested values
    changed in place with every ReturnValues mode, in transactions too, then every answer, every stored item and
    every stream record's old and new image equal plain moto's; and the fast paths did leave copies out."""
    uncopied = []
    original_copy = moto_speedups._BackendModuleCopy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        if moto_speedups._uncopied_old_image.get():
            uncopied.append(value)
        return original_copy(value, memo)

    monkeypatch.setattr(moto_speedups._BackendModuleCopy, "deepcopy", staticmethod(counting))
    plain, fast = plain_and_fast(_ordered_updates_scenario)

    assert fast == plain
    assert sum(1 for a in plain if isinstance(a, dict) and a.get("error") == "ConditionalCheckFailedException") >= 20
    assert sum(1 for a in plain if isinstance(a, dict) and a.get("Item")) >= 5  # old items in refusals
    assert sum("OldImage" in record for record in plain[-1]) >= 40  # the streamed table's updates were imaged
    assert len(uncopied) >= 50  # on the table without a stream only (its stream images are the same)


# ------------------------------------------------------------------ item copies
def _items() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    nested = {"M": {"l": {"L": [{"S": "a"}, {"M": {"k": {"N": "1"}}}]}, "ss": {"SS": ["x", "y"]}}}
    return [Item(DynamoType({"S": "h"}), DynamoType({"N": "2"}), {
                "s": {"S": "ünï"}, "n": {"N": "1.5"}, "b": {"B": b"\x00"}, "bs": {"BS": [b"\x01"]},
                "ns": {"NS": ["1", "2"]}, "bool": {"BOOL": True}, "null": {"NULL": True}, "m": nested,
                "l": {"L": [nested, {"L": []}]}}),
            Item(DynamoType({"S": "h"}), None, {}),
            Item(DynamoType({"B": b"k"}), None, {"m": {"M": {}}})]


def _copy_shape(copied: Any, original: Any) -> Any:
    """A copy as comparable values: its type, keys, attributes (as JSON), what it shares with the original that
    can change (lists, maps, sets, the attributes' dict) and the size check its attributes' dict runs."""
    def mutable_parts(value: Any) -> list[int]:
        parts = []
        if type(value.value) in (list, dict):
            parts.append(id(value.value))
            members = value.value.values() if type(value.value) is dict else value.value
            for member in members:
                if type(member).__name__ == "DynamoType":
                    parts += mutable_parts(member)
        return parts

    originals = {part for value in original.attrs.values() for part in mutable_parts(value)}
    shared = [part for value in copied.attrs.values() for part in mutable_parts(value) if part in originals]
    return (type(copied), type(copied.attrs), copied.hash_key.to_json(),
            None if copied.range_key is None else copied.range_key.to_json(), copied.to_json(),
            copied == original, copied is original, copied.attrs is original.attrs, shared,
            copied.hash_key is original.hash_key, copied.range_key is original.range_key and original.range_key)


def test_item_copies_are_moto_s() -> None:
    """The fast `Item` deep copy gives what moto's gives: an equal item of the same classes, nothing shared that can
    change, a value reached twice copied once, and the copy tracked among moto's model instances as moto tracks it."""
    from moto.dynamodb.models.dynamo_type import Item

    def copies() -> list[Any]:
        items = _items()
        out = []
        for item in items:
            tracked = len(Item.instances_tracked)
            twice = copy.deepcopy([item, item, item.attrs])
            out.append((_copy_shape(twice[0], item), twice[0] is twice[1], twice[2] is twice[0].attrs,
                        len(Item.instances_tracked) - tracked, Item.instances_tracked[-1] is twice[0]))
        return out

    plain = copies()
    with speedups():
        fast = copies()

    assert fast == plain
    assert all(answer[1] and answer[3] == 1 for answer in plain)


# ------------------------------------------------------------------ UpdateItem's expression clean-up
@pytest.mark.parametrize(("pattern", "repl", "string", "options"), [
    (r"\s*([=\+-])\s*", "\\1", "SET a = b + :c, d=  e -f", {}),
    (r"\s*([=\+-])\s*", "\\1", "   ", {}),
    (r"\s*([=\+-])\s*", "\\1", "", {}),
    (r"\s*([=\+-])\s*", "\\1", "SET #a = :a REMOVE b", {}),
    (r"\s*([=\+-])\s*", "\\1", "SET a = b + :c", {"count": 1}),
    (r"(a)", "\\1\\1", "A a", {"flags": re.IGNORECASE}),
    (re.compile(r"\s+"), " ", "a  b", {}),
    (r"x", lambda match: "y", "xx", {}),
])
def test_expression_clean_up_is_re_s(pattern: Any, repl: Any, string: str, options: dict[str, Any]) -> None:
    """UpdateItem's `re.sub` of its expression, as moto's backend module sees it under `speedups()`, answers
    what `re.sub` answers, the first time and from the texts seen, for every kind of pattern, replacement and
    option."""
    from moto.dynamodb import models

    plain = re.sub(pattern, repl, string, **options)
    with speedups():
        fast = [models.re.sub(pattern, repl, string, **options) for _ in range(2)]

    assert fast == [plain, plain]


# ------------------------------------------------------------------ JSON errors
class _Between(Exception):
    """A class placed between moto's JSON error and its parent, with an `__init__` of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.between = True


def _errors() -> list[Any]:
    """moto's JSON errors of several kinds as they come out: their state, headers, body, code and text."""
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.dynamodb import exceptions

    class BetweenError(JsonRESTError, _Between, _RESTError):  # type: ignore[misc]
        pass

    class PropertyError(JsonRESTError):
        """Its body is a property that keeps every body set (moto sets an XML body, then the JSON one)."""

        @property
        def description(self) -> str:  # type: ignore[override]
            return str(self.__dict__["bodies"][-1])

        @description.setter
        def description(self, value: str) -> None:
            self.__dict__.setdefault("bodies", []).append(value)

    made = [
        lambda: JsonRESTError("SomeError", "a message"),
        lambda: JsonRESTError("Prefix#SomeError", "ünï <&> message", "template", extra=1),
        lambda: exceptions.ConditionalCheckFailed(),
        lambda: exceptions.ConditionalCheckFailed("why", item={"pk": {"S": "k"}, "b": {"B": b"x"}}),
        lambda: exceptions.MockValidationException("bad value"),
        lambda: exceptions.ResourceNotFoundException(),
        lambda: exceptions.ItemSizeTooLarge(),
        lambda: exceptions.TransactionCanceledException([("ConditionalCheckFailed", "no", {"a": {"S": "b"}})]),
        lambda: JsonRESTError("T", None),  # type: ignore[arg-type]
        lambda: BetweenError("Between", "m"),
        lambda: PropertyError("Property", "m"),
    ]
    out = []
    for make in made:
        try:
            error = make()
        except Exception as refused:
            out.append(("raised", type(refused).__name__, str(refused)))
            continue
        out.append((type(error).__name__, sorted(vars(error).items(), key=str), error.get_headers(), error.get_body(),
                    error.code, str(error), error.description, error.content_type))
    return out


def test_json_errors_are_built_as_moto_builds_them() -> None:
    """Given moto's JSON errors (DynamoDB's refusals among them, with and without an item, with odd text), and
    classes placing another class between them and their parent or holding a property, when they are made
    under `speedups()`, then each one's state, headers, body, status and text equal plain moto's."""
    plain = _errors()
    with speedups():
        fast = _errors()

    assert fast == plain
    assert plain[-2][1][0] == ("between", True)
    assert len(dict(plain[-1][1])["bodies"]) == 2


# ------------------------------------------------------------------ UpdateItem: if_not_exists actions
def _if_not_exists_scenario() -> list[Any]:
    """`SET name = if_not_exists(name, :value)` actions (the recorder's first-write-wins fields) and
    `list_append(name, :value)` ones, alone and among flat and other actions, on an item holding the attribute,
    one not holding it and a new item; a value read from another attribute (a map, then changed in place); and
    the refusals moto makes on such actions."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    _two_index_table(ddb, "ALL")
    ddb.put_item(TableName="f", Item={"pk": {"S": "k"}, "sk": {"S": "1"}, "a": {"S": "old"}, "n": {"N": "1"},
                                      "m": {"M": {"x": {"S": "1"}}}, "gs": {"S": "g"}, "l": {"L": [{"S": "x"}]}})
    key = {"pk": {"S": "k"}, "sk": {"S": "1"}}
    values = {":s": {"S": "x"}, ":n": {"N": "7"}, ":e": {"S": ""}, ":m": {"M": {"y": {"N": "2"}}},
              ":b": {"B": b"\x00"}, ":l": {"L": [{"S": "z"}]}, ":ss": {"SS": ["p"]}}
    cases: list[tuple[str, dict[str, str], list[str]]] = [
        ("SET #a = if_not_exists(#a, :s)", {"#a": "a"}, [":s"]),  # held: kept
        ("SET #f = if_not_exists(#f, :s)", {"#f": "first"}, [":s"]),  # not held: set
        ("SET b = if_not_exists(n, :s), c = if_not_exists(#m, :m)", {"#m": "m"}, [":s", ":m"]),  # another's value
        ("SET #t = if_not_exists(#t, :n), #u = :s, v = if_not_exists(v, :b) REMOVE #w", {"#t": "t", "#u": "u",
                                                                                          "#w": "a"}, [":n", ":s",
                                                                                                       ":b"]),
        ("SET m.x = :s, #c = if_not_exists(#c, :l), l = list_append(l, :l) ADD q :n",
         {"#c": "c2"}, [":s", ":l", ":n"]),
        ("SET #s = if_not_exists(#s, :ss), gs = if_not_exists(gs, :s), gn = if_not_exists(#gn, :n)",
         {"#s": "set", "#gn": "gn"}, [":ss", ":s", ":n"]),
        ("SET c = :s", {}, [":s"]),  # the attribute another was read from, replaced
        ("SET l = list_append(l, :l), #c = list_append(#c, :l)", {"#c": "c2"}, [":l"]),  # list_append on a name
        ("SET a = list_append(a, :l)", {}, [":l"]),  # on a string: refused
        # refused by moto: each must be refused the same way
        ("SET a = if_not_exists(#k, :s)", {"#k": "pk"}, [":s"]),  # a key attribute read
        ("SET #k = if_not_exists(x, :s)", {"#k": "sk"}, [":s"]),  # a key attribute set
        ("SET a = if_not_exists(#nope, :s)", {}, [":s"]),  # a name not defined
        ("SET a = if_not_exists(a, :nope)", {}, [":s"]),  # a value not defined
        ("SET a = if_not_exists(size, :s)", {}, [":s"]),  # a reserved word as a plain name
        ("SET gn = if_not_exists(absent, :s)", {}, [":s"]),  # an index key of another type
        ("SET gs = if_not_exists(absent, :e)", {}, [":e"]),  # an empty index key
        ("SET a = if_not_exists(a, :s), a = :n", {}, [":s", ":n"]),  # one attribute twice
        ("SET a = if_not_exists(a, :s), b = if_not_exists(#a, :s)", {"#a": "a"}, [":s"]),  # read twice: allowed
    ]
    out: list[Any] = []
    out += _update_each(ddb, key, [(expression, names, used, {"ReturnValues": "ALL_NEW"})
                                   for expression, names, used in cases], values, new_key_length=24)
    out.append(_call(lambda: ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "f", "Key": key, "UpdateExpression": "SET #z = if_not_exists(#z, :s)",
                    "ExpressionAttributeNames": {"#z": "z"}, "ExpressionAttributeValues": {":s": {"S": "t"}}}}])))
    out.append(_call(lambda: ddb.scan(TableName="f")["Items"]))
    return out


def test_if_not_exists_actions_answer_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a table with index keys of two types, when `SET name = if_not_exists(name, :value)` actions (and
    list_append ones, on a list, a string and a missing attribute) update an item holding the attribute, one not holding
    it and new items (alone, among flat and other actions, reading another attribute, in a transaction), and when moto
    refuses them (a key attribute read or set, an undefined name or value, a reserved word, an index key's type, an
    empty index key, one attribute twice), then every answer, refusal and stored item equals plain moto's, and the
    applied ones were validated by the fast path."""
    passed_moto: list[Any] = []  # expressions moto's own passes validated (after the fast path failed)
    original = moto_speedups._original_validate
    monkeypatch.setattr(moto_speedups, "_original_validate",
                        lambda validator: passed_moto.append(validator) or original(validator))
    plain, fast = plain_and_fast(_if_not_exists_scenario)

    assert fast == plain
    refusals = sum(1 for answer in plain if isinstance(answer, dict) and "error" in answer)
    assert refusals >= 12
    assert len(passed_moto) <= refusals  # moto's passes ran only to raise moto's errors


# ------------------------------------------------------------------ BatchWriteItem's duplicate check
def _batch_write_scenario() -> list[Any]:
    """Batches of puts and deletes that moto's duplicate check (the JSON text of every item and key) lets through
    or refuses: distinct keys, one item twice, one key twice with other attributes (texts differ: not duplicates to
    moto), the same attributes in another order, items alike in their first attributes only, binary and number
    first attributes, the same item for two tables, deletes of one key twice."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    for table in ("t1", "t2"):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])

    def item(sk: str, **more: Any) -> dict[str, Any]:
        return {"pk": {"S": "P"}, "sk": {"S": sk}, **more}

    def puts(*items: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"PutRequest": {"Item": each}} for each in items]

    batches: list[dict[str, Any]] = [
        {"t1": puts(*(item(f"S#{i:02d}", n={"N": str(i)}, l={"L": [{"S": "x"}]}) for i in range(25)))},
        {"t1": puts(item("a", v={"S": "1"}), item("b"), item("a", v={"S": "1"}))},  # one item twice
        {"t1": puts(item("a", v={"S": "1"}), item("a", v={"S": "2"}))},  # one key, other attributes
        {"t1": puts({"sk": {"S": "a"}, "pk": {"S": "P"}}, item("a"))},  # the same attributes in another order
        {"t1": puts(item("c", v={"M": {"x": {"N": "1"}}}), item("c", v={"M": {"x": {"N": "1"}}}))},
        {"t1": puts({"pk": {"S": "P"}, "sk": {"S": "d"}, "b": {"B": b"\x00"}},
                    {"pk": {"S": "P"}, "sk": {"S": "d"}, "b": {"B": b"\x00"}})},
        {"t1": puts({"b": {"B": b"\x01"}, "pk": {"S": "P"}, "sk": {"S": "e"}},
                    {"b": {"B": b"\x02"}, "pk": {"S": "P"}, "sk": {"S": "e"}})},
        {"t1": puts({"n": {"N": "1"}, "pk": {"S": "P"}, "sk": {"S": "f"}},
                    {"n": {"N": "1.0"}, "pk": {"S": "P"}, "sk": {"S": "f"}})},
        {"t1": puts(item("g", v={"S": "1"})), "t2": puts(item("g", v={"S": "1"}))},  # one item for two tables
        {"t1": [{"DeleteRequest": {"Key": item("a")}}, {"DeleteRequest": {"Key": item("b")}},
                {"DeleteRequest": {"Key": item("a")}}]},  # one key deleted twice
        {"t1": [{"DeleteRequest": {"Key": item(f"S#{i:02d}")}} for i in range(0, 25, 2)]
               + puts(item("S#01", n={"N": "100"}))},
    ]
    out: list[Any] = [_call(lambda batch=batch: ddb.batch_write_item(RequestItems=batch)) for batch in batches]
    out += [_call(lambda t=table: ddb.scan(TableName=t)["Items"]) for table in ("t1", "t2")]
    return out


def test_batch_writes_are_checked_for_duplicates_as_moto_checks_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given batches of puts and deletes that moto's duplicate check lets through or refuses (distinct items, an item
    twice, a key twice with other attributes, another attribute order, items alike in their first attributes only,
    binary and number attributes, one item for two tables, a key deleted twice), then every answer and the tables'
    items equal plain moto's, and most items were never dumped to JSON."""
    dumped = []
    original = moto_speedups.dynamo_json_dump
    monkeypatch.setattr(moto_speedups, "dynamo_json_dump", lambda value: dumped.append(value) or original(value))
    plain, fast = plain_and_fast(_batch_write_scenario)

    assert fast == plain
    assert sum(1 for answer in plain if isinstance(answer, dict) and "error" in answer) == 5
    assert len(dumped) <= 16  # of ~60 items and keys: only those alike in their first attributes


def test_dumps_outside_a_batch_write_are_moto_s_text() -> None:
    """moto's DynamoDB handler module's `dynamo_json_dump` answers its JSON text under `speedups()` outside a
    BatchWriteItem (only that handler's duplicate check is served comparable dumps)."""
    from moto.dynamodb import responses
    from moto.dynamodb.models.utilities import dynamo_json_dump

    value = {"pk": {"S": "k"}, "b": {"B": b"\x00"}}
    with speedups():
        fast = responses.dynamo_json_dump(value)

    assert fast == dynamo_json_dump(value) and type(fast) is str
