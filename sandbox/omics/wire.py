"""restJson wire format of the omics model: route requests to operations, parse, serialize.

Both transports call :func:`handle_http`; the routes, parameter locations and status codes come from
botocore's own omics service model, so the emulator speaks exactly what the real client sends.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.model import OperationModel, Shape

from sandbox.omics.errors import NotImplementedByEmulator, OmicsError, ValidationException
from sandbox.omics.model import service_model


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal_weight: int


def _compile(uri: str) -> tuple[re.Pattern[str], int]:
    path = uri.split("?", 1)[0]
    regex = ""
    weight = 0
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            regex += f"(?P<{piece[1:-2]}>.+)" if piece.endswith("+}") else f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            regex += re.escape(piece)
            weight += len(piece)
    return re.compile(f"^{regex}/?$"), weight


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    model = service_model()
    built = []
    for name in model.operation_names:
        op = model.operation_model(name)
        pattern, weight = _compile(op.http["requestUri"])
        built.append(Route(op, op.http["method"], pattern, weight))
    return tuple(sorted(built, key=lambda r: -r.literal_weight))


def match(method: str, path: str) -> tuple[OperationModel, dict[str, str]] | None:
    for route in routes():
        if route.method != method:
            continue
        m = route.pattern.match(path)
        if m:
            return route.operation, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def _scalar(shape: Shape, raw: str) -> Any:
    if shape.type_name in ("integer", "long"):
        return int(raw)
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    return raw


def _decode_body_value(shape: Shape, value: Any) -> Any:
    if value is None:
        return None
    if shape.type_name == "blob":
        return base64.b64decode(value)
    if shape.type_name == "structure" and not shape.metadata.get("document") and isinstance(value, dict):
        return {
            k: _decode_body_value(shape.members[k], v) if k in shape.members else v for k, v in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [_decode_body_value(shape.member, v) for v in value]
    return value


def parse_request(
    op: OperationModel, uri_params: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    qs = parse_qs(query, keep_blank_values=True)
    lower_headers = {k.lower(): v for k, v in headers.items()}
    doc: dict[str, Any] = {}
    if body:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValidationException("Request body is not valid JSON") from exc
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        try:
            if location == "uri":
                if wire_name in uri_params:
                    params[name] = uri_params[wire_name]
            elif location == "querystring":
                if wire_name in qs:
                    values = qs[wire_name]
                    params[name] = (
                        [_scalar(member.member, v) for v in values]
                        if member.type_name == "list"
                        else _scalar(member, values[0])
                    )
            elif location == "header":
                if wire_name.lower() in lower_headers:
                    params[name] = _scalar(member, lower_headers[wire_name.lower()])
            elif name in doc:
                params[name] = _decode_body_value(member, doc[name])
        except ValueError as exc:
            raise ValidationException(f"Invalid value for {name}") from exc
    missing = [m for m in shape.required_members if params.get(m) in (None, "")]
    if missing:
        raise ValidationException(f"Missing required parameter(s): {', '.join(missing)}")
    _validate_enums(shape, params, "")
    return params


def _validate_enums(shape: Shape, value: Any, path: str) -> None:
    """Server-side checks that botocore leaves to the service: enums, max lengths, max values."""
    if value is None:
        return
    if shape.type_name == "structure" and isinstance(value, dict) and not shape.metadata.get("document"):
        for k, v in value.items():
            if k in shape.members:
                _validate_enums(shape.members[k], v, f"{path}.{k}" if path else k)
        return
    if shape.type_name == "list" and isinstance(value, list):
        limit = shape.metadata.get("max")
        if limit is not None and len(value) > limit:
            raise ValidationException(f"{path} has {len(value)} items; at most {limit} are allowed")
        for item in value:
            _validate_enums(shape.member, item, path)
        return
    if shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            raise ValidationException(f"{path}: {value!r} is not one of {shape.enum}")
        limit = shape.metadata.get("max")
        if limit is not None and len(value) > limit:
            raise ValidationException(f"{path} is longer than {limit} characters")
    if shape.type_name in ("integer", "long") and isinstance(value, int):
        hi, lo = shape.metadata.get("max"), shape.metadata.get("min")
        if (hi is not None and value > hi) or (lo is not None and value < lo):
            raise ValidationException(f"{path}={value} is outside [{lo}, {hi}]")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def error_response(err: OmicsError) -> WireResponse:
    return WireResponse(
        err.status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": err.code, "x-amzn-RequestId": "sandbox"},
        json.dumps(err.body()).encode(),
    )


Dispatcher = Callable[[str, dict[str, Any]], dict[str, Any]]


def handle_http(
    method: str, url: str, headers: Mapping[str, str], body: bytes, dispatch: Dispatcher
) -> WireResponse:
    """Route and parse one HTTP request, call ``dispatch(operation_name, params)``, serialize the result."""
    parts = urlsplit(url)
    found = match(method.upper(), parts.path or "/")
    if found is None:
        return error_response(NotImplementedByEmulator(f"No omics operation for {method} {parts.path}"))
    op, uri_params = found
    try:
        params = parse_request(op, uri_params, parts.query, headers, body)
        result = dispatch(op.name, params)
    except OmicsError as err:
        return error_response(err)
    status = int(op.http.get("responseCode", 200))
    payload = _encode(result)
    out_headers = {"Content-Type": "application/json", "x-amzn-RequestId": "sandbox"}
    data = b"" if status == 204 else json.dumps(payload).encode()
    return WireResponse(status, out_headers, data)
