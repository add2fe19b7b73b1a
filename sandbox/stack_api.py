"""The sandbox stack's control plane over HTTP: the CloudFormation and Lambda calls a client of a deployed
stack makes, answered for the sandbox's one stack.

A client of a deployed autopilot (the `autopilot` CLI, a user's script) finds the stack's resources with
CloudFormation (`DescribeStacks` outputs, `GetTemplate` metadata, `DescribeStackResource(s)` and
`ListStackResources` physical ids) and acts through Lambda (`Invoke`; `autopilot doctor` also reads each
function's code package with `GetFunction`). moto can do neither for this stack: the sandbox creates the
resources itself from the template (sandbox.cloudformation), and moto's Lambda runs code in Docker. So
this endpoint speaks those few operations, on the wire protocols botocore uses (CloudFormation: query
protocol, XML; Lambda: REST-JSON), and `Invoke` runs the function's real handler in the sandbox process,
as `LocalAccount.invoke` does for everything else. Clients reach it with `AWS_ENDPOINT_URL_CLOUDFORMATION`
and `AWS_ENDPOINT_URL_LAMBDA`: unchanged code, one code path for a deployed stack and the sandbox.
Every function's handler runs in the sandbox process, so `GetFunction` names one code package for all of
them: a zip holding that process's botocore `omics` service model (what the handlers call HealthOmics with),
served by this endpoint.

Read-only for CloudFormation (the stack exists as long as the sandbox runs); any other action gets the
error a real endpoint gives to an unknown action.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import threading
import traceback
import uuid
import zipfile
from collections.abc import Callable
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from sandbox.omics.transport_http import SHUTDOWN_POLL_SECONDS

CFN_NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
INVOKE_PREFIX = "/2015-03-31/functions/"
CODE_PATH = "/sandbox/function-code.zip"  # GetFunction's code location (every function's: one process)
CREATED = "2026-01-05T08:00:00Z"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit


@cache
def function_code_package() -> bytes:
    """The code package GetFunction points at: the omics service model of the botocore this process (and so
    every handler the sandbox runs) uses, where a bundled asset carries it."""
    import botocore
    import botocore.loaders

    loader = botocore.loaders.Loader()
    version = loader.determine_latest_version("omics", "service-2")
    model = loader.load_service_model("omics", "service-2", api_version=version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(f"botocore/data/omics/{version}/service-2.json.gz", (2026, 1, 5, 8, 0, 0)),
                         gzip.compress(json.dumps(model, sort_keys=True).encode(), mtime=0))
        archive.writestr(zipfile.ZipInfo("README.txt", (2026, 1, 5, 8, 0, 0)),
                         f"omics-autopilot sandbox: every function's handler runs in the sandbox process, with its "
                         f"botocore {botocore.__version__}; this package holds that botocore's omics service "
                         f"model only, so that `autopilot doctor` can check it.\n")
    return buffer.getvalue()


class StackApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _xml(value: Any) -> str:
    """A query-protocol value: dicts are structures, lists are `member` lists, the rest text."""
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{_xml(v)}</member>" for v in value)
    return escape(str(value))


class SandboxStack:
    """The sandbox's one stack as CloudFormation and Lambda describe it. `run` serialises an action with
    everything else that drives the account (the server's lock)."""

    def __init__(self, account: Any, stack_name: str, stack_id: str, run: Callable[[Callable[[], Any]], Any]) -> None:
        self.account = account
        self.name = stack_name
        self.stack_id = stack_id
        self._run = run

    @property
    def template(self) -> dict[str, Any]:
        return self.account.resources.template  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ CloudFormation
    def _check_stack(self, params: dict[str, str]) -> None:
        name = params.get("StackName")
        if name not in (None, self.name, self.stack_id):
            raise StackApiError(400, "ValidationError", f"Stack with id {name} does not exist")

    def _resource(self, logical_id: str) -> dict[str, Any]:
        resource = self.template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise StackApiError(400, "ValidationError",
                                f"Resource {logical_id} does not exist for stack {self.name}")
        physical = self.account.resources.physical.get(logical_id, {})
        return {"StackName": self.name, "StackId": self.stack_id, "LogicalResourceId": logical_id,
                "PhysicalResourceId": physical.get("Ref", logical_id), "ResourceType": resource["Type"],
                "Timestamp": CREATED, "LastUpdatedTimestamp": CREATED, "ResourceStatus": "CREATE_COMPLETE"}

    def _summary(self, logical_id: str) -> dict[str, Any]:
        resource = self._resource(logical_id)
        return {key: resource[key] for key in ("LogicalResourceId", "PhysicalResourceId", "ResourceType",
                                               "LastUpdatedTimestamp", "ResourceStatus")}

    def cloudformation(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        self._check_stack(params)
        if action == "DescribeStacks":
            outputs = [{"OutputKey": k, "OutputValue": v}
                       for k, v in sorted(self.account.resources.outputs.items())]
            return {"Stacks": [{"StackId": self.stack_id, "StackName": self.name, "CreationTime": CREATED,
                                "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]}
        if action == "GetTemplate":
            return {"TemplateBody": json.dumps(self.template), "StagesAvailable": ["Original", "Processed"]}
        if action == "DescribeStackResource":
            return {"StackResourceDetail": self._resource(params.get("LogicalResourceId", ""))}
        if action == "DescribeStackResources":
            wanted = params.get("LogicalResourceId")
            ids = [wanted] if wanted else list(self.template.get("Resources", {}))
            return {"StackResources": [self._resource(i) for i in ids]}
        if action == "ListStackResources":  # one page: the sandbox's stack is small enough
            return {"StackResourceSummaries": [self._summary(i) for i in self.template.get("Resources", {})]}
        raise StackApiError(400, "InvalidAction", f"the sandbox stack endpoint does not serve {action}")

    # ------------------------------------------------------------------ Lambda
    def function(self, name_or_arn: str) -> Any:
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        for spec in self.account.resources.functions.values():
            if spec.arn.rsplit(":", 1)[-1] == name:
                return spec
        raise StackApiError(404, "ResourceNotFoundException", f"Function not found: {name_or_arn}")

    def get_function(self, name_or_arn: str, base_url: str) -> dict[str, Any]:
        """GetFunction: the function's configuration and where its code package is (`function_code_package`)."""
        spec = self.function(name_or_arn)
        package = function_code_package()
        return {
            "Configuration": {
                "FunctionName": spec.arn.rsplit(":", 1)[-1], "FunctionArn": spec.arn, "Handler": spec.handler,
                "Timeout": spec.timeout, "CodeSize": len(package),
                "CodeSha256": base64.b64encode(hashlib.sha256(package).digest()).decode(),
                "Description": "sandbox: the handler runs in the sandbox process", "LastModified": CREATED,
                "State": "Active", "PackageType": "Zip"},
            "Code": {"RepositoryType": "S3", "Location": f"{base_url}{CODE_PATH}"},
        }

    def invoke(self, name_or_arn: str, payload: bytes) -> tuple[bytes, str | None]:
        """Run the function's handler; then what it sent to queues is handled, as the stack's event
        source mappings would. Returns (payload, function error)."""
        spec = self.function(name_or_arn)
        try:
            event = json.loads(payload) if payload.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StackApiError(400, "InvalidRequestContentException", f"Could not parse request body: {exc}") \
                from None

        def call() -> tuple[bytes, str | None]:
            try:
                result = self.account.invoke(spec, event)
            except Exception as exc:  # a function error is reported in the payload, as Lambda does
                error = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                         "stackTrace": traceback.format_tb(exc.__traceback__, limit=5)}
                return json.dumps(error).encode(), "Unhandled"
            finally:
                self.account.deliver()
            return json.dumps(result, default=str).encode(), None

        return self._run(call)  # type: ignore[no-any-return]


def _handler(stack: SandboxStack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD_BYTES:
                raise StackApiError(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes")
            return self.rfile.read(length) if length else b""

        def _lambda(self) -> None:
            path = self.path.split("?", 1)[0]
            name, _, rest = path[len(INVOKE_PREFIX):].partition("/")
            if self.command == "GET" and rest == "":
                document = stack.get_function(unquote(name), f"http://{self.headers.get('Host', 'localhost')}")
                self._send(200, json.dumps(document).encode(), "application/json")
                return
            if self.command != "POST" or rest != "invocations":
                raise StackApiError(400, "InvalidRequestContentException",
                                    "the sandbox Lambda endpoint serves Invoke and GetFunction only")
            body = self._body()
            if (self.headers.get("X-Amz-Invocation-Type") or "RequestResponse") != "RequestResponse":
                raise StackApiError(400, "InvalidRequestContentException",
                                    "the sandbox runs functions synchronously: use RequestResponse")
            payload, error = stack.invoke(unquote(name), body)
            headers = {"X-Amz-Executed-Version": "$LATEST", **({"X-Amz-Function-Error": error} if error else {})}
            self._send(200, payload, "application/json", headers)

        def _cloudformation(self) -> str:
            body = self._body().decode("utf-8", "replace")
            if "?" in self.path:
                body = f"{self.path.split('?', 1)[1]}&{body}"
            params = {k: v[-1] for k, v in parse_qs(body).items()}
            action = params.get("Action", "")
            result = stack.cloudformation(action, params)
            return (f'<{action}Response xmlns="{CFN_NAMESPACE}"><{action}Result>{_xml(result)}</{action}Result>'
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                    f"</{action}Response>")

        def _serve(self) -> None:
            is_lambda = self.path.startswith(INVOKE_PREFIX)
            try:
                if self.command == "GET" and self.path.split("?", 1)[0] == CODE_PATH:
                    self._send(200, function_code_package(), "application/zip")
                elif is_lambda:
                    self._lambda()
                else:
                    self._send(200, self._cloudformation().encode(), "text/xml")
            except StackApiError as exc:
                if is_lambda:
                    self._send(exc.status, json.dumps({"Type": "User", "message": str(exc)}).encode(),
                               "application/json", {"x-amzn-ErrorType": exc.code})
                else:
                    error = (f'<ErrorResponse xmlns="{CFN_NAMESPACE}"><Error><Type>Sender</Type>'
                             f"<Code>{exc.code}</Code><Message>{escape(str(exc))}</Message></Error>"
                             f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
                    self._send(exc.status, error.encode(), "text/xml")

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


class StackApiServer:
    """The endpoint on a free loopback port: `url`, `env` (what clients set), `shutdown()`."""

    def __init__(self, stack: SandboxStack, host: str, port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(stack))
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,),
                                        name="sandbox-stack-api", daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_CLOUDFORMATION": self.url, "AWS_ENDPOINT_URL_LAMBDA": self.url}

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
