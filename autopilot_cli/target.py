"""Where the CLI's answers come from and where its actions go.

- StackTarget: a deployed stack, resolved from CloudFormation with normal AWS credentials: the table,
  bucket and run cache from the stack outputs, functions by their `OmicsAutopilot::Function` metadata
  (capability) and the event archive from the template's wiring index.
- TableTarget: just a table (`--table`), e.g. on a local endpoint; queries only.
- SandboxTarget: an in-process sandbox (sandbox.local.LocalAccount): functions run with its handlers.
Every boto3 client honours `--endpoint-url` (and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>).

`--sandbox` is a StackTarget too: `python -m sandbox serve` answers the CloudFormation and Lambda calls
a deployed stack answers (sandbox/stack_api.py) and writes its endpoints line to a file;
`sandbox_endpoints()` reads that file, and the StackTarget uses its endpoints and credentials.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from autopilot_cli.errors import CliError, NotFound, UsageError
from shared.provenance.repository import ProvenanceRepository

FUNCTION_METADATA_KEY = "OmicsAutopilot::Function"
WIRING_METADATA_KEY = "OmicsAutopilot::Wiring"
SANDBOX_FILE_ENV = "AUTOPILOT_SANDBOX_FILE"
# A synchronous invoke waits for the function: up to Lambda's longest timeout (900 s) plus a margin, and
# is never retried (botocore's default 60 s read timeout would retry it while the first run still works,
# running `submit` or `cache prune` several times at once).
LAMBDA_MAX_TIMEOUT_SECONDS = 900
INVOKE_CONFIG = Config(read_timeout=LAMBDA_MAX_TIMEOUT_SECONDS + 60, retries={"total_max_attempts": 1})


class Target(Protocol):
    description: str

    @property
    def repository(self) -> ProvenanceRepository: ...

    def run_cache_id(self) -> str | None: ...

    def now(self) -> datetime:
        """The target's clock: what `now` and `-2h` count from (the sandbox's is virtual)."""
        ...

    def invoke(self, capability: str, payload: dict[str, Any]) -> Any: ...

    def archive(self) -> tuple[str, str]:
        """(archive ARN, event bus ARN)."""
        ...

    def events_client(self) -> Any: ...

    def provenance_rule_arns(self) -> list[str]:
        """The rules feeding the recorder (a replay restricted to them rebuilds provenance only)."""
        ...

    def settle(self) -> None:
        """Let asynchronous work finish (the sandbox delivers queued messages; a real stack needs nothing)."""
        ...


class _Clients:
    """boto3 clients; `endpoints` (service -> URL, e.g. a sandbox's) wins over `endpoint_url`."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None,
                 endpoints: dict[str, str] | None = None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.endpoints = endpoints or {}

    def client(self, service: str) -> Any:
        endpoint = self.endpoints.get(service) or self.endpoint_url
        options: dict[str, Any] = {"endpoint_url": endpoint} if endpoint else {}
        if service == "lambda":
            options["config"] = INVOKE_CONFIG
        return self.session.client(service, **options)


def default_sandbox_file() -> Path:
    """Where `python -m sandbox serve` writes its endpoints line and `autopilot --sandbox` reads it."""
    configured = os.environ.get(SANDBOX_FILE_ENV)
    if configured:
        return Path(configured)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"omics-autopilot-sandbox-{uid}.json"


def sandbox_endpoints(path: Path | None = None, timeout: float = 3.0) -> dict[str, Any]:
    """The endpoints line of the running sandbox (the first line of `path`), checked to answer."""
    path = path or default_sandbox_file()
    try:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        endpoints = json.loads(first)
    except FileNotFoundError:
        raise UsageError(f"no running sandbox ({path} does not exist): start one with `make sandbox` and wait "
                         "for its first line (the endpoints)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} does not start with a sandbox's endpoints line: {error}") from None
    if not isinstance(endpoints, dict) or not {"control_url", "env", "stack_name"} <= endpoints.keys():
        raise UsageError(f"{path} does not start with the endpoints line of `python -m sandbox serve`")
    try:
        with urllib.request.urlopen(f"{endpoints['control_url']}/health", timeout=timeout):
            pass
    except (urllib.error.URLError, OSError):
        raise UsageError(f"the sandbox of {path} does not answer at {endpoints['control_url']}: "
                         "is it still running? (start one with `make sandbox`)") from None
    return endpoints


def sandbox_session(endpoints: dict[str, Any]) -> tuple[boto3.Session, dict[str, str]]:
    """The session and per-service endpoints a client of the sandbox uses (what its `env` says)."""
    env = endpoints["env"]
    core = botocore.session.Session()
    if str(env.get("AWS_DISABLE_HOST_PREFIX_INJECTION", "")).lower() == "true":  # the emulator's endpoint
        core.set_config_variable("disable_host_prefix_injection", True)
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], botocore_session=core,
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])
    default = env.get("AWS_ENDPOINT_URL")
    services = {key.removeprefix("AWS_ENDPOINT_URL_").lower(): value for key, value in env.items()
                if key.startswith("AWS_ENDPOINT_URL_")}
    return session, {service: services.get(service, default)
                     for service in ("cloudformation", "lambda", "dynamodb", "events", "s3", "sqs", "omics")}


def _aws(call: Any, what: str, **params: Any) -> Any:
    try:
        return call(**params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException" or (code == "ValidationError" and "does not exist" in message):
            raise NotFound(f"{what}: {message or code}") from error
        raise CliError(f"{what}: {code}: {message}") from error
    except BotoCoreError as error:
        raise CliError(f"{what}: {error}") from error


class TableTarget:
    """Only a provenance table: every query works; actions need a stack."""

    def __init__(self, table: str, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.table = table
        self.clients = _Clients(session, endpoint_url)
        self.description = f"table {table}" + (f" at {endpoint_url}" if endpoint_url else "")

    def now(self) -> datetime:
        return datetime.now(UTC)

    @cached_property
    def repository(self) -> ProvenanceRepository:
        return ProvenanceRepository(self.table, self.clients.client("dynamodb"))

    def run_cache_id(self) -> str | None:
        return None

    def invoke(self, capability: str, payload: dict[str, Any]) -> Any:
        raise UsageError(f"'{capability}' needs the stack's functions: use --stack NAME (or --sandbox)")

    def archive(self) -> tuple[str, str]:
        raise UsageError("replay needs the stack's event archive: use --stack NAME")

    def events_client(self) -> Any:
        return self.clients.client("events")

    def provenance_rule_arns(self) -> list[str]:
        raise UsageError("replay needs the stack's rules: use --stack NAME")

    def settle(self) -> None:
        return None


class StackTarget(TableTarget):
    """A deployed stack: names resolved from CloudFormation."""

    def __init__(self, stack: str, session: boto3.Session, endpoint_url: str | None = None,
                 endpoints: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.clients = _Clients(session, endpoint_url, endpoints)
        self.description = f"stack {stack}"

    @cached_property
    def _cfn(self) -> Any:
        return self.clients.client("cloudformation")

    @cached_property
    def outputs(self) -> dict[str, str]:
        stacks = _aws(self._cfn.describe_stacks, f"stack {self.stack}", StackName=self.stack)["Stacks"]
        if not stacks:
            raise NotFound(f"stack {self.stack} not found")
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    @cached_property
    def template(self) -> dict[str, Any]:
        body = _aws(self._cfn.get_template, f"template of {self.stack}", StackName=self.stack,
                    TemplateStage="Processed")["TemplateBody"]
        return body if isinstance(body, dict) else json.loads(body)

    @property
    def table(self) -> str:  # type: ignore[override]
        try:
            return self.outputs["ProvenanceTableName"]
        except KeyError:
            raise CliError(f"stack {self.stack} has no ProvenanceTableName output: is it the autopilot?") from None

    def run_cache_id(self) -> str | None:
        return self.outputs.get("RunCacheId")

    def _physical_id(self, logical_id: str) -> str:
        resource = _aws(self._cfn.describe_stack_resource, f"resource {logical_id}", StackName=self.stack,
                        LogicalResourceId=logical_id)
        return str(resource["StackResourceDetail"]["PhysicalResourceId"])

    def function_name(self, capability: str) -> str:
        """The capability's entry function: the `<Capability>FunctionName` output when the stack has one,
        else the function of that capability whose handler is `lambda_handler` (a capability may also
        have workers, e.g. the pruner's queue consumer)."""
        output = self.outputs.get(f"{capability.title()}FunctionName")
        if output:
            return output
        candidates = []
        for logical_id, resource in self.template.get("Resources", {}).items():
            meta = (resource.get("Metadata") or {}).get(FUNCTION_METADATA_KEY) or {}
            if resource.get("Type") == "AWS::Lambda::Function" and meta.get("capability") == capability:
                candidates.append((not str(meta.get("handler", "")).endswith(".lambda_handler"), logical_id))
        if not candidates:
            raise NotFound(f"stack {self.stack} has no {capability} function (is that capability deployed?)")
        return self._physical_id(min(candidates)[1])

    def invoke(self, capability: str, payload: dict[str, Any]) -> Any:
        name = self.function_name(capability)
        response = _aws(self.clients.client("lambda").invoke, f"invoke {name}", FunctionName=name,
                        InvocationType="RequestResponse", Payload=json.dumps(payload).encode())
        body = response["Payload"].read()
        result = json.loads(body) if body else None
        if response.get("FunctionError"):
            message = result.get("errorMessage") if isinstance(result, dict) else body
            # a deployed function's error names its type, code and operation only (docs/OPERATIONS.md)
            raise CliError(f"{capability} function failed: {message} (the error's text, if any, is in the "
                           f"function's log at DEBUG only)")
        return result

    def archive(self) -> tuple[str, str]:
        logical_id = (self.template.get("Metadata", {}).get(WIRING_METADATA_KEY) or {}).get("archive")
        if not logical_id:
            raise NotFound(f"stack {self.stack} declares no event archive")
        name = self._physical_id(logical_id)
        described = _aws(self.events_client().describe_archive, f"archive {name}", ArchiveName=name)
        return described["ArchiveArn"], described["EventSourceArn"]

    def provenance_rule_arns(self) -> list[str]:
        wiring = self.template.get("Metadata", {}).get(WIRING_METADATA_KEY) or {}
        arns = []
        for logical_id in (wiring.get("consumers", {}).get("recorder") or {}).get("rules", []):
            name = self._physical_id(logical_id).split("|")[-1]  # "<bus>|<rule>" on a custom bus
            arns.append(_aws(self.events_client().describe_rule, f"rule {name}", Name=name)["Arn"])
        if not arns:
            raise NotFound(f"stack {self.stack} declares no provenance rule")
        return arns


class SandboxTarget:
    """An in-process sandbox account (sandbox.local.LocalAccount): handlers run in this process."""

    def __init__(self, account: Any) -> None:
        self.account = account
        self.description = "in-process sandbox"

    def now(self) -> datetime:
        return self.account.clock.now()  # type: ignore[no-any-return]

    @property
    def repository(self) -> ProvenanceRepository:
        return self.account.repository  # type: ignore[no-any-return]

    def run_cache_id(self) -> str | None:
        return self.account.outputs.get("RunCacheId")  # type: ignore[no-any-return]

    def invoke(self, capability: str, payload: dict[str, Any]) -> Any:
        specs = [spec for spec in self.account.resources.functions.values()
                 if spec.handler.split(".")[0] == capability]
        if not specs:
            raise NotFound(f"the sandbox stack has no {capability} function (is that capability deployed?)")
        # the entry function (handler `lambda_handler`), not a worker of the same capability
        spec = min(specs, key=lambda s: (not s.handler.endswith(".lambda_handler"), s.handler))
        result = self.account.invoke(spec, payload)
        self.account.deliver()  # what the function sent to queues is handled, as Lambda would
        return result

    def archive(self) -> tuple[str, str]:
        for physical in self.account.resources.physical.values():
            if "ArchiveName" in physical:
                described = self.events_client().describe_archive(ArchiveName=physical["ArchiveName"])
                return described["ArchiveArn"], described["EventSourceArn"]
        raise NotFound("the sandbox stack has no event archive")

    def events_client(self) -> Any:
        return self.account.events

    def provenance_rule_arns(self) -> list[str]:
        return []  # moto replays an archive to every rule of the bus: no filter to pass

    def settle(self) -> None:
        self.account.deliver()
