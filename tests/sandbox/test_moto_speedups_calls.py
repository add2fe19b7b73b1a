"""Contract tests of the per-call client fast paths in sandbox/moto_speedups.py (botocore's side of every API call:
the endpoint parameters worked out per operation, the header keys kept per name, the request headers read without
the email policy's calls for ASCII text): each answers as the botocore code it replaces, on the same inputs, with
and without `speedups()`, errors included."""

from __future__ import annotations

import email.policy
import io
import random
import zlib
from collections.abc import Callable
from email.header import Header
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore import endpoint as botocore_endpoint
from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.context import get_context, start_as_current_context
from botocore.endpoint_provider import ParameterDefinition
from botocore.model import OperationModel
from botocore.retries.adaptive import ClientRateLimiter
from botocore.retries.standard import OrRetryChecker
from moto import mock_aws

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups

REGION = "us-east-1"
TRANSACTION = {"TransactItems": [{"Put": {"TableName": "one", "Item": {}}}, {"Update": {"TableName": "two"}},
                                 {"ConditionCheck": {"TableName": "one"}}]}
# (service, client options, operation, call arguments): parameters from the operation (static values), the call
# (members, JMESPath expressions over it), the client's configuration and the builtins, some absent or None
CALLS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("dynamodb", {}, "GetItem", {"TableName": "runs", "Key": {}}),
    ("dynamodb", {}, "GetItem", {"TableName": None}),
    ("dynamodb", {}, "BatchWriteItem", {"RequestItems": {"runs": [], "tasks": []}}),
    ("dynamodb", {}, "TransactWriteItems", TRANSACTION),
    ("dynamodb", {}, "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "one"}}]}),
    ("dynamodb", {}, "ImportTable", {"TableCreationParameters": {"TableName": "imported"}}),
    ("dynamodb", {}, "ListTables", {}),
    ("dynamodb", {"aws_account_id": "123456789012"}, "Query", {"TableName": "runs"}),
    ("dynamodb", {"aws_account_id": "123456789012", "config": Config(account_id_endpoint_mode="required")},
     "PutItem", {"TableName": "runs"}),
    ("dynamodb", {"config": Config(account_id_endpoint_mode="disabled")}, "PutItem", {"TableName": "runs"}),
    ("dynamodb", {"region_name": "eu-west-1", "config": Config(use_fips_endpoint=True)}, "Scan",
     {"TableName": "runs"}),
    ("dynamodb", {"endpoint_url": "http://localhost:8000"}, "DescribeTable", {"TableName": "runs"}),
    ("s3", {}, "GetObject", {"Bucket": "bucket-one", "Key": "a/b"}),
    ("s3", {}, "CreateBucket", {"Bucket": "bucket-one"}),
    ("s3", {}, "CopyObject", {"Bucket": "bucket-one", "Key": "k", "CopySource": "bucket-two/k"}),
    ("s3", {}, "ListBuckets", {}),
    ("s3", {"config": Config(s3={"addressing_style": "path"})}, "PutObject", {"Bucket": "bucket-one", "Key": "k"}),
    ("s3", {"config": Config(s3={"use_accelerate_endpoint": True})}, "GetObject", {"Bucket": "bucket-one",
                                                                                   "Key": "k"}),
    ("s3", {"region_name": "eu-west-1", "config": Config(use_dualstack_endpoint=True)}, "HeadBucket",
     {"Bucket": "bucket-one"}),
    ("s3", {"config": Config(s3={"disable_s3_express_session_auth": False})}, "CopyObject",  # static over client's
     {"Bucket": "bucket-one", "Key": "k", "CopySource": "bucket-two/k"}),
    ("events", {}, "PutEvents", {"Entries": [], "EndpointId": "abc.def"}),
    ("events", {}, "PutEvents", {"Entries": []}),
    ("sqs", {"region_name": "eu-west-1"}, "SendMessage", {"QueueUrl": "q", "MessageBody": "m"}),
    ("omics", {}, "GetRun", {"id": "1234567"}),
    ("sts", {}, "GetCallerIdentity", {}),
]


# what moto draws for each response or takes from the clock
VOLATILE = {"RequestId", "HostId", "date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "last-modified",
            "LastModified", "x-amzn-RequestId"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _stable(member) for key, member in value.items() if key not in VOLATILE}
    return value


def _answer(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return _stable(fn(*args))
    except Exception as error:  # errors are part of the contract
        return {"error": type(error).__name__, "message": str(error)}


def _provider_params() -> list[Any]:
    """The endpoint parameters of every call, twice (the second time from what the first one worked out), with
    the user-agent features their resolution records, and those of calls a `before-endpoint-resolution` handler
    changes the builtins of; then those of a ruleset naming a builtin botocore does not know."""
    answers = []

    def other_region(builtins: dict[str, Any], **_: Any) -> None:
        builtins["AWS::Region"] = "ap-south-1"

    for service, options, operation, call_args in CALLS:
        client = boto3.client(service, **{"region_name": REGION, **options})
        model = client.meta.service_model.operation_model(operation)
        for changed in (False, False, True):
            if changed:
                client.meta.events.register(f"before-endpoint-resolution.{service}", other_region)
            with start_as_current_context():
                params = _answer(client._ruleset_resolver._get_provider_params, model, call_args, {})
                answers.append((service, operation, params, sorted(get_context().features)))
    # an operation whose JMESPath parameters are also a builtin and a client context parameter (none of botocore's
    # models has one yet): the call's value comes first, whatever it is, then the client's, then the builtin
    s3 = boto3.client("s3", region_name=REGION, config=Config(s3={"addressing_style": "path",
                                                                  "disable_s3_express_session_auth": False}))
    paths = {"ForcePathStyle": {"path": "Force"}, "DisableS3ExpressSessionAuth": {"path": "Disable"}}
    model = OperationModel({"name": "Made", "http": {"method": "GET", "requestUri": "/"},
                            "operationContextParams": paths}, s3.meta.service_model, "Made")
    for call_args in ({"Force": False, "Disable": True}, {}, {"Force": None}):
        answers.append(_answer(s3._ruleset_resolver._get_provider_params, model, call_args, {}))
    client = boto3.client("sqs", region_name=REGION)
    resolver = client._ruleset_resolver
    resolver._param_definitions = {**resolver._param_definitions,
                                   "Unknown": ParameterDefinition("Unknown", "string", builtIn="AWS::Unknown")}
    model = client.meta.service_model.operation_model("ListQueues")
    answers += [_answer(resolver._get_provider_params, model, {}, {}) for _ in range(2)]
    return answers


def test_endpoint_parameters_are_botocore_s_for_every_source_and_configuration() -> None:
    """Given calls of five services whose endpoint parameters come from the operation, the call's members and
    JMESPath expressions over it, the client's configuration (account id modes, FIPS, dual-stack, accelerate, an
    endpoint URL) and the builtins, some changed by a handler, when their parameters are resolved twice under
    plain moto and under `speedups()`, then they are botocore's, as are the features recorded and the error
    for a builtin botocore does not know."""
    with mock_aws():
        plain = _provider_params()
    with mock_aws(), speedups():
        fast = _provider_params()
    assert fast == plain
    assert plain[-1]["error"] == "UnknownEndpointResolutionBuiltInName"
    assert any(features for *_, features in plain)  # the account id's
    assert {"ResourceArnList": ["one", "two", "one"]}.items() <= plain[9][2].items()  # TransactWriteItems's path


def test_requests_are_sent_with_botocore_s_urls_headers_and_bodies() -> None:
    """Given calls of every protocol the project uses (JSON, REST-JSON, REST-XML, query), refused ones included,
    when botocore sends them under plain moto and under `speedups()`, then each request has the same method, URL,
    headers (but for the per-call invocation id, the clock's dates and the signature) and body, and each answer
    the same parsed result or error."""

    def scenario() -> list[Any]:
        sent: list[Any] = []

        def record(request: Any, **_: Any) -> None:
            headers = {name: value for name, value in request.headers.items()
                       if name not in ("amz-sdk-invocation-id", "X-Amz-Date", "Authorization", "Date")}
            body = request.body if isinstance(request.body, (bytes, str, type(None))) else type(request.body).__name__
            sent.append((request.method, request.url, headers, body))  # a stream (S3's chunked upload) by its type

        clients = {service: boto3.client(service, region_name=REGION) for service in ("dynamodb", "s3", "sqs")}
        for client in clients.values():
            client.meta.events.register_first("before-send", record)
        dynamodb, s3, sqs = clients["dynamodb"], clients["s3"], clients["sqs"]
        answers = [_answer(lambda: dynamodb.create_table(
            TableName="runs", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableName"])]
        answers += [_answer(lambda: dynamodb.put_item(TableName="runs", Item={"pk": {"S": "a"}})),
                    _answer(lambda: dynamodb.get_item(TableName="runs", Key={"pk": {"S": "a"}})),
                    _answer(lambda: dynamodb.get_item(TableName="none", Key={"pk": {"S": "a"}})),
                    _answer(lambda: s3.create_bucket(Bucket="bucket-one")["Location"]),
                    _answer(lambda: s3.put_object(Bucket="bucket-one", Key="a b", Body=b"x",
                                                  Metadata={"Owner": "me"})["ETag"]),
                    _answer(lambda: s3.head_object(Bucket="bucket-one", Key="a b")["Metadata"]),
                    _answer(lambda: s3.get_object(Bucket="bucket-none", Key="k")),
                    _answer(lambda: sqs.create_queue(QueueName="q")["QueueUrl"]),
                    _answer(lambda: sqs.get_queue_url(QueueName="none"))]
        return [answers, sent]

    with mock_aws():
        plain = scenario()
    with mock_aws(), speedups():
        fast = scenario()
    assert fast == plain
    assert len(plain[1]) == 10 and any("error" in answer for answer in plain[0])


class _Headers(HeadersDict):
    """A HeadersDict reading its items its own way: `in` and `get` ask it, as the Mapping methods do."""

    def __getitem__(self, name: Any) -> Any:
        return f"own {name}"


def _listed_items(headers: HeadersDict) -> list[Any]:
    return list(headers.items())


def _copied_items(headers: HeadersDict) -> list[Any]:
    return list(headers.copy().items())


def _equals_its_copy(headers: HeadersDict) -> bool:
    return headers == HeadersDict(headers.items())


def _headers_dict_answers() -> list[Any]:
    """What HeadersDicts built every way answer to writes, reads, tests, deletions (case-insensitive, the first
    spelling kept), names of other types and refused ones."""
    answers: list[Any] = []
    for made in (lambda: HeadersDict([("Content-Type", "a"), ("content-type", "b"), ("X-Amz-Date", "c")]),
                 lambda: HeadersDict({"Host": "h", "HOST": "i"}), lambda: HeadersDict(Host="h", Accept="*/*"),
                 lambda: HeadersDict(pair for pair in [("A", "1"), ("a", "2")]), lambda: HeadersDict(),
                 lambda: HeadersDict([("A", "1")], B="2"), lambda: HeadersDict([("A", "1", "extra")]),
                 lambda: HeadersDict([3]), lambda: HeadersDict([(b"Bytes", "1")])):
        headers = _answer(made)
        if not isinstance(headers, HeadersDict):
            answers.append(headers)
            continue
        answers.append(_answer(_listed_items, headers))  # a name not text cannot be listed
        for name in ("content-type", "CONTENT-TYPE", "Host", "Transfer-Encoding", "a", b"bytes", 3, None, ["a"]):
            answers += [_answer(headers.__getitem__, name), _answer(headers.__contains__, name),
                        _answer(headers.get, name), _answer(headers.get, name, 0)]
        headers["User-Agent"], headers["user-agent"], headers[b"X"] = "u", "v", "x"
        answers += [_answer(headers.__delitem__, "HOST"), _answer(headers.__delitem__, "Host"),
                    _answer(headers.__setitem__, 7, "n"), len(headers), repr(headers), _answer(list, headers),
                    _answer(_copied_items, headers), _answer(_equals_its_copy, headers)]
    own = _Headers([("A", "1")])
    answers += [own["A"], "A" in own, "B" in own, own.get("B"), list(own.items())]
    return answers


def test_header_dicts_answer_as_botocore_s() -> None:
    """Given HeadersDicts built from lists, dicts, keywords and generators of pairs, and refused pairs, when they are
    written, read, tested, deleted and copied with names in several cases and of other types, under `speedups()`
    and without, then every answer and error is botocore's, a subclass's own reads included."""
    plain = _headers_dict_answers()
    with speedups():
        fast = _headers_dict_answers()
        kept = len(moto_speedups._header_keys)
    assert fast == plain
    assert kept > 0 and any(isinstance(answer, dict) and "error" in answer for answer in plain)


def _message_answers() -> list[Any]:
    """A request's headers (botocore's HTTPHeaders) listed and read, of ASCII, non-ASCII text, text with surrogates
    (a Header object), non-text values, and the same under another email policy."""
    answers: list[Any] = []
    for policy in (None, email.policy.default):
        headers = HTTPHeaders() if policy is None else HTTPHeaders(policy=policy)
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["X-Note"] = "café"
        headers["X-Raw"] = "bad \udce9 byte" if policy is None else "plain"
        headers["X-Header"] = Header("header object") if policy is None else "text"
        headers["x-note"] = "twice"
        headers.set_raw("X-Set-Raw", "stored as it is")  # plain text whatever the policy
        answers.append([(name, str(value), type(value).__name__) for name, value in headers.items()])
        for name in ("content-type", "X-NOTE", "x-raw", "X-Header", "x-set-raw", "missing"):
            answers += [(str(headers.get(name)), type(headers.get(name)).__name__), str(headers.get(name, "no")),
                        str(_answer(headers.__getitem__, name))]
    return answers


def test_request_headers_are_listed_and_read_as_the_email_package_does() -> None:
    """Given request headers of ASCII and non-ASCII text, text with surrogates and a Header object, under the
    compat32 policy botocore's have and under another, when they are listed and read under `speedups()` and
    without, then each value (and its type) is the email package's."""
    plain = _message_answers()
    with speedups():
        fast = _message_answers()
    assert fast == plain
    assert plain[0][2][2] == "Header"  # the text with a surrogate


class _RawBody(io.BytesIO):
    """What AWSResponse reads a body from: a stream of it."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class _Clock:
    """The adaptive mode's clock, virtual: time moves a second at each reading and by what is slept, so its rate
    limiter's bucket (which waits on a condition, not `time.sleep`) finds a token without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, amount: float) -> None:
        self.now += amount

    def current_time(self) -> float:
        self.now += 1.0
        return self.now


class _Checker:
    """A retry checker answering a fixed value (or raising), recording that it was asked."""

    def __init__(self, answer: Any, asked: list[Any]) -> None:
        self.answer, self.asked = answer, asked

    def is_retryable(self, context: Any) -> Any:
        self.asked.append(self.answer)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _or_checker_answers() -> list[Any]:
    answers = []
    for values in ([], [None], [0, "", None], [0, 1, 2], [None, "yes", ValueError("late")], [ValueError("first"), 1]):
        asked: list[Any] = []
        checker = OrRetryChecker([_Checker(value, asked) for value in values])
        answers.append((_answer(checker.is_retryable, {}), [repr(value) for value in asked]))
    return answers


def _retried_calls() -> list[Any]:
    """Calls of clients in botocore's standard and adaptive modes answered with throttling, server errors, a
    modeled retryable error, a DynamoDB checksum mismatch and success in turn: the attempts each makes, its result
    or error, and the delays it sleeps."""
    answers: list[Any] = []
    wire = {"throttled": (400, b'{"__type": "ThrottlingException", "message": "slow down"}'),
            "server": (500, b'{"__type": "InternalServerError", "message": "oops"}'),
            "unavailable": (503, b""),
            "limit": (400, b'{"__type": "LimitExceededException", "message": "limit"}'),
            "ok": (200, b'{"TableNames": ["runs"]}')}
    scripts = [["ok"], ["throttled", "ok"], ["server", "unavailable", "ok"], ["limit", "ok"], ["crc", "ok"],
               ["throttled"] * 5]
    for mode in ("standard", "adaptive", "legacy"):
        for script in scripts:
            with mock.patch("botocore.retries.bucket.Clock", _Clock):
                client = boto3.client("dynamodb", region_name=REGION,
                                      config=Config(retries={"mode": mode, "max_attempts": 4}))
            sent: list[str] = []

            def answer(request: Any, script: list[str] = script, sent: list[str] = sent, **_: Any) -> Any:
                step = script[min(len(sent), len(script) - 1)]
                sent.append(step)
                status, body = wire.get(step, wire["ok"])
                headers = {"x-amz-crc32": "1" if step == "crc" else str(zlib.crc32(body))}
                return AWSResponse(request.url, status, headers, _RawBody(body))

            client.meta.events.register_first("before-send.dynamodb", answer)
            slept: list[float] = []
            with mock.patch("time.sleep", slept.append), mock.patch("random.random", return_value=0.5):
                result = _answer(client.list_tables)
            limiters = [handler.__self__ for handler in client.meta.events._emitter._handlers.prefix_search(
                "needs-retry.dynamodb.ListTables") if isinstance(getattr(handler, "__self__", None), ClientRateLimiter)]
            rates = [(limiter._token_bucket.max_rate, limiter._rate_clocker.measured_rate) for limiter in limiters]
            answers.append((mode, script, sent, result, len(slept), sum(slept) > 0, rates))
    return answers


def test_retries_ask_the_same_checks_and_retry_as_botocore_does() -> None:
    """Given retry checkers answering yes, no or raising in every order, and clients in botocore's standard, adaptive
    and legacy modes whose calls are throttled, fail, are refused with a retryable error or a checksum mismatch,
    then succeed, when they run under `speedups()` and without, then the same checkers are asked and answer the
    same, and every call makes the same attempts, sleeps as often and ends the same."""
    plain = _or_checker_answers(), _retried_calls()
    with speedups():
        fast = _or_checker_answers(), _retried_calls()
    assert fast == plain
    attempts = [len(sent) for _mode, _script, sent, *_ in plain[1]]
    assert any(rates for *_, rates in plain[1])  # the adaptive clients' rate limiters
    assert max(attempts) == 5 and min(attempts) == 1 and 2 in attempts  # 4 retries at most


def _invocation_ids() -> list[Any]:
    """The invocation ids of calls (botocore draws one per call from `os.urandom`, here a seeded source), and the
    ids of the bytes that set every bit, none, and only the version's and the variant's."""
    source = random.Random(7)
    with mock.patch("os.urandom", source.randbytes):
        ids: list[Any] = []
        client = boto3.client("sqs", region_name=REGION)
        client.meta.events.register_first(
            "before-send", lambda request, **_: ids.append(request.headers["amz-sdk-invocation-id"]))
        for _ in range(3):
            client.list_queues()
    for fixed in (b"\xff" * 16, b"\x00" * 16, bytes([0, 0, 0, 0, 0, 0, 0xF0, 0, 0xC0] + [0] * 7)):
        with mock.patch("os.urandom", lambda size, fixed=fixed: fixed[:size]):
            ids.append(str(botocore_endpoint.uuid.uuid4()))
    ids.append(f"{source.random()}")  # as many bytes drawn
    return ids


def test_invocation_ids_are_drawn_as_uuid4_draws_them() -> None:
    """Given calls whose invocation ids are drawn from a seeded byte source, and bytes with every bit set, none, and
    only the version's and the variant's, when botocore draws the ids under plain moto and under `speedups()`,
    then each id is uuid4's text for the same bytes, as many bytes drawn; and a test's own `uuid4` still serves."""
    # each block's second pass: whatever draws from os.urandom on a block's first calls (moto's backends) has drawn
    with mock_aws():
        plain = [_invocation_ids() for _ in range(2)][1]
    with mock_aws(), speedups():
        fast = [_invocation_ids() for _ in range(2)][1]
        with mock.patch("uuid.uuid4", lambda: "replaced"):
            replaced = botocore_endpoint.uuid.uuid4()
    assert fast == plain
    assert len(set(plain[:3])) == 3 and plain[3] == "ffffffff-ffff-4fff-bfff-ffffffffffff"
    assert replaced == "replaced"


def _trace_headers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The trace header botocore's recursion detection adds to a call in and out of a Lambda function (both
    variables set, one, none, an empty trace id, one needing quoting, an `os.environ` replaced by a test), and what
    botocore.handlers' `os.environ` answers to `in` and `get` for names set, unset and not text."""
    sent: list[Any] = []
    client = boto3.client("sqs", region_name=REGION)
    client.meta.events.register_first("before-send", lambda request, **_: sent.append(
        request.headers.get("X-Amzn-Trace-Id")))
    environments = [{"AWS_LAMBDA_FUNCTION_NAME": "fn", "_X_AMZN_TRACE_ID": "Root=1-abc;Parent=2"},
                    {"AWS_LAMBDA_FUNCTION_NAME": "fn"}, {"_X_AMZN_TRACE_ID": "Root=1"}, {},
                    {"AWS_LAMBDA_FUNCTION_NAME": "fn", "_X_AMZN_TRACE_ID": ""},
                    {"AWS_LAMBDA_FUNCTION_NAME": "", "_X_AMZN_TRACE_ID": "Root=1 x/é"}]
    answers: list[Any] = []
    for environment in environments:
        with monkeypatch.context() as patched:
            for name in ("AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID"):
                patched.delenv(name, raising=False)
            for name, value in environment.items():
                patched.setenv(name, value)
            client.list_queues()
            environ = botocore_handlers.os.environ
            for read in ("AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID", 3):
                answers += [_answer(environ.__contains__, read), _answer(environ.get, read),
                            _answer(environ.get, read, "none")]
    with mock.patch("os.environ", {"AWS_LAMBDA_FUNCTION_NAME": "fn", "_X_AMZN_TRACE_ID": "Root=replaced"}):
        client.list_queues()
    return [sent, answers]


def test_the_trace_header_is_botocore_s_in_and_out_of_a_lambda_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given calls made with and without a Lambda function's variables (one, both, empty, needing quoting, and an
    `os.environ` a test replaced), when botocore adds its recursion-detection header under plain moto and under
    `speedups()`, then each call carries botocore's header or none, and the environment's reads answer the same."""
    with mock_aws():
        plain = _trace_headers(monkeypatch)
    with mock_aws(), speedups():
        fast = _trace_headers(monkeypatch)
    assert fast == plain
    assert plain[0][0] == b"Root=1-abc;Parent=2" and plain[0][-1] == b"Root=replaced" and None in plain[0]
