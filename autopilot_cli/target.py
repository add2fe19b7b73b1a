"""Where the CLI's answers come from and where its actions go.

- StackTarget: a deployed stack, resolved from CloudFormation with normal AWS credentials: the table,
  bucket and run cache from the stack outputs, functions by their `OmicsAutopilot::Function` metadata
  (capability) and the event archive from the template's wiring index.
- TableTarget: just a table (`--table`), e.g. on a local endpoint; queries only.
- SandboxTarget: an in-process sandbox (sandbox.local.LocalAccount): functions run with its handlers.
Every boto3 client honours `--endpoint-url` (and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>).
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from autopilot_cli.errors import CliError, NotFound, UsageError
from shared.provenance.repository import ProvenanceRepository

FUNCTION_METADATA_KEY = "OmicsAutopilot::Function"
WIRING_METADATA_KEY = "OmicsAutopilot::Wiring"


class Target(Protocol):
    description: str

    @property
    def repository(self) -> ProvenanceRepository: ...

    def run_cache_id(self) -> str | None: ...

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
    def __init__(self, session: boto3.Session, endpoint_url: str | None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url

    def client(self, service: str) -> Any:
        kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
        return self.session.client(service, **kwargs)


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

    def __init__(self, stack: str, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.stack = stack
        self.clients = _Clients(session, endpoint_url)
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
            raise CliError(f"{capability} function failed: {message}")
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
