"""In-process transport: a botocore ``before-send`` hook, used like moto's ``mock_aws``.

The hook is registered in botocore's BUILTIN_HANDLERS when this module is imported, so every client
created afterwards carries it; it only answers while an emulator is active (``with mock_omics(emu)``)
and returns ``None`` otherwise, letting other hooks (moto) or the network handle the request.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

if TYPE_CHECKING:
    from sandbox.omics.emulator import OmicsEmulator

_active: list[OmicsEmulator] = []
_active_lock = threading.Lock()


class _RawBody(io.BytesIO):
    """What AWSResponse expects of ``raw``: a ``stream()`` of the body."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        if hasattr(body, "seek"):
            body.seek(0)
        return data if isinstance(data, bytes) else str(data).encode()
    return bytes(body)


def _before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    with _active_lock:
        emu = _active[-1] if _active else None
    if emu is None:
        return None
    wire = emu.handle_http(
        request.method or "GET", request.url or "/", dict(request.headers), _body_bytes(request.body)
    )
    return AWSResponse(request.url, wire.status, wire.headers, _RawBody(wire.body))


BUILTIN_HANDLERS.append(("before-send.omics", _before_send))


@contextmanager
def mock_omics(emulator: OmicsEmulator) -> Iterator[OmicsEmulator]:
    """Route every boto3 ``omics`` client created inside the block to ``emulator``.

    Composes with moto (``with mock_aws(): with mock_omics(emu): ...``): moto's hook passes omics
    requests through and this one answers them. Like moto, it resets boto3's default session so
    ``boto3.client("omics")`` picks the hook up even if a session existed before.
    """
    with _active_lock:
        _active.append(emulator)
    boto3.DEFAULT_SESSION = None
    try:
        yield emulator
    finally:
        with _active_lock:
            _active.remove(emulator)
