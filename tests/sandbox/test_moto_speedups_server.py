"""Contract tests of the server-side per-request fast paths in sandbox/moto_speedups.py (the request's header pairs,
its body as werkzeug reads it, the action's snake-case name): each answers as the moto or werkzeug code it replaces,
on the same inputs and through whole requests under plain moto and `speedups()`."""

from __future__ import annotations

import gzip
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, HeadersDict
from botocore.config import Config
from moto.core import utils as moto_utils

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import REGION, _call, plain_and_fast

HEADER_SETS: list[list[tuple[str, Any]]] = [
    [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
     ("Content-Length", "12"), ("User-Agent", "Boto3/1.35"), ("Authorization", "AWS4-HMAC-SHA256 Credential=x")],
    [("x-a", "1"), ("X-A", "2"), ("X-b", b"bytes"), ("Host", "elsewhere:1")],  # a name repeated in another case
    [("Transfer-Encoding", "chunked"), ("X-Dup", "1"), ("x-dup", "2"), ("Bad", "new\nline")],  # refused by werkzeug
    [],
]


@pytest.mark.parametrize("pairs", HEADER_SETS)
def test_a_headers_dict_lists_the_pairs_its_items_view_lists(pairs: list[tuple[str, Any]]) -> None:
    """Given botocore's HeadersDict filled with names (one repeated in another case, which keeps the first name
    and the last value) and values (text and bytes), and one emptied again, when its pairs are listed, then they
    are its items view's, in order; any other mapping is listed by its own items view."""
    headers = HeadersDict()
    for name, value in pairs:
        headers[name] = value
    assert moto_speedups._header_pairs(headers) == list(headers.items())
    if pairs:
        del headers[pairs[0][0]]
        assert moto_speedups._header_pairs(headers) == list(headers.items())
    plain = dict(pairs)
    assert list(moto_speedups._header_pairs(plain)) == list(plain.items())


BODIES: list[tuple[str, str, dict[str, str], Any]] = [
    ("POST", "https://dynamodb.us-east-1.amazonaws.com/", {"Content-Type": "application/x-amz-json-1.0"},
     b'{"TableName": "t"}'),
    ("POST", "https://sqs.us-east-1.amazonaws.com/", {"Content-Type": "application/x-www-form-urlencoded"},
     b"Action=ListQueues&Version=2012-11-05&a=%C3%A9+b"),
    ("POST", "https://sqs.us-east-1.amazonaws.com/",
     {"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"}, "Action=ListQueues&x=1"),
    ("POST", "https://bucket-b.s3.amazonaws.com/", {"Content-Type": "multipart/form-data; boundary=xyz"},
     b'--xyz\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--xyz\r\nContent-Disposition: form-data; '
     b'name="file"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz--\r\n'),
    ("PUT", "https://bucket-b.s3.amazonaws.com/k", {"Content-Type": "text/plain; charset=utf-8"}, "héllo=1&x"),
    ("PUT", "https://bucket-b.s3.amazonaws.com/k", {}, b"a=1&b=2"),  # no Content-Type: no form either
    ("POST", "https://logs.us-east-1.amazonaws.com/", {"Content-Type": "application/json", "Content-Encoding": "gzip"},
     gzip.compress(b'{"logGroupName": "g"}')),
    ("GET", "https://bucket-b.s3.amazonaws.com/k?x=1", {"Accept": "*/*"}, None),
    ("POST", "https://events.us-east-1.amazonaws.com/", {"Content-Type": "application/x-amz-json-1.1",
                                                         "Content-Length": "99"}, b'{"x": "\xc3\xa9"}'),
]


def _read(request: Any, order: str) -> dict[str, Any]:
    """What a handler reads of a request's body, in the given order, and what the request keeps afterwards: the
    stream (its type and what is left in it), the bytes kept, the form and files, and every cached value but
    werkzeug's parsed Content-Type (a cache it fills again on demand, read here as the mimetype)."""
    read: dict[str, Any] = {}
    for name in order.split(","):
        if name == "stream-first":
            read[name] = request.stream.read(3)
        elif name == "get_data":
            read[name] = request.get_data()
        else:
            value = getattr(request, name)
            read[name] = list(value.items(multi=True)) if hasattr(value, "items") else value
    files = {name: (storage.filename, storage.read()) for name, storage in request.files.items(multi=True)}
    return {**read, "left": request.stream.read(), "stream": type(request.stream).__name__, "files": files,
            "form": list(request.form.items(multi=True)), "values": list(request.values.items(multi=True)),
            "mimetype": (request.mimetype, request.mimetype_params), "kept": request.get_data(),
            "cached": sorted(name for name in vars(request) if name != "_parsed_content_type")}


@pytest.mark.parametrize("order", ["data", "data,form,files", "form,data", "get_data,data", "stream-first,data",
                                   "files,data,data"])
def test_the_body_reads_as_werkzeug_reads_it_for_every_content_type_and_order(order: str) -> None:
    """Given requests with bodies of several content types (JSON, forms in any case and with parameters, a
    multipart upload, plain text that looks like a form, none, a gzip-encoded one, a wrong Content-Length) and
    one without a body, when the body, form and files are read in several orders (the body first, after the form,
    after `get_data`, after part of the stream), then every read, what is left in the stream and what the request
    keeps cached are werkzeug's."""
    def requests() -> list[Any]:
        out = []
        for method, url, headers, body in BODIES:
            request = moto_speedups.normalize_request(AWSPreparedRequest(method, url, HeadersDict(headers), body,
                                                                         False))
            out.append(_call(lambda request=request: _read(request, order)))
        return out

    with speedups():
        fast = requests()
        with mock.patch.object(moto_speedups.MotoRequest, "data", moto_speedups._original_request_data):
            plain = requests()  # werkzeug's read, with the other fast paths (the request's cached URLs) as they are
    assert fast == plain
    assert plain[0]["data"].endswith(b'"t"}') and plain[1]["form"]  # the fast case, and a form werkzeug parses


NAMES = ["GetItem", "BatchWriteItem", "ListQueues", "DescribeDBInstances", "ReceiveMessageWaitTimeSeconds",
         "VisibilityTimeout", "getItem", "HTTPRequest", "A", "aB", "ab", "With Space", "snake_case", "Éclair", "",
         "X1Y"]


def test_snake_case_names_are_moto_s_for_every_text_and_repeat() -> None:
    """Given action and attribute names (acronyms, a lower first letter, one letter, spaces, an accent, empty),
    when each is converted three times, then every answer is moto's, as is a non-text argument's."""
    for _ in range(3):
        for name in NAMES:
            assert moto_speedups._camelcase_to_underscores(name) == moto_utils.camelcase_to_underscores(name), name
    assert moto_speedups._camelcase_to_underscores(None) is None


def _services_scenario() -> list[Any]:
    """Whole requests whose bodies take each path: JSON (DynamoDB, EventBridge, SQS), a query form (SNS), a gzip
    body (CloudWatch metrics, compressed by botocore), S3 uploads with form-like content types and a presigned
    POST with its form, each answer read back."""
    out: list[Any] = []
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    out.append(_call(lambda: dynamodb.put_item(TableName="t", Item={"pk": {"S": "a=1&b"}, "n": {"N": "1"}})))
    out.append(_call(lambda: dynamodb.get_item(TableName="t", Key={"pk": {"S": "a=1&b"}})))
    out.append(_call(lambda: dynamodb.get_item(TableName="missing", Key={"pk": {"S": "a"}})))
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    out.append(_call(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])))
    out.append(_call(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})))
    sns = boto3.client("sns", region_name=REGION)
    out.append(_call(lambda: sns.create_topic(Name="t&x=1")))
    out.append(_call(lambda: sns.create_topic(Name="topic")))
    events = boto3.client("events", region_name=REGION)
    out.append(_call(lambda: events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": '{"a": "b=c"}'}])))
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, config=Config(request_min_compression_size_bytes=1))
    out.append(_call(lambda: cloudwatch.put_metric_data(Namespace="n", MetricData=[{"MetricName": "m", "Value": 1}])))
    out.append(_call(lambda: cloudwatch.list_metrics(Namespace="n")))
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bucket-b")
    for key, content_type, body in [("form", "application/x-www-form-urlencoded", b"a=1&b=2"),
                                    ("multi", "multipart/form-data; boundary=xyz", b"--xyz--\r\n"),
                                    ("json", "application/json", b'{"a": 1}')]:
        out.append(_call(lambda key=key, content_type=content_type, body=body: s3.put_object(
            Bucket="bucket-b", Key=key, Body=body, ContentType=content_type)))
        out.append(_call(lambda key=key: {**s3.get_object(Bucket="bucket-b", Key=key), "Body": None,
                                          "read": s3.get_object(Bucket="bucket-b", Key=key)["Body"].read()}))
    import requests

    post = s3.generate_presigned_post("bucket-b", "posted/${filename}")
    answer = requests.post(post["url"], data=post["fields"], files={"file": ("f.txt", b"uploaded")}, timeout=5)
    out.append((answer.status_code, s3.get_object(Bucket="bucket-b", Key="posted/f.txt")["Body"].read()))
    return [_without_dates(answer) for answer in out]


def _without_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_dates(v) for k, v in value.items() if k not in ("LastModified", "Date", "date")}
    if isinstance(value, list):
        return [_without_dates(v) for v in value]
    return value


def test_whole_requests_of_every_body_kind_answer_as_under_plain_moto() -> None:
    """Given requests with JSON bodies, query forms, a gzip-compressed body, S3 uploads whose content types name
    forms and a browser-style form upload, when each runs under plain moto and under `speedups()`, then every
    answer and error is moto's."""
    plain, fast = plain_and_fast(_services_scenario)
    assert fast == plain
    assert plain[-1] == (204, b"uploaded")


RAW_URIS = ["/", "/k%2Fa%20b?versionId=1", "https://bucket-b.s3.amazonaws.com/k%2Fa?x=1", "http://h", "//double/slash",
            "no-slash", "?only=query", "", "https://h:8443/p/../q?y=%C3%A9", "/ü?x=ä"]


def test_raw_paths_are_moto_s_for_every_raw_uri_and_repeat() -> None:
    """Given requests whose environ holds raw URIs (a path, escapes, a whole URL, a scheme without a path, a path
    starting with two slashes, one without a slash, a query alone, none: werkzeug's path then), when moto's raw
    path and raw URL are read twice each, then they are moto's."""
    def reads() -> list[Any]:
        out = []
        for raw_uri in RAW_URIS * 2:
            request = moto_speedups.MotoRequest.from_primitives("GET", "https://s3.amazonaws.com/b/w%2Fp?q=1", {}, None)
            request.environ["RAW_URI"] = raw_uri
            out.append((raw_uri, request.raw_path, request.raw_url, request.raw_path))
        return out

    plain = reads()
    with speedups():
        fast = reads()
    assert fast == plain
    assert plain[-3][1] == "/b/w/p"  # no RAW_URI: werkzeug's (decoded) path


ITEMS: list[dict[str, Any]] = [
    {"pk": {"S": "p"}, "sk": {"S": "1"}, "n": {"N": "1.50"}, "flag": {"BOOL": False}, "none": {"NULL": True},
     "map": {"M": {"inner": {"L": [{"S": "x"}, {"N": "2"}, {"M": {}}]}, "e": {"S": ""}}}, "ss": {"SS": ["b", "a"]},
     "ns": {"NS": ["3", "1"]}, "list": {"L": []}},
    {"pk": {"S": "p"}, "sk": {"S": "2"}, "bin": {"B": b"\x00\xff"}},  # binary: the whole list is moto's
    {"pk": {"S": "p"}, "sk": {"S": "3"}, "bs": {"BS": [b"a", b"b"]}, "deep": {"M": {"b": {"B": b"z"}}}},
    {"pk": {"S": "q"}, "sk": {"S": "1"}, "text": {"S": "é\u2028\"quoted\""}, "n": {"N": "-0"}},
    {"pk": {"S": "q"}, "sk": {"S": "2"}, "m": {"M": {"a": {"M": {"b": {"L": [{"NULL": True}, {"BOOL": True}]}}}}}},
]


def _item_lists_scenario() -> list[Any]:
    """The lists of items DynamoDB answers with (Query, Scan, BatchGetItem; none, one, several, projected, with
    and without binary attributes among them, filtered to none), each answer and error read back."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                {"AttributeName": "sk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    for item in ITEMS:
        dynamodb.put_item(TableName="t", Item=item)
    key = {"KeyConditionExpression": "pk = :p"}
    calls = [
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "p"}}),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "q"}}),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "none"}}),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "p"}}, Limit=1),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "p"}},
                               ProjectionExpression="sk, #m.inner", ExpressionAttributeNames={"#m": "map"}),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "q"}, ":x": {"S": "no"}},
                               FilterExpression="sk = :x"),
        lambda: dynamodb.query(TableName="t", **key, ExpressionAttributeValues={":p": {"S": "q"}}, Select="COUNT"),
        lambda: dynamodb.scan(TableName="t"),
        lambda: dynamodb.scan(TableName="t", FilterExpression="attribute_exists(text)"),
        lambda: dynamodb.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "q"}, "sk": {"S": "1"}},
                                                                     {"pk": {"S": "q"}, "sk": {"S": "2"}},
                                                                     {"pk": {"S": "x"}, "sk": {"S": "1"}}]}}),
        lambda: dynamodb.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "2"}}]}}),
        lambda: dynamodb.query(TableName="missing", **key, ExpressionAttributeValues={":p": {"S": "p"}}),
    ]
    return [_call(call) for call in calls]


def test_lists_of_items_answer_as_under_plain_moto() -> None:
    """Given items of every attribute type (nested maps and lists, sets, empty strings and lists, text to escape,
    binary ones), when Query, Scan and BatchGetItem answer with lists of them (none, one, several, projected,
    filtered, counted; binary ones among them, which moto serializes), under plain moto and under `speedups()`,
    then every answer and error is moto's."""
    plain, fast = plain_and_fast(_item_lists_scenario)
    assert fast == plain
    assert plain[0]["Items"][1]["bin"] == {"B": b"\x00\xff"} and plain[1]["Count"] == 2



ODD_ITEM_LISTS: list[Any] = [
    [{"a": {"S": "x"}}, {"": {"S": "empty name"}}],  # moto's map writes an empty name's members into the item
    [{"a": {"S": "x"}}, "not an item"],
    [{"a": {"S": 1}}],  # a number where text belongs: moto's own conversion
    [{"a": {"N": "1", "S": "two types"}}],
    [{"a": {"B": "YQ=="}}, {"b": {"BOOL": True}}],
    [],
    [{"a": {"L": [{"M": {"b": {"SS": ["x", 1]}}}]}}],
]


@pytest.mark.parametrize("items", ODD_ITEM_LISTS)
def test_odd_lists_of_items_serialize_as_moto_serializes_them(items: list[Any]) -> None:
    """Given Query results whose item lists hold what the API never stores (an empty attribute name, a member that
    is not an item, values of the wrong type or with two types, binary given as text, a set with a number) and an
    empty list, when moto's JSON serializer writes each with the fast list path and with moto's own, then the
    answers (or errors) are the same."""
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model("Query")

    def serialize() -> Any:
        serializer = JSONSerializer(operation_model=operation, value_picker=XFormedAttributePicker())
        try:
            return serializer.serialize({"Items": items, "Count": len(items)})
        except Exception as error:
            return type(error).__name__, str(error)

    with speedups():
        fast = serialize()
        with mock.patch.object(moto_speedups.BaseJSONSerializer, "_serialize_type_list",
                               moto_speedups._original_json_list):
            plain = serialize()
    assert fast == plain
