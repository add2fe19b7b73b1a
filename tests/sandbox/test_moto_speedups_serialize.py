"""Contract tests of the structure walks in sandbox/moto_speedups.py: moto's serializers write the same answers
(body, headers, status, or the same error) with and without `speedups()` (`_walk_structure`), and its JSON request
parser reads the same parameters (`_walk_json_input`), for results and requests of every operation of the services
the sandbox serves, filled member by member with values of every kind."""

from __future__ import annotations

import enum
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore import xform_name
from moto.core.parse import JSONParser, XFormedDict
from moto.core.serialize import (
    AttributePicker,
    DefaultAttributePicker,
    JSONSerializer,
    ResponseSerializer,
    XFormedAttributePicker,
    get_serializer_class,
)
from moto.core.utils import get_service_model

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups


class _Colour(enum.Enum):
    RED = "red"


class _Text(str):
    pass


class _Meta(dict[str, Any]):
    """A dict subclass (moto's alias providers read its class and `Meta`): the walk leaves it to moto."""

    class Meta:
        serialization_aliases = {"TableName": "name"}


# values a result may hold for each shape type: the exact types moto hands on unchanged, and others it converts
# (or refuses): enums, str subclasses, numbers as text, booleans where numbers belong
SCALARS: dict[str, list[Any]] = {
    "string": ["text", "", _Colour.RED, _Text("sub"), 7, True, {}, []],
    "integer": [3, "4", True, 2.0, 0],
    "long": [2**40, "5", False, "five"],
    "float": [1.5, 2, "2.5", 0.0],
    "double": [0.25, 3, "1e3"],
    "boolean": [True, False, "true", 0],
    "timestamp": [datetime(2026, 12, 4, 10, 0, 1, 500, tzinfo=UTC), 1764842400, "2026-12-04T10:00:00Z"],
    "blob": [b"\x00bytes", "text"],
}


def _sample(shape: Any, seed: itertools.count[int], depth: int = 0) -> Any:
    """A value for `shape`: a structure as a dict whose members go by their own names, their snake-case names,
    both, or are missing or None, in turn; lists of two, maps of one; scalars drawn in turn from SCALARS."""
    n = next(seed)
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return None if n % 2 else {}
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            turn = next(seed) % 5
            if turn == 4:
                continue
            if turn == 2:  # under both names (the snake-case one first): moto takes its own name's
                out[xform_name(name)] = _sample(member, seed, depth + 1)
            key = xform_name(name) if turn == 1 else name
            out[key] = None if turn == 3 else _sample(member, seed, depth + 1)
        return out
    if kind == "list":
        return [_sample(shape.member, seed, depth + 1) for _ in range(2)]
    if kind == "map":
        return {f"k{n}": _sample(shape.value, seed, depth + 1)}
    values = SCALARS.get(kind, ["other"])
    return values[n % len(values)]


# (service, a protocol moto answers it in): JSON, query XML (SQS's own, EC2's with renamed members), query JSON, REST
SERVICES = [("dynamodb", "json"), ("sqs", "json"), ("events", "json"), ("sns", "query"), ("sqs", "query"),
            ("cloudwatch", "query-json"), ("lambda", "rest-json"), ("s3", "rest-xml")]
PICKERS = {"xformed": XFormedAttributePicker, "plain-aliases": AttributePicker, "default": DefaultAttributePicker,
           "transformers": lambda: XFormedAttributePicker(response_transformers={"TableName": lambda v: f"<{v}>"})}


def _serialized(service: str, protocol: str, picker: str, seeds: range,
                serializer_class: type[ResponseSerializer] | None = None) -> list[Any]:
    """moto's serialization of sampled results of every operation of the service with an output shape."""
    service_model = get_service_model(service)
    serializer_class = serializer_class or get_serializer_class(service, protocol)
    out: list[Any] = []
    for operation_name in service_model.operation_names:
        operation = service_model.operation_model(operation_name)
        if operation.output_shape is None or operation.has_event_stream_output:
            continue
        for seed in seeds:
            result = _sample(operation.output_shape, itertools.count(seed))
            if seed % 4 == 3 and isinstance(result, dict):
                result = _Meta(result)
            serializer = serializer_class(operation_model=operation, value_picker=PICKERS[picker]())
            try:
                answer = serializer.serialize(result)
                out.append((operation_name, answer["status_code"], dict(answer["headers"]), answer["body"]))
            except Exception as error:  # moto's refusals (e.g. int("text")) are part of the contract
                out.append((operation_name, type(error).__name__, str(error)))
    return out


# every service with moto's own picker; DynamoDB's answers with every other picker too
SERIALIZER_CASES = [(service, protocol, "xformed") for service, protocol in SERVICES] + [
    ("dynamodb", "json", picker) for picker in PICKERS if picker != "xformed"]


@pytest.mark.parametrize(("service", "protocol", "picker"), SERIALIZER_CASES)
def test_every_operation_s_answers_serialize_as_under_plain_moto(service: str, protocol: str, picker: str) -> None:
    """Given results of every operation of DynamoDB, SQS, EventBridge, SNS, CloudWatch, Lambda and S3 (JSON, query
    XML and JSON, REST serializers), each member under its own name, its snake-case one or both, missing or None,
    holding values of the exact scalar types moto keeps and of others it converts or refuses, some results a dict
    subclass, with every kind of value picker (and response transformers), when moto serializes them under plain
    moto and under `speedups()`, then every body, header, status and error is the same."""
    plain = _serialized(service, protocol, picker, range(4))
    with speedups():
        fast = _serialized(service, protocol, picker, range(4))
    assert fast == plain
    assert len(plain) > 4


def test_the_walk_is_moto_s_inside_speedups_too() -> None:
    """Given the same results, when they are serialized under `speedups()` with and without the structure walk
    (the other fast paths in place), then the answers are the same; and the walk did plan DynamoDB's shapes."""
    with speedups():
        fast = _serialized("dynamodb", "json", "xformed", range(6))
        assert moto_speedups._structure_plans[-1]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(moto_speedups.ResponseSerializer, "_serialize_type_structure",
                          moto_speedups._original_structure_walk)
            plain = _serialized("dynamodb", "json", "xformed", range(6))
    assert fast == plain


class _MarkedStrings(JSONSerializer):
    def _serialize_type_string(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        super()._serialize_type_string(serialized, f"<{value}>", shape, key)


class _MarkedNumbers(JSONSerializer):
    def _serialize_type_integer(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        super()._serialize_type_integer(serialized, value * 2, shape, key)

    def _serialize_type_boolean(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        self._default_serialize(serialized, not value, shape, key)


class _MarkedWrites(JSONSerializer):
    def _default_serialize(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        super()._default_serialize(serialized, (shape.type_name, value), shape, key)


class _RenamedMembers(JSONSerializer):
    def get_serialized_name(self, shape: Any, default_name: str) -> str:
        return default_name.lower()


class _OwnMemberLookup(JSONSerializer):
    def get_value(self, value: Any, key: str, shape: Any) -> Any:
        found = super().get_value(value, key, shape)
        return found if shape.type_name != "string" else "picked"


@pytest.mark.parametrize("serializer_class", [_MarkedStrings, _MarkedNumbers, _MarkedWrites, _RenamedMembers,
                                              _OwnMemberLookup])
def test_serializers_of_their_own_keep_their_own_methods(serializer_class: type[ResponseSerializer]) -> None:
    """Given JSON serializers that write strings, numbers, booleans or every value their own way, name members
    their own way or look members up their own way, when they serialize DynamoDB's answers under plain moto and
    under `speedups()`, then the answers are the same (their own methods are called)."""
    plain = _serialized("dynamodb", "json", "xformed", range(2), serializer_class)
    with speedups():
        fast = _serialized("dynamodb", "json", "xformed", range(2), serializer_class)
    assert fast == plain


# ---------------------------------------------------------------------------------------------- request parsing
def _ordered(value: Any) -> Any:
    """A parsed value with every mapping's type and order (moto's XFormedDict has no repr of its contents)."""
    if hasattr(value, "items"):
        return type(value).__name__, [(key, _ordered(member)) for key, member in value.items()]
    if isinstance(value, list):
        return [_ordered(member) for member in value]
    return repr(value)


def _parsed(service: str, parser_class: type[JSONParser], map_type: Any, seeds: range) -> list[Any]:
    """moto's JSON parser's reading of sampled requests of every operation of the service with an input shape: the
    sample itself (any Python values) and its JSON text (a whole request body), each parameter's order kept."""
    service_model = get_service_model(service)
    out: list[Any] = []
    for operation_name in service_model.operation_names:
        operation = service_model.operation_model(operation_name)
        if operation.input_shape is None:
            continue
        for seed in seeds:
            sample = _sample(operation.input_shape, itertools.count(seed))
            body = json.dumps(sample, default=str).encode()
            request: Any = {"method": "POST", "values": {}, "headers": {}, "body": body, "url_path": "/",
                            "url_params": {}}
            for whole in (False, True):
                parser = parser_class(operation, map_type=map_type)
                try:
                    read = parser.parse(request) if whole else parser._parse_shape(operation.input_shape, sample)
                    out.append((operation_name, _ordered(read)))
                except Exception as error:  # moto's refusals (e.g. int("five")) are part of the contract
                    out.append((operation_name, type(error).__name__, str(error)))
    return out


class _OwnStrings(JSONParser):
    def _parse_string(self, shape: Any, value: Any) -> Any:
        return f"<{value}>"


class _OwnDispatch(JSONParser):
    def _parse_shape(self, shape: Any, node: Any) -> Any:
        parsed = super()._parse_shape(shape, node)
        return ("boolean", parsed) if shape.type_name == "boolean" else parsed


class _OwnDefault(JSONParser):
    def _default_handle(self, shape: Any, value: Any) -> Any:
        return (shape.type_name, value)


# every JSON service with moto's parser; DynamoDB's requests into moto's XFormedDict and with parsers of their own
PARSER_CASES = [(service, dict, JSONParser) for service in ("dynamodb", "sqs", "events")] + [
    ("dynamodb", XFormedDict, JSONParser)] + [
    ("dynamodb", dict, own) for own in (_OwnStrings, _OwnDispatch, _OwnDefault)]


@pytest.mark.parametrize(("service", "map_type", "parser_class"), PARSER_CASES)
def test_every_operation_s_requests_parse_as_under_plain_moto(service: str, map_type: Any,
                                                              parser_class: type[JSONParser]) -> None:
    """Given requests of every operation of DynamoDB, SQS and EventBridge (members present, missing, None or under
    an unknown name, values of every kind, some moto converts or refuses), as Python values and as JSON bodies,
    when moto's JSON parser (or one parsing strings, dispatching or handling defaults its own way) reads them
    into dicts or moto's XFormedDict under plain moto and under `speedups()`, then every parameter, in order, and
    every error is the same."""
    plain = _parsed(service, parser_class, map_type, range(3))
    with speedups():
        fast = _parsed(service, parser_class, map_type, range(3))
    assert fast == plain
    assert len(plain) > 20
