"""Contract tests of more per-call client fast paths in sandbox/moto_speedups.py (botocore's side of every API call:
parameter validation planned per shape, JSON request members written per shape, the event emitter, the User-Agent's
features): each answers as the botocore code it replaces, on the same inputs, with and without `speedups()`, errors
included."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore import parsers as botocore_parsers
from botocore import serialize as botocore_serialize
from botocore import useragent as botocore_useragent
from botocore.config import Config
from botocore.context import get_context, start_as_current_context
from botocore.exceptions import ParamValidationError
from botocore.hooks import EventAliaser, HierarchicalEmitter
from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from moto import mock_aws

from sandbox.moto_speedups import speedups

REGION = "us-east-1"
# a model of every kind of shape botocore validates and serializes: minimums on strings, host labels, numbers and
# lists, required members, recursion, a tagged union, a document, a JSON-value header, an enum (not validated)
SHAPES: dict[str, Any] = {
    "Input": {"type": "structure", "required": ["Name"], "members": {
        "Name": {"shape": "Name"}, "Host": {"shape": "Plain", "hostLabel": True}, "Count": {"shape": "Count"},
        "Big": {"shape": "Long"}, "Ratio": {"shape": "Ratio"}, "Weight": {"shape": "Float"},
        "Flag": {"shape": "Flag"}, "Data": {"shape": "Data"}, "When": {"shape": "When"},
        "Names": {"shape": "Names"}, "Strict": {"shape": "StrictNames"}, "Ints": {"shape": "Ints"},
        "Tags": {"shape": "Tags"}, "Nested": {"shape": "Input"}, "Choice": {"shape": "Choice"},
        "Doc": {"shape": "Doc"}, "Kind": {"shape": "Kind"}, "Renamed": {"shape": "Plain", "locationName": "renamed"},
        "Items": {"shape": "ItemList"}}},
    "Name": {"type": "string", "min": 3}, "Plain": {"type": "string"}, "Count": {"type": "integer", "min": 1},
    "Long": {"type": "long"}, "Ratio": {"type": "double", "min": 0.5}, "Float": {"type": "float"},
    "Flag": {"type": "boolean"}, "Data": {"type": "blob"}, "When": {"type": "timestamp"},
    "Names": {"type": "list", "min": 1, "member": {"shape": "Plain"}},
    "StrictNames": {"type": "list", "member": {"shape": "Name"}},
    "Ints": {"type": "list", "member": {"shape": "Count"}},
    "Tags": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Plain"}},
    "Choice": {"type": "structure", "union": True, "members": {"A": {"shape": "Plain"}, "B": {"shape": "Count"}}},
    "Doc": {"type": "structure", "document": True, "members": {}},
    "Kind": {"type": "string", "enum": ["ONE", "TWO"]},
    "ItemList": {"type": "list", "member": {"shape": "Item"}},
    "Item": {"type": "structure", "members": {"Id": {"shape": "Plain"}, "At": {"shape": "When"}}},
    "HeaderInput": {"type": "structure", "members": {
        "Attrs": {"shape": "Plain", "jsonvalue": True, "location": "header", "locationName": "x-attrs"}}},
}


def _model(protocol: str) -> ServiceModel:
    return ServiceModel({
        "metadata": {"protocol": protocol, "jsonVersion": "1.0", "targetPrefix": "Svc", "apiVersion": "2020-01-01",
                     "endpointPrefix": "svc", "serviceId": "Svc", "signatureVersion": "v4"},
        "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "Input"}},
                       "Head": {"name": "Head", "http": {"method": "POST", "requestUri": "/"},
                                "input": {"shape": "HeaderInput"}}},
        "shapes": SHAPES}, "svc")


class _Readable:
    def read(self) -> bytes:
        return b""


class _Unserializable:
    def __repr__(self) -> str:
        return "<unserializable>"


WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
VALID: list[dict[str, Any]] = [
    {"Name": "abc"},
    {"Name": "abcd", "Host": "h", "Count": 1, "Big": 2**40, "Ratio": 0.5, "Weight": 1, "Flag": False, "Data": b"x",
     "When": WHEN, "Names": ["a", ""], "Strict": ("abc",), "Ints": [1, True], "Tags": {"key": "v"},
     "Nested": {"Name": "xyz", "Nested": {"Name": "uvw", "Names": ["n"]}}, "Choice": {"B": 3},
     "Doc": {"any": [1, "two", {"three": None}]}, "Kind": "BOGUS", "Renamed": "r",
     "Items": [{"Id": "1", "At": "2026-01-02T03:04:05Z"}, {"At": 1700000000}]},
    {"Name": "abc", "Ratio": decimal.Decimal("0.75"), "Weight": 2.5, "Data": bytearray(b"y"), "Choice": {"A": ""}},
    {"Name": "abc", "Data": "text", "When": "2026-01-02", "Doc": None, "Ratio": float("nan")},
    {"Name": "abc", "Data": _Readable(), "Names": ("a",), "Tags": {}},
]
INVALID: list[Any] = [
    {}, {"Name": "ab"}, {"Name": 3}, {"Name": None}, {"Name": "abc", "Unknown": 1, "Other": 2},
    {"Name": "abc", "Host": ""}, {"Name": "abc", "Count": 0}, {"Name": "abc", "Count": "1"},
    {"Name": "abc", "Count": 1.0}, {"Name": "abc", "Big": "2"}, {"Name": "abc", "Ratio": 0.25},
    {"Name": "abc", "Ratio": "1"}, {"Name": "abc", "Weight": None}, {"Name": "abc", "Flag": 1},
    {"Name": "abc", "Data": 5}, {"Name": "abc", "When": "not a time"}, {"Name": "abc", "When": 2**80},
    {"Name": "abc", "Names": []}, {"Name": "abc", "Names": "abc"}, {"Name": "abc", "Names": ["a", 2, None]},
    {"Name": "abc", "Strict": ["ab", "abc", 3]}, {"Name": "abc", "Ints": [1, 0, "2"]},
    {"Name": "abc", "Tags": {"k": "v", "key": 1}}, {"Name": "abc", "Tags": [("key", "v")]},
    {"Name": "abc", "Nested": {"Names": ["n"]}}, {"Name": "abc", "Nested": {"Name": "xyz", "Nested": {"Name": 1}}},
    {"Name": "abc", "Choice": {}}, {"Name": "abc", "Choice": {"A": "a", "B": 1}}, {"Name": "abc", "Choice": {"C": 1}},
    {"Name": "abc", "Doc": {"a": {1, 2}}}, {"Name": "abc", "Items": [{"Id": 1}, "item"]},
    {"Name": "abc", "Items": [{"At": object}]}, ["Name"], "abc", None,
]


def _report(validate: Callable[[Any, Any], Any], params: Any, shape: Any) -> Any:
    try:
        report = validate(params, shape)
    except Exception as error:  # errors are part of the contract
        return {"error": type(error).__name__, "message": str(error)}
    return report.has_errors(), report.generate_report()


def _validation_reports() -> list[Any]:
    """What botocore's validator reports for valid and invalid inputs of every kind of shape, twice each (the second
    from what the first planned), of a JSON-value header, and of a subclass of the validator."""
    model = _model("json")
    shape, header = model.operation_model("Op").input_shape, model.operation_model("Head").input_shape
    validator = ParamValidator()
    reports = [_report(validator.validate, params, shape) for _ in range(2) for params in (*VALID, *INVALID)]
    for attrs in ({"a": [1, "b"]}, {"a": _Unserializable()}, None):
        reports.append(_report(validator.validate, {"Attrs": attrs}, header))

    class Lenient(ParamValidator):
        def _validate_string(self, *_: Any) -> None:
            pass

    reports += [_report(Lenient().validate, params, shape) for params in INVALID[:4]]
    return reports


def test_parameter_validation_reports_botocore_s_errors_for_every_kind_of_shape() -> None:
    """Given valid and invalid inputs of every kind of shape botocore validates (strings, host labels, numbers,
    booleans, blobs, timestamps, lists, maps, nested and recursive structures, tagged unions, documents, a JSON-value
    header, an enum), when botocore's validator checks them under `speedups()` and without, then each report (its
    errors, their order and their text) is botocore's, a validator subclass's included."""
    plain = _validation_reports()
    with speedups():
        fast = _validation_reports()
    assert fast == plain
    reports = len(VALID) + len(INVALID)
    assert not any(has_errors for has_errors, _ in plain[:len(VALID)])
    assert all(has_errors for has_errors, _ in plain[len(VALID):reports])
    assert any("Missing required parameter" in text for _, text in plain[len(VALID):reports])


def _dynamodb_calls() -> list[Any]:
    """DynamoDB calls with valid and refused parameters (AttributeValues in wire form, binary, of unknown or
    ill-typed members, missing required members, a bad enum value moto refuses), with their answers or errors."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(TableName="runs", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    calls: list[Callable[[], Any]] = [
        lambda: client.put_item(TableName="runs", Item={"pk": {"S": "a"}, "m": {"M": {"l": {"L": [{"N": "1"}]}}},
                                                        "b": {"B": b"\x00"}, "s": {"SS": ["x"]}}),
        lambda: client.put_item(TableName="runs", Item={"pk": {"S": 1}}),
        lambda: client.put_item(TableName="runs", Item={"pk": {"X": "a"}}),
        lambda: client.put_item(TableName="runs", Item={"pk": "a"}),
        lambda: client.put_item(Item={"pk": {"S": "a"}}),
        lambda: client.put_item(TableName="runs", Item={"pk": {"S": "a"}}, ReturnValues="BOGUS"),
        lambda: client.update_item(TableName="runs", Key={"pk": {"S": "a"}}, UpdateExpression="SET #n = :v",
                                   ExpressionAttributeNames={"#n": "n"}, ExpressionAttributeValues={":v": {"N": "2"}},
                                   ReturnValues="ALL_NEW"),
        lambda: client.batch_write_item(RequestItems={"runs": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}},
                                                               {"DeleteRequest": {}}]}),
        lambda: client.transact_write_items(TransactItems=[{"Put": {"TableName": "runs", "Item": {"pk": {"S": "c"}}}},
                                                           {"Update": {"TableName": "runs"}}]),
        lambda: client.query(TableName="runs", KeyConditionExpression="pk = :p", Limit=0,
                             ExpressionAttributeValues={":p": {"S": "a"}}),
        lambda: client.query(TableName="runs", KeyConditionExpression="pk = :p", Limit=5,
                             ExpressionAttributeValues={":p": {"S": "a"}}),
    ]
    answers = []
    for call in calls:
        try:
            answer = call()
            answer.pop("ResponseMetadata", None)
            answers.append(answer)
        except Exception as error:  # errors are part of the contract
            answers.append({"error": type(error).__name__, "message": str(error)})
    return answers


def test_calls_are_validated_and_answered_as_botocore_does() -> None:
    """Given DynamoDB calls with valid parameters and with ill-typed, unknown, missing and out-of-range ones, when they
    are made under plain moto and under `speedups()`, then each answer or error (its message) is the same."""
    with mock_aws():
        plain = _dynamodb_calls()
    with mock_aws(), speedups():
        fast = _dynamodb_calls()
    assert fast == plain
    assert sum(isinstance(answer, dict) and answer.get("error") == "ParamValidationError" for answer in plain) >= 5


class _OwnDispatch(botocore_serialize.JSONSerializer):
    """A JSON serializer dispatching members its own way: botocore's walk."""

    def _serialize(self, serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        if shape.type_name == "string":
            serialized[key] = f"own {value}"
            return
        super()._serialize(serialized, value, shape, key)


def _serialized_requests() -> list[Any]:
    """The requests botocore's JSON and REST-JSON serializers (without validation) make of inputs of every kind, of
    a member no shape has, and a serializer class dispatching its own way."""
    answers: list[Any] = []
    for protocol in ("json", "rest-json"):
        model = _model(protocol)
        operation = model.operation_model("Op")
        serializers = [botocore_serialize.create_serializer(protocol, include_validation=False)]
        if protocol == "json":
            serializers.append(_OwnDispatch())
        for serializer in serializers:
            for params in (*VALID[:3], {"Name": "abc", "Unknown": 1}, {"Name": "abc", "Nested": "text"}):
                try:
                    request = serializer.serialize_to_request(params, operation)
                    answers.append({name: request[name] for name in ("method", "headers", "body", "url_path")})
                except Exception as error:  # errors are part of the contract
                    answers.append({"error": type(error).__name__, "message": str(error)})
    return answers


def test_json_requests_are_serialized_as_botocore_serializes_them() -> None:
    """Given inputs of every kind of member (renamed ones, numbers written as they are, floats and Decimals, blobs in
    base64, timestamps, nested structures, lists of structures, maps, unions, documents), one naming a member no shape
    has and one with a structure's value not a dict, when botocore's JSON and REST-JSON serializers and one of its
    own dispatch write them under `speedups()` and without, then every request and error is botocore's."""
    plain = _serialized_requests()
    with speedups():
        fast = _serialized_requests()
    assert fast == plain
    assert any("error" in answer for answer in plain) and b'"renamed": "r"' in plain[1]["body"]


class _OwnEmit(HierarchicalEmitter):
    """An emitter whose `emit` adds an argument: asked by the aliaser."""

    def emit(self, event_name: str, **kwargs: Any) -> Any:
        return super().emit(event_name, added=True, **kwargs)


def _emitted(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """What handlers receive and answer for events emitted to all handlers and until a response, through an aliaser
    (renamed events) and directly, with nothing listening, a handler raising, and the debug lines logged (with the
    botocore.hooks logger at the DEBUG level and not)."""
    seen: list[Any] = []

    def handler(name: str, answer: Any) -> Callable[..., Any]:
        def handle(**kwargs: Any) -> Any:
            seen.append((name, sorted(kwargs.items())))
            if answer == "raise":
                raise ValueError(f"{name} refused")
            return answer
        handle.__qualname__ = name
        return handle

    answers: list[Any] = []
    for emitter in (HierarchicalEmitter(), _OwnEmit()):
        for event, name, answer in (("before-call", "general", None), ("before-call.s3", "service", "s3 answer"),
                                    ("before-call.s3.GetObject", "operation", None),
                                    ("before-call.api-gateway.GetRestApi", "renamed", "api"),
                                    ("failing.event", "refuser", "raise")):
            emitter.register(event, handler(name, answer))
        aliaser = EventAliaser(emitter)
        for level in (logging.DEBUG, logging.INFO):
            logging.getLogger("botocore.hooks").setLevel(level)
            caplog.clear()
            for emit in (aliaser.emit, aliaser.emit_until_response, emitter.emit, emitter.emit_until_response):
                for event in ("before-call.s3.GetObject", "before-call.apigateway.GetRestApi", "nothing.here",
                              "failing.event", "before-call.s3.GetObject"):
                    try:
                        result = emit(event, value=1)
                        answers.append([(getattr(h, "__qualname__", h), r) for h, r in result]
                                       if isinstance(result, list) else (getattr(result[0], "__qualname__", None),
                                                                         result[1]))
                    except ValueError as error:
                        answers.append(str(error))
            # not the line botocore logs when an aliaser first renames an event: `speedups()` shares the renamed
            # names (see `_aliaser_init`), so a new aliaser may find a name already renamed
            answers.append([(record.name, record.levelname, record.getMessage().split(" at 0x")[0])
                            for record in caplog.records if not record.getMessage().startswith("Changing event name")])
    answers.append(seen)
    return answers


def test_events_reach_the_same_handlers_with_the_same_answers_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Given handlers registered on events of several levels, one renamed by botocore's aliases and one raising, when
    events are emitted to every handler and until the first response, through an aliaser and directly, of
    botocore's emitter and of one with its own `emit`, with debug logging on and off, under `speedups()` and
    without, then the same handlers get the same arguments and give the same answers, and the same lines are
    logged."""
    caplog.set_level(logging.DEBUG, logger="botocore.hooks")
    try:
        plain = _emitted(caplog)
        with speedups():
            fast = _emitted(caplog)
    finally:
        logging.getLogger("botocore.hooks").setLevel(logging.NOTSET)
    assert fast == plain
    assert any(lines for lines in plain if isinstance(lines, list) and lines and isinstance(lines[0], tuple)
               and len(lines[0]) == 3)


def _user_agents() -> list[Any]:
    """The User-Agent of clients of several configurations (retry modes, an app id, extra text, a legacy override),
    in and out of a call context holding features (ones needing sanitizing, enough to be truncated)."""
    answers: list[Any] = []
    configs = [None, Config(retries={"mode": "adaptive"}), Config(user_agent_appid="my app#1"),
               Config(user_agent_extra="extra/1"), Config(user_agent="legacy/1.0", user_agent_extra="more")]
    for config in configs:
        # a session of its own: a session records how it found the credentials (a feature) the first time
        client = boto3.Session().client("sqs", region_name=REGION, config=config)
        user_agent = client._client_config.user_agent  # the client's UserAgentString is kept on the serializer's
        agent = next(handler.__self__ for handler in client.meta.events._emitter._handlers.prefix_search(
            "request-created.sqs.ListQueues") if getattr(handler, "__name__", "") ==
            "rebuild_and_replace_user_agent_handler")
        answers.append((user_agent, agent.to_string()))
        for features in ([], ["E"], ["A", "b c", "é/#"], ["x" * 600, "y" * 600], ["z" * 2000]):
            with start_as_current_context():
                get_context().features.update(features)
                answers += [agent.to_string(), agent.to_string()]
        agent.set_client_features({"F", "G"})
        answers.append(agent.to_string())
    return answers


def test_user_agents_are_botocore_s_with_every_feature_and_configuration() -> None:
    """Given clients with and without retry modes, an app id, extra text and a legacy override, when their User-Agent
    is built in call contexts holding no features, some needing sanitizing, and enough to be truncated, under
    `speedups()` and without, then every User-Agent is botocore's."""
    plain = _user_agents()
    with speedups():
        fast = _user_agents()
    assert fast == plain
    assert any(isinstance(answer, str) and " m/" in answer for answer in plain)
    assert botocore_useragent.modify_components is botocore_useragent._default_modify_components


def test_requests_carry_botocore_s_user_agent_and_body() -> None:
    """Given calls of a JSON service through a client, when they are sent under plain moto and under `speedups()`,
    then each carries botocore's User-Agent header and body."""

    def scenario() -> list[Any]:
        sent: list[Any] = []
        client = boto3.client("logs", region_name=REGION, config=Config(retries={"mode": "adaptive"}))
        client.meta.events.register_first("before-send", lambda request, **_: sent.append(
            (request.headers["User-Agent"], request.body)))
        client.create_log_group(logGroupName="g")
        client.create_log_stream(logGroupName="g", logStreamName="s")
        client.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}])
        with pytest.raises(ParamValidationError):
            client.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": "1"}])
        return sent

    with mock_aws():
        plain = scenario()
    with mock_aws(), speedups():
        fast = scenario()
    assert fast == plain and len(plain) == 3
    assert io.BytesIO(plain[2][1]).read().startswith(b"{")


class _OwnParse(botocore_parsers.JSONParser):
    """A JSON parser dispatching members its own way: botocore's walk."""

    def _parse_shape(self, shape: Any, node: Any) -> Any:
        if shape.type_name == "string":
            return f"own {node}"
        return super()._parse_shape(shape, node)


ANSWERS: list[Any] = [
    {"Name": "abc", "renamed": "r", "Renamed": "not read", "Count": 3, "Big": 2**40, "Ratio": 0.5, "Weight": 1.5,
     "Flag": True, "Data": "eA==", "When": 1700000000, "Names": ["a", None], "Ints": [1], "Tags": {"k": "v"},
     "Nested": {"Name": "x", "Nested": {"Name": "y", "Flag": False}, "Items": []}, "Choice": {"A": "a"},
     "Doc": {"any": [1, None]}, "Items": [{"Id": "1", "At": "2026-01-02T03:04:05Z"}, {}], "Unknown": 1, "Kind": "NEW"},
    {"Name": None, "Nested": None, "Choice": {"Z": 1}}, {"Choice": {"A": "a", "B": 1}}, {"Nested": "text"},
    {"Items": ["text"]}, {},
]


def _parsed_answers() -> list[Any]:
    """What botocore's JSON and REST-JSON parsers (and one of its own dispatch) make of answers holding members of
    every kind, null ones, unknown ones, a tagged union's unknown member, and ill-formed ones."""
    answers: list[Any] = []
    for protocol in ("json", "rest-json"):
        shape = _model(protocol).operation_model("Op").input_shape  # every kind of member, as an answer's
        parsers = [botocore_parsers.create_parser(protocol)] + ([_OwnParse()] if protocol == "json" else [])
        for parser in parsers:
            for answer in ANSWERS:
                try:
                    answers.append(parser.parse({"status_code": 200, "headers": {},
                                                 "body": json.dumps(answer).encode()}, shape))
                except Exception as error:  # errors are part of the contract
                    answers.append({"error": type(error).__name__, "message": str(error)})
    return answers


def test_json_answers_are_parsed_as_botocore_parses_them() -> None:
    """Given answers holding members of every kind (renamed, numbers, floats, booleans, blobs, timestamps, lists with
    nulls, maps, nested and recursive structures, a tagged union, a document, an enum value the model does not
    list), null, unknown and ill-formed members, when botocore's JSON and REST-JSON parsers and one of its own
    dispatch read them under `speedups()` and without, then every result and error is botocore's."""
    plain = _parsed_answers()
    with speedups():
        fast = _parsed_answers()
    assert fast == plain
    assert plain[0]["Name"] == "abc" and plain[0]["Renamed"] == "r" and isinstance(plain[0]["When"], datetime.datetime)
    assert any("error" in answer for answer in plain)
