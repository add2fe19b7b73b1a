"""Contract tests of server-side fast paths in sandbox/moto_speedups.py inside moto's backends (random draws of
request ids and receipt handles, DynamoDB tables' key attributes): each answers as the moto code it replaces, on the
same inputs, and through whole requests under plain moto and `speedups()`."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any
from unittest import mock

import boto3
import pytest
from moto.core import responses as moto_core_responses
from moto.core import utils as moto_utils
from moto.core.base_backend import BackendDict
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.moto_api._internal import mock_random
from moto.s3.models import s3_backends

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import ACCOUNT, REGION, _call, plain_and_fast

# moto's pools (request ids, receipt handles), and others: one character, a power of two, every printable
# character (100: 7 bits), a pool with a non-ASCII character (drawn the generic way)
POOLS = [string.ascii_letters + string.digits, string.ascii_lowercase, "x", "ab", "abcd", "abc", string.printable,
         "é" + string.ascii_lowercase]


@pytest.mark.parametrize("pool", POOLS)
def test_choices_draw_what_moto_s_choice_draws_and_leave_the_source_as_moto_leaves_it(pool: str) -> None:
    """Given moto's random source seeded, when `length` characters are drawn from a pool, then they are those of
    `length` of moto's `choice(pool)` draws, and the source is left in the state those draws leave it."""
    try:
        for seed in range(40):
            for length in (0, 1, 7, 52, 185):
                mock_random.seed(seed)
                moto_s = "".join(mock_random.choice(pool) for _ in range(length))
                state_after = mock_random.getstate()
                mock_random.seed(seed)
                assert moto_speedups._choices(pool, length) == moto_s
                assert mock_random.getstate() == state_after
    finally:
        mock_random.seed(None)  # leave moto's random source unseeded for the tests after this one


def _drawn_ids_scenario() -> list[Any]:
    """Request ids, message ids and receipt handles drawn from moto's seeded source, through whole requests (the
    drawn values are compared, not stripped as `_call` strips them)."""
    mock_random.seed(11)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="drawn")["QueueUrl"]
    out: list[Any] = []
    for i in range(3):
        sent = sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        out.append((sent["MessageId"], sent["ResponseMetadata"]["RequestId"]))
    for _ in range(2):
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=0)
        out.append((received["ResponseMetadata"]["RequestId"],
                    [(message["MessageId"], message["ReceiptHandle"], message["Body"])
                     for message in received["Messages"]]))
    out.append(_call(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])))
    return out


def test_request_ids_and_receipt_handles_drawn_through_requests_are_moto_s() -> None:
    """Given moto's random source seeded, when messages are sent and received, then every answer (request ids,
    message ids and receipt handles included) equals plain moto's."""
    try:
        plain, fast = plain_and_fast(_drawn_ids_scenario)
    finally:
        mock_random.seed(None)
    assert fast == plain


# ------------------------------------------------------------------ DynamoDB values
def _state(value: Any) -> Any:
    """A DynamoType's whole state (its attributes in order, members recursively), to compare two wrappings."""
    if isinstance(value, DynamoType):
        return (type(value), [(name, _state(member)) for name, member in vars(value).items()])
    if isinstance(value, dict):
        return (type(value), [(name, _state(member)) for name, member in value.items()])
    if isinstance(value, list):
        return (type(value), [_state(member) for member in value])
    return (type(value), value)


class _OtherDict(dict):  # type: ignore[type-arg]
    pass


ATTRIBUTE_VALUES: list[Any] = [
    {"S": "text"}, {"N": "12.5"}, {"B": b"\x00\x01"}, {"BOOL": False}, {"NULL": True}, {"SS": ["a", "b"]},
    {"NS": ["1", "2"]}, {"BS": [b"x"]}, {"L": []}, {"M": {}},
    {"L": [{"S": "a"}, {"M": {"k": {"L": [{"N": "1"}, {"NULL": True}]}}}]},
    {"M": {"a": {"S": "x"}, "": {"N": "1"}, "m": {"M": {"deep": {"SS": ["z"]}}}}},
    {"S": "first", "N": "second"},  # more than one key: moto takes the first
    _OtherDict({"M": {"a": {"S": "x"}}}), {"X": "unknown type"}, {"L": ({"S": "a tuple"},)},
]


@pytest.mark.parametrize("value", ATTRIBUTE_VALUES, ids=repr)
def test_a_dynamo_type_wraps_what_moto_s_wraps(value: Any) -> None:
    """Given an AttributeValue (every type, nested lists and maps, more than one key, a dict subclass, an unknown
    type) or a DynamoType of it, when wrapped with and without `speedups()`, then the two have the same state
    (attributes in order, members recursively), and both refuse the same input the same way."""
    plain = DynamoType(value)
    with speedups():
        fast = DynamoType(value)
        fast_of_type = DynamoType(plain)
    assert _state(fast) == _state(plain)
    assert _state(fast_of_type) == _state(DynamoType(plain))
    refused_inputs: list[Any] = [{}, [], "S"]
    for refused in refused_inputs:
        with pytest.raises(Exception) as plain_error:
            DynamoType(refused)
        with speedups(), pytest.raises(Exception) as fast_error:
            DynamoType(refused)
        assert (type(fast_error.value), str(fast_error.value)) == (type(plain_error.value), str(plain_error.value))


# ------------------------------------------------------------------ DynamoDB tables' key attributes
def _key_attributes_scenario() -> list[Any]:
    """Tables without indexes, with local and global ones, and global ones added and removed; each table's key
    attributes as moto's property lists them, and the requests that read them (writes, updates, reads of keys
    that are and are not key attributes)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    backend = dynamodb_backends[ACCOUNT][REGION]
    out: list[Any] = []

    def keys(table: str) -> None:
        out.append((table, backend.get_table(table).attribute_keys))

    string_attributes = [{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g", "h", "l")]
    dynamodb.create_table(TableName="plain", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=string_attributes[:1], BillingMode="PAY_PER_REQUEST")
    keys("plain")
    dynamodb.create_table(
        TableName="indexed", AttributeDefinitions=[a for a in string_attributes if a["AttributeName"] != "h"],
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "local", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "global", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
            {"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}])
    keys("indexed")
    dynamodb.update_table(TableName="indexed", AttributeDefinitions=string_attributes, GlobalSecondaryIndexUpdates=[
        {"Create": {"IndexName": "added", "Projection": {"ProjectionType": "KEYS_ONLY"},
                    "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}]}}])
    keys("indexed")
    for item in ({"pk": {"S": "p"}, "sk": {"S": "s"}, "g": {"S": "g"}, "other": {"S": "o"}},
                 {"pk": {"S": "p"}, "sk": {"S": "t"}, "h": {"S": ""}},  # an empty index key: refused
                 {"pk": {"S": "p"}, "sk": {"S": "u"}, "l": {"N": "1"}}):  # an index key of another type: refused
        out.append(_call(lambda item=item: dynamodb.put_item(TableName="indexed", Item=item)))
    for key in ({"pk": {"S": "p"}, "sk": {"S": "s"}}, {"pk": {"S": "p"}, "other": {"S": "o"}}):
        out.append(_call(lambda key=key: dynamodb.get_item(TableName="indexed", Key=key)))
        out.append(_call(lambda key=key: dynamodb.update_item(
            TableName="indexed", Key=key, UpdateExpression="SET #a = :v", ExpressionAttributeNames={"#a": "other"},
            ExpressionAttributeValues={":v": {"S": "n"}}, ReturnValues="ALL_NEW")))
        out.append(_call(lambda key=key: dynamodb.update_item(  # an index key set empty: refused
            TableName="indexed", Key=key, UpdateExpression="SET g = :v", ExpressionAttributeValues={":v": {"S": ""}})))
    dynamodb.update_table(TableName="indexed", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "global"}}])
    keys("indexed")
    return out


def test_a_table_s_key_attributes_are_moto_s() -> None:
    """Given tables without indexes, with local and global ones, and a global one added then removed, when their
    key attributes are listed and items written, updated and read (empty and mistyped index keys, keys that are
    not the table's), then every list, answer and error equals plain moto's."""
    plain, fast = plain_and_fast(_key_attributes_scenario)
    assert fast == plain


def _nested_values_scenario() -> list[Any]:
    """Items of nested lists and maps written, updated in place and read back."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName="nested", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    out: list[Any] = []
    item = {"pk": {"S": "a"}, "m": {"M": {"l": {"L": [{"N": "1"}, {"M": {"x": {"S": "y"}}}]}, "s": {"SS": ["q"]}}},
            "b": {"B": b"\x01"}, "n": {"NULL": True}}
    out.append(_call(lambda: dynamodb.put_item(TableName="nested", Item=item, ReturnValues="ALL_OLD")))
    out.append(_call(lambda: dynamodb.update_item(
        TableName="nested", Key={"pk": {"S": "a"}}, ReturnValues="ALL_NEW",
        UpdateExpression="SET m.l[1].x = :v, m.l = list_append(m.l, :more) ADD m.s :s REMOVE n",
        ExpressionAttributeValues={":v": {"M": {"z": {"L": []}}}, ":more": {"L": [{"BOOL": True}]},
                                   ":s": {"SS": ["r"]}})))
    out.append(_call(lambda: dynamodb.update_item(  # a path into a scalar: refused
        TableName="nested", Key={"pk": {"S": "a"}}, UpdateExpression="SET b.c = :v",
        ExpressionAttributeValues={":v": {"S": "x"}})))
    out.append(_call(lambda: dynamodb.get_item(TableName="nested", Key={"pk": {"S": "a"}})))
    out.append(_call(lambda: dynamodb.scan(TableName="nested", FilterExpression="m.l[0] = :one",
                                           ExpressionAttributeValues={":one": {"N": "1"}})))
    return out


def test_nested_values_written_updated_and_read_answer_as_moto_does() -> None:
    """Given an item of nested maps, lists, sets, binary and null, when it is written, updated in place (a list
    member's map replaced, a list appended to, a set added to, an attribute removed, a path into a scalar
    refused), read and scanned with a filter on a list member, then every answer and error equals plain moto's."""
    plain, fast = plain_and_fast(_nested_values_scenario)
    assert fast == plain


# ------------------------------------------------------------------ every request: the parser's request parts
def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _without_times(member) for name, member in value.items() if not name.endswith("At")}
    if isinstance(value, list):
        return [_without_times(member) for member in value]
    return value


def _parsed_parameters_scenario() -> list[Any]:
    """Requests of each protocol moto parses (query: SNS; JSON: DynamoDB, SQS; REST-JSON and REST-XML with a path,
    query string arguments and a body: EMR Serverless, CloudFront), refused ones included, with the parameters
    moto's parser made of each (recorded after each request's setup) and the answers."""
    parsed: list[Any] = []
    original_setup = moto_core_responses.BaseResponse.setup_class

    def recording_setup(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original_setup(self, *args, **kwargs)
        finally:
            parsed.append((type(self).__name__, getattr(self, "params", None)))

    out: list[Any] = []
    mock_random.seed(5)  # the applications' ids
    with mock.patch.object(moto_core_responses.BaseResponse, "setup_class", recording_setup):
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="parsed", Attributes={"DisplayName": "d"}, Tags=[{"Key": "k", "Value": "v"}])
        out.append(_call(lambda: sns.publish(TopicArn=topic["TopicArn"], Message="m", MessageAttributes={
            "a": {"DataType": "String", "StringValue": "x"}})))
        out.append(_call(lambda: sns.publish(TopicArn=topic["TopicArn"] + "-missing", Message="m")))
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="parsed")["QueueUrl"]
        out.append(_call(lambda: sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=0)))
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        out.append(_call(lambda: dynamodb.get_item(TableName="missing", Key={"pk": {"S": "p"}})))
        emr = boto3.client("emr-serverless", region_name=REGION)
        for name in ("one", "two"):
            out.append(_call(lambda name=name: emr.create_application(
                name=name, releaseLabel="emr-6.6.0", type="SPARK", clientToken=f"token-{name}")))
        out.append(_call(lambda: emr.list_applications(states=["CREATED", "STARTED"], maxResults=5)))
        out.append(_call(lambda: emr.get_application(applicationId="missing")))
        cloudfront = boto3.client("cloudfront", region_name=REGION)
        out.append(_call(lambda: cloudfront.list_distributions(MaxItems="5", Marker="m")))
        out.append(_call(lambda: cloudfront.get_distribution(Id="missing")))
    return [_without_times(out), parsed]


def test_the_parameters_moto_s_parser_makes_of_each_request_are_moto_s() -> None:
    """Given requests of every protocol moto parses (query, JSON, REST-JSON with query string arguments), refused
    ones included, when each is set up and answered, then the parameters moto's parser made of each request, and
    every answer and error, equal plain moto's."""
    try:
        plain, fast = plain_and_fast(_parsed_parameters_scenario)
    finally:
        mock_random.seed(None)
    assert fast == plain
    assert any(params for _, params in plain[1]) and len(plain[1]) >= 10


def test_request_parts_read_the_request_s_values_only_when_asked_for_them() -> None:
    """Given the parts handed to the parser, when `values` is read, then it is the request's (werkzeug's cached
    `values`), kept; any other missing part is a KeyError, as in moto's dict."""

    class _Request:
        reads = 0

        @property
        def values(self) -> str:
            self.reads += 1
            return "the values"

    request = _Request()
    parts = moto_speedups._RequestParts(request, {"method": "GET"})
    assert request.reads == 0
    assert (parts["method"], parts["values"], parts["values"], request.reads) == ("GET", "the values", "the values", 1)
    with pytest.raises(KeyError):
        parts["body"]


# ------------------------------------------------------------------ every request: backend lookups
def _backend_lookups_scenario() -> list[Any]:
    """Backends looked up through requests (the default account, an account found by an IAM access key, S3's
    partition-wide backend) and directly (a region's, "global", an unknown region), with the services listed in
    use after each step and after moto's reset."""
    out: list[Any] = []
    mock_random.seed(3)  # the user's id

    def listed() -> None:
        out.append([backends.service_name for backends in BackendDict._instances])

    listed()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    out.append(_call(lambda: dynamodb.list_tables()))
    listed()
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]
    listed()
    as_user = boto3.client("sts", region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"])
    out.append(_call(lambda: as_user.get_caller_identity()))
    s3 = boto3.client("s3", region_name=REGION)
    out.append(_call(lambda: s3.create_bucket(Bucket="lookups")))
    out.append(_call(lambda: s3.list_buckets()["Buckets"][0]["Name"]))
    listed()
    last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    out.append({name: value for name, value in last_used.items() if name != "LastUsedDate"})
    account = s3_backends[ACCOUNT]
    out.append((account["global"] is account["aws"], dynamodb_backends[ACCOUNT][REGION] is dynamodb_backends[ACCOUNT][
        REGION], sorted(account)))
    try:
        out.append(type(dynamodb_backends[ACCOUNT]["nowhere-1"]).__name__)
    except Exception as error:  # the refusal is part of the contract
        out.append((type(error).__name__, str(error)))
    BackendDict._instances.remove(dynamodb_backends)  # listed no more, its account still there
    listed()
    out.append(_call(lambda: dynamodb.list_tables()))  # listed again by the lookup
    listed()
    BackendDict.reset()
    listed()
    out.append(_call(lambda: dynamodb.list_tables()))
    listed()
    out.append(sorted(dynamodb_backends[ACCOUNT]))
    return out


def test_backends_looked_up_through_requests_and_directly_are_moto_s() -> None:
    """Given requests to several services (one as an IAM user, found by its access key) and direct lookups of a
    region's backend, of "global" and of an unknown region, before and after moto's reset, when each is answered,
    then every answer, every lookup, the access key's last use and the services listed in use equal plain moto's."""
    try:
        plain, fast = plain_and_fast(_backend_lookups_scenario)
    finally:
        mock_random.seed(None)
    assert fast == plain


# ------------------------------------------------------------------ moto's clock
def test_the_fast_utcnow_reads_moto_s_time_as_moto_makes_it_naive() -> None:
    """Given the real clock, when moto's `utcnow` and the fast one are read in turn, then the fast one's answer is a
    naive `datetime.datetime` between moto's before and after it; and given `datetime.datetime` replaced by a class
    whose `now` answers fixed aware times (also of its own class, with a fold), then both answer the same naive
    time, of the same class and fold."""
    for _ in range(200):
        before = moto_utils.utcnow()
        fast = moto_speedups._utcnow()
        after = moto_utils.utcnow()
        assert type(fast) is dt.datetime and fast.tzinfo is None and before <= fast <= after

    class FrozenDatetime(dt.datetime):
        answer: Any = None

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return cls.answer

    for answer in (dt.datetime(2026, 12, 4, 10, 11, 12, 131415, tzinfo=dt.UTC),
                   FrozenDatetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
                   dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC, fold=1)):
        FrozenDatetime.answer = answer
        with mock.patch.object(dt, "datetime", FrozenDatetime):
            plain, fast = moto_utils.utcnow(), moto_speedups._utcnow()
        assert (fast, type(fast), fast.tzinfo, fast.fold) == (plain, type(plain), plain.tzinfo, plain.fold)
