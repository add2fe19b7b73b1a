"""The sandbox's stack endpoint, read by botocore's own CloudFormation (query/XML) and Lambda (REST-JSON)
clients: what they parse is what a client of a deployed stack gets (the service models are the oracle)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.cloudformation import FunctionSpec, StackResources
from sandbox.stack_api import SandboxStack, StackApiServer

STACK = "omics-autopilot"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/omics-autopilot/sandbox"
TEMPLATE = {"Metadata": {"OmicsAutopilot::Wiring": {"archive": "Archive1"}},
            "Resources": {"Archive1": {"Type": "AWS::Events::Archive"},
                          "LauncherFn": {"Type": "AWS::Lambda::Function"}}}
LAUNCHER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:omics-autopilot-launcherfn"


@dataclass
class FakeAccount:
    """What the endpoint reads from a LocalAccount: its resources, `invoke` and `deliver`."""

    resources: StackResources
    invoked: list[tuple[str, Any]] = field(default_factory=list)
    delivered: int = 0

    def invoke(self, spec: FunctionSpec, event: Any) -> Any:
        self.invoked.append((spec.logical_id, event))
        if event.get("fail"):
            raise ValueError("the handler failed")
        return {"status": "VALID", "echo": event}

    def deliver(self) -> int:
        self.delivered += 1
        return 0


@pytest.fixture
def account() -> FakeAccount:
    resources = StackResources(
        physical={"Archive1": {"Ref": "omics-autopilot-archive1"}, "LauncherFn": {"Ref": "omics-autopilot-launcherfn"}},
        functions={"LauncherFn": FunctionSpec("LauncherFn", "launcher.handler.lambda_handler", {}, 30, LAUNCHER_ARN)},
        outputs={"ProvenanceTableName": "table-1", "LauncherFunctionName": "omics-autopilot-launcherfn"},
        template=TEMPLATE)
    return FakeAccount(resources)


@pytest.fixture
def clients(account: FakeAccount) -> Iterator[tuple[Any, Any]]:
    server = StackApiServer(SandboxStack(account, STACK, STACK_ID, lambda action: action()), "127.0.0.1")
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    try:
        yield (session.client("cloudformation", endpoint_url=server.url),
               session.client("lambda", endpoint_url=server.url))
    finally:
        server.shutdown()


def test_describe_stacks_gives_the_outputs(clients: tuple[Any, Any]) -> None:
    cloudformation, _ = clients
    # When a client describes the stack by name
    stacks = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    # Then botocore parses one complete stack with its outputs
    assert [s["StackName"] for s in stacks] == [STACK] and stacks[0]["StackStatus"] == "CREATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]} == {
        "ProvenanceTableName": "table-1", "LauncherFunctionName": "omics-autopilot-launcherfn"}


def test_template_and_physical_ids(clients: tuple[Any, Any]) -> None:
    cloudformation, _ = clients
    body = cloudformation.get_template(StackName=STACK, TemplateStage="Processed")["TemplateBody"]
    assert (body if isinstance(body, dict) else json.loads(body)) == TEMPLATE
    detail = cloudformation.describe_stack_resource(StackName=STACK, LogicalResourceId="Archive1")
    assert detail["StackResourceDetail"]["PhysicalResourceId"] == "omics-autopilot-archive1"
    listed = cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    assert sorted(r["LogicalResourceId"] for r in listed) == ["Archive1", "LauncherFn"]


def test_an_unknown_stack_or_resource_is_the_validation_error_cloudformation_gives(clients: tuple[Any, Any]) -> None:
    cloudformation, _ = clients
    with pytest.raises(ClientError) as stack:
        cloudformation.describe_stacks(StackName="other")
    assert stack.value.response["Error"]["Code"] == "ValidationError"
    assert "does not exist" in stack.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as resource:
        cloudformation.describe_stack_resource(StackName=STACK, LogicalResourceId="Nope")
    assert resource.value.response["Error"]["Code"] == "ValidationError"


def test_invoke_runs_the_handler_then_delivers(clients: tuple[Any, Any], account: FakeAccount) -> None:
    _, lambda_client = clients
    # When the function is invoked by name, then by ARN
    for name in ("omics-autopilot-launcherfn", LAUNCHER_ARN):
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"sheet": "x"}).encode())
        # Then its handler ran with the payload and what it queued was delivered
        assert response["StatusCode"] == 200 and "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {"status": "VALID", "echo": {"sheet": "x"}}
    assert account.invoked == [("LauncherFn", {"sheet": "x"})] * 2 and account.delivered == 2


def test_a_handler_error_is_a_function_error_and_an_unknown_function_is_not_found(
        clients: tuple[Any, Any]) -> None:
    _, lambda_client = clients
    response = lambda_client.invoke(FunctionName="omics-autopilot-launcherfn", Payload=b'{"fail": true}')
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "the handler failed"
    with pytest.raises(ClientError) as missing:
        lambda_client.invoke(FunctionName="nope", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_stack_resources_and_get_function_answer_what_doctor_reads(clients: tuple[Any, Any]) -> None:
    """`autopilot doctor` lists the stack's resources and reads the botocore model in each function's code
    package: the sandbox answers both, the package holding the omics model of the botocore its handlers run
    with (the sandbox process's own)."""
    import urllib.request

    import botocore.loaders

    from autopilot_cli.doctor import BATCH_FEATURES, model_from_package, model_has

    cloudformation, lambda_client = clients
    # When a client lists the stack's resources (paginated, as doctor does)
    summaries = [s for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK)
                 for s in page["StackResourceSummaries"]]
    # Then botocore parses every resource with its type and physical id
    assert {(s["LogicalResourceId"], s["ResourceType"], s["PhysicalResourceId"]) for s in summaries} == {
        ("Archive1", "AWS::Events::Archive", "omics-autopilot-archive1"),
        ("LauncherFn", "AWS::Lambda::Function", "omics-autopilot-launcherfn")}
    # When it asks for a function's code, by name and by ARN, and downloads the package
    for name in ("omics-autopilot-launcherfn", LAUNCHER_ARN):
        function = lambda_client.get_function(FunctionName=name)
        assert function["Configuration"]["FunctionArn"] == LAUNCHER_ARN
        assert function["Configuration"]["Handler"] == "launcher.handler.lambda_handler"
        with urllib.request.urlopen(function["Code"]["Location"], timeout=10) as response:
            package = response.read()
        source, model = model_from_package(package)
        # Then the package carries this process's omics model: the batch APIs are there
        assert model == botocore.loaders.Loader().load_service_model("omics", "service-2")
        assert model_has(model, BATCH_FEATURES) == [] and "omics API" in source
    with pytest.raises(ClientError) as missing:
        lambda_client.get_function(FunctionName="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
