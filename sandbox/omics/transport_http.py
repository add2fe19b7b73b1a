"""HTTP transport: the emulator on localhost, for ``AWS_ENDPOINT_URL_OMICS`` / ``endpoint_url``.

The omics model declares host prefixes (``workflows-``, ``tags-``); against a local endpoint the
client must not inject them, so set ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (see ``server.env``)
or pass ``Config(inject_host_prefix=False)``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.omics.emulator import OmicsEmulator

# How often a serving thread checks for shutdown (socketserver's default is 0.5 s): stopping a sandbox waited
# that long for each of its servers, one after the other.
SHUTDOWN_POLL_SECONDS = 0.05


class OmicsHTTPServer:
    """A running emulator endpoint. ``url``, ``env`` (variables for clients), ``shutdown()``."""

    def __init__(self, emulator: OmicsEmulator, host: str, port: int) -> None:
        self.emulator = emulator
        handler = _make_handler(emulator)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host, self.port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,),
                                        name="omics-emulator", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_OMICS": self.url, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OmicsHTTPServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()


def _make_handler(emulator: OmicsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            wire = emulator.handle_http(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(wire.status)
            for key, value in wire.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(wire.body)))
            self.end_headers()
            if wire.body:
                self.wfile.write(wire.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


def serve_http(emulator: OmicsEmulator, host: str = "127.0.0.1", port: int = 0) -> OmicsHTTPServer:
    """Start serving ``emulator`` over HTTP in a daemon thread (port 0 picks a free port)."""
    return OmicsHTTPServer(emulator, host, port)
