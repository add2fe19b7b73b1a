"""Edge cases of the fast paths in sandbox/moto_speedups.py found by review (an empty member name in a nested map,
shape verdicts kept per client, moto's seeded random source, the condition-parse cache's bound), in the style of
the contract tests: the same scenario under plain moto and under `speedups()`."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any
from unittest import mock

import boto3
from botocore.client import ClientCreator
from moto import mock_aws

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import REGION, _call, plain_and_fast


def _answer(fn: Callable[[], Any]) -> Any:
    """`_call`, and any other exception as its type and message (plain moto's answer to an item below is a body
    botocore cannot parse: an AttributeError raised in the client)."""
    try:
        return _call(fn)
    except Exception as error:  # the raised exception is part of the answer
        return {"raised": type(error).__name__, "message": str(error)}


def _table(ddb: Any, name: str = "t") -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


# ------------------------------------------------------------------ maps of AttributeValues, empty nested key
def _empty_nested_key_scenario() -> list[Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    _table(ddb)
    out: list[Any] = []
    key = {"pk": {"S": "k"}}
    out.append(_answer(lambda: ddb.put_item(TableName="t", Item={**key, "m": {"M": {"": {"S": "x"}}}})))
    out.append(_answer(lambda: ddb.get_item(TableName="t", Key=key)))
    out.append(_answer(lambda: ddb.query(TableName="t", KeyConditionExpression="pk = :k",
                                         ExpressionAttributeValues={":k": {"S": "k"}})))
    out.append(_answer(lambda: ddb.update_item(TableName="t", Key=key, UpdateExpression="SET n = :n",
                                               ExpressionAttributeValues={":n": {"M": {"": {"N": "1"}}}},
                                               ReturnValues="ALL_NEW")))
    out.append(_answer(lambda: ddb.batch_get_item(RequestItems={"t": {"Keys": [key]}})))
    return out


def test_an_item_with_an_empty_key_in_a_nested_map_is_answered_as_moto_answers_it() -> None:
    """Given an item whose map attribute holds a member named "" (moto stores it), when it is read back (GetItem,
    Query, UpdateItem ALL_NEW, BatchGetItem), then the answers equal plain moto's. Plain moto's JSON serializer
    writes a member with an empty name into the enclosing map (its structure serializer takes key "" as "no
    key"), a body botocore cannot parse; the fast path copies nested maps whole (`_wire_attribute_value`, used
    by `_serialize_json_map` and `_serialize_type_structure`) and answers the item. `_serialize_json_map` sends
    only a top-level empty name to moto, not a nested one."""
    plain, fast = plain_and_fast(_empty_nested_key_scenario)

    assert fast == plain


# ------------------------------------------------------------------ client side: shape verdicts kept per shape object
def _clients_reading_and_writing(count: int) -> None:
    for _ in range(count):
        client = boto3.client("dynamodb", region_name=REGION)
        client.put_item(TableName="t", Item={"pk": {"S": "k"}, "m": {"M": {"x": {"L": [{"S": "a"}]}}}})
        client.get_item(TableName="t", Key={"pk": {"S": "k"}})
        client.update_item(TableName="t", Key={"pk": {"S": "k"}}, UpdateExpression="SET a = :a",
                           ExpressionAttributeValues={":a": {"S": "b"}})
        del client
    gc.collect()


def test_attribute_value_shape_verdicts_do_not_grow_with_every_client_created() -> None:
    """Given the client-side fast paths (`_validate_map`, `_serialize_request_map`, `_parse_response_map` and the
    structure paths all ask `_is_attribute_value`), when many DynamoDB clients are created and used in turn (as a
    test suite does, a client per test), then the module's verdict cache (`_attribute_value_shapes`, keyed by
    id(shape) and holding the shape) does not grow with each client: botocore builds new Shape objects for every
    client's service model, so an entry per shape object per client is kept, and the shapes with it, forever. Each
    client gets a service model of its own, as botocore builds it (`speedups()` shares one per loaded description)."""
    with mock_aws(), speedups(), mock.patch.object(ClientCreator, "_load_service_model",
                                                   moto_speedups._original_load_service_model):
        _table(boto3.client("dynamodb", region_name=REGION))
        _clients_reading_and_writing(1)
        after_one = len(moto_speedups._attribute_value_shapes)
        _clients_reading_and_writing(60)
        after_many = len(moto_speedups._attribute_value_shapes)

    assert after_many - after_one < 10, (after_one, after_many)


# ------------------------------------------------------------------ request ids from moto's seeded random source
def _seeded_ids_scenario() -> list[Any]:
    from moto.moto_api._internal import mock_random

    mock_random.seed(7)  # moto's documented way to make its ids reproducible (also POST /moto-api/seed)
    sqs = boto3.client("sqs", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="x")
    tables = ddb.list_tables()
    received = sqs.receive_message(QueueUrl=url)["Messages"]  # its receipt handle too
    return [sent["MessageId"], sent["ResponseMetadata"]["RequestId"], tables["ResponseMetadata"]["RequestId"],
            [m["ReceiptHandle"] for m in received]]


def test_with_moto_s_random_source_seeded_request_and_message_ids_are_moto_s() -> None:
    """Given moto's random source seeded (how moto makes generated ids reproducible), when requests are answered
    (every response's request id is drawn by `_enrich_response`, 526c411, through `_gen_amzn_requestid_long`),
    then the request ids, and the ids drawn after them (an SQS MessageId), equal plain moto's. The fast path
    draws 52 characters with one `choices` call where moto makes 52 `choice` calls: other characters, and the
    source left in another state for every later id. Not covered: the contract tests drop ResponseMetadata and
    MessageId as volatile and never seed moto."""
    from moto.moto_api._internal import mock_random

    try:
        plain, fast = plain_and_fast(_seeded_ids_scenario)
    finally:
        mock_random.seed(None)  # leave moto's random source unseeded for the tests after this one

    assert fast == plain


# ------------------------------------------------------------------ condition parses: the cache's bound
def _evicting_condition_scenario() -> list[Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    _table(ddb)
    ddb.put_item(TableName="t", Item={"pk": {"S": "k"}, "a": {"N": "5"}})
    out: list[Any] = []
    for round_ in range(2):  # the first text is parsed, pushed out by the others, and parsed anew
        out.append(_answer(lambda r=round_: ddb.scan(TableName="t", FilterExpression="a = :v",
                                                     ExpressionAttributeValues={":v": {"N": str(5 + r)}})))
    return out


def test_condition_parses_stay_bounded_and_an_evicted_text_is_parsed_anew() -> None:
    """Given more distinct condition texts than `_CONDITION_PARSES_KEPT`, when they are parsed with the fast path
    (249f863), then the cache keeps at most that many parses, and a text pushed out answers as plain moto does
    when used again with other values. Not covered by the contract tests (they never fill the cache).
    A text in use is kept: the least recently used parse goes first."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def fill() -> None:
        for i in range(moto_speedups._CONDITION_PARSES_KEPT + 50):
            ConditionExpressionParser(f"a{i} = :v", {}, {":v": {"S": "x"}}).parse()

    with mock_aws():
        plain = _evicting_condition_scenario()
    with mock_aws(), speedups():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _table(ddb)
        ddb.put_item(TableName="t", Item={"pk": {"S": "k"}, "a": {"N": "5"}})
        first = _answer(lambda: ddb.scan(TableName="t", FilterExpression="a = :v",
                                         ExpressionAttributeValues={":v": {"N": "5"}}))
        fill()
        kept = len(moto_speedups._condition_parses)
        evicted = not any(key[0] == "a = :v" for key in moto_speedups._condition_parses)
        second = _answer(lambda: ddb.scan(TableName="t", FilterExpression="a = :v",
                                          ExpressionAttributeValues={":v": {"N": "6"}}))

    assert kept <= moto_speedups._CONDITION_PARSES_KEPT
    assert evicted
    assert [first, second] == plain
