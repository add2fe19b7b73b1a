"""How the CLI finds a deployed stack's pieces, against botocore's Stubber (requests and responses are
validated against the CloudFormation, Lambda and EventBridge service models): outputs, functions by
their capability metadata, the event archive and the recorder's rules from the wiring index."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from autopilot_cli.app import main
from autopilot_cli.errors import CliError, NotFound
from autopilot_cli.target import StackTarget

STACK = "omics-autopilot"
TEMPLATE = {
    "Metadata": {"OmicsAutopilot::Wiring": {"archive": "EventRoutingOmicsArchiveA1",
                                            "consumers": {"recorder": {"rules": ["EventRoutingProvenanceRuleB2"]}}}},
    "Resources": {
        "RecorderFunctionC3": {"Type": "AWS::Lambda::Function",
                               "Metadata": {"OmicsAutopilot::Function": {"capability": "recorder"}}},
        "PrunerAWorker00": {"Type": "AWS::Lambda::Function",
                            "Metadata": {"OmicsAutopilot::Function": {"capability": "pruner",
                                                                      "handler": "pruner.handler.worker_handler"}}},
        "PrunerPlannerD4": {"Type": "AWS::Lambda::Function",
                            "Metadata": {"OmicsAutopilot::Function": {"capability": "pruner",
                                                                      "handler": "pruner.handler.lambda_handler"}}},
    },
}


class FakeSession:
    """boto3.Session stand-in that hands out the stubbed clients."""

    def __init__(self) -> None:
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        self.clients = {name: session.client(name) for name in ("cloudformation", "lambda", "events", "dynamodb")}
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}

    def client(self, service: str, **_: Any) -> Any:
        return self.clients[service]


@pytest.fixture
def session() -> Iterator[FakeSession]:
    fake = FakeSession()
    for stub in fake.stubs.values():
        stub.activate()
    yield fake
    for stub in fake.stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def _stack_response(outputs: dict[str, str]) -> dict[str, Any]:
    return {"Stacks": [{"StackName": STACK, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}


def _resource(logical_id: str, physical_id: str, resource_type: str) -> dict[str, Any]:
    return {"StackResourceDetail": {"LogicalResourceId": logical_id, "PhysicalResourceId": physical_id,
                                    "ResourceType": resource_type, "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                                    "ResourceStatus": "CREATE_COMPLETE", "StackName": STACK}}


def test_outputs_give_the_table_and_run_cache(session: FakeSession) -> None:
    session.stubs["cloudformation"].add_response(
        "describe_stacks", _stack_response({"ProvenanceTableName": "prov-123", "RunCacheId": "555"}),
        {"StackName": STACK})
    target = StackTarget(STACK, session)  # type: ignore[arg-type]
    assert (target.table, target.run_cache_id()) == ("prov-123", "555")


def test_a_missing_stack_is_not_found(session: FakeSession) -> None:
    session.stubs["cloudformation"].add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist",
        expected_params={"StackName": STACK})
    with pytest.raises(NotFound, match="does not exist"):
        StackTarget(STACK, session).outputs  # type: ignore[arg-type]  # noqa: B018


def test_functions_are_found_by_capability_and_invoked(session: FakeSession) -> None:
    cfn, lam = session.stubs["cloudformation"], session.stubs["lambda"]
    cfn.add_response("describe_stacks", _stack_response({"ProvenanceTableName": "prov-123"}), {"StackName": STACK})
    cfn.add_response("get_template", {"TemplateBody": json.dumps(TEMPLATE)},
                     {"StackName": STACK, "TemplateStage": "Processed"})
    cfn.add_response("describe_stack_resource",
                     _resource("PrunerPlannerD4", "omics-autopilot-PrunerPlanner-x1", "AWS::Lambda::Function"),
                     {"StackName": STACK, "LogicalResourceId": "PrunerPlannerD4"})
    body = json.dumps({"passes": [{"pass_id": "p1"}]}).encode()
    lam.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))},
                     {"FunctionName": "omics-autopilot-PrunerPlanner-x1", "InvocationType": "RequestResponse",
                      "Payload": json.dumps({"mode": "dry-run", "cacheIds": ["555"]}).encode()})
    target = StackTarget(STACK, session)  # type: ignore[arg-type]
    assert target.invoke("pruner", {"mode": "dry-run", "cacheIds": ["555"]}) == {"passes": [{"pass_id": "p1"}]}


def test_a_capability_not_deployed_is_not_found(session: FakeSession) -> None:
    session.stubs["cloudformation"].add_response("describe_stacks", _stack_response({}), {"StackName": STACK})
    session.stubs["cloudformation"].add_response("get_template", {"TemplateBody": json.dumps(TEMPLATE)},
                                                 {"StackName": STACK, "TemplateStage": "Processed"})
    with pytest.raises(NotFound, match="no launcher function"):
        StackTarget(STACK, session).function_name("launcher")  # type: ignore[arg-type]


def test_the_entry_function_output_wins_and_a_function_error_is_reported(session: FakeSession) -> None:
    cfn, lam = session.stubs["cloudformation"], session.stubs["lambda"]
    cfn.add_response("describe_stacks", _stack_response({"RecorderFunctionName": "rec-fn"}), {"StackName": STACK})
    body = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}).encode()
    lam.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                "Payload": StreamingBody(io.BytesIO(body), len(body))},
                     {"FunctionName": "rec-fn", "InvocationType": "RequestResponse", "Payload": b"{}"})
    with pytest.raises(CliError, match=r"recorder function failed: boom \(the error's text, if any, is in the "
                                       r"function's log at DEBUG only\)"):
        StackTarget(STACK, session).invoke("recorder", {})  # type: ignore[arg-type]


def test_archive_and_provenance_rules_come_from_the_wiring_index(session: FakeSession) -> None:
    cfn, events = session.stubs["cloudformation"], session.stubs["events"]
    cfn.add_response("get_template", {"TemplateBody": json.dumps(TEMPLATE)},
                     {"StackName": STACK, "TemplateStage": "Processed"})
    cfn.add_response("describe_stack_resource",
                     _resource("EventRoutingOmicsArchiveA1", "OmicsArchive-abc", "AWS::Events::Archive"),
                     {"StackName": STACK, "LogicalResourceId": "EventRoutingOmicsArchiveA1"})
    archive_arn = "arn:aws:events:us-east-1:123456789012:archive/OmicsArchive-abc"
    bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    events.add_response("describe_archive", {"ArchiveArn": archive_arn, "EventSourceArn": bus_arn},
                        {"ArchiveName": "OmicsArchive-abc"})
    cfn.add_response("describe_stack_resource",
                     _resource("EventRoutingProvenanceRuleB2", "omics-autopilot-ProvenanceRule-9", "AWS::Events::Rule"),
                     {"StackName": STACK, "LogicalResourceId": "EventRoutingProvenanceRuleB2"})
    rule_arn = "arn:aws:events:us-east-1:123456789012:rule/omics-autopilot-ProvenanceRule-9"
    events.add_response("describe_rule", {"Arn": rule_arn, "Name": "omics-autopilot-ProvenanceRule-9"},
                        {"Name": "omics-autopilot-ProvenanceRule-9"})
    target = StackTarget(STACK, session)  # type: ignore[arg-type]
    assert target.archive() == (archive_arn, bus_arn)
    assert target.provenance_rule_arns() == [rule_arn]


def test_replay_through_a_stack_filters_to_the_provenance_rules(session: FakeSession) -> None:
    # Given the archive and rule lookups (as above) and a replay that completes at once
    cfn, events = session.stubs["cloudformation"], session.stubs["events"]
    archive_arn = "arn:aws:events:us-east-1:123456789012:archive/OmicsArchive-abc"
    bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    rule_arn = "arn:aws:events:us-east-1:123456789012:rule/prov"
    cfn.add_response("get_template", {"TemplateBody": json.dumps(TEMPLATE)},
                     {"StackName": STACK, "TemplateStage": "Processed"})
    cfn.add_response("describe_stack_resource",
                     _resource("EventRoutingOmicsArchiveA1", "OmicsArchive-abc", "AWS::Events::Archive"),
                     {"StackName": STACK, "LogicalResourceId": "EventRoutingOmicsArchiveA1"})
    events.add_response("describe_archive", {"ArchiveArn": archive_arn, "EventSourceArn": bus_arn},
                        {"ArchiveName": "OmicsArchive-abc"})
    cfn.add_response("describe_stack_resource",
                     _resource("EventRoutingProvenanceRuleB2", "prov", "AWS::Events::Rule"),
                     {"StackName": STACK, "LogicalResourceId": "EventRoutingProvenanceRuleB2"})
    events.add_response("describe_rule", {"Arn": rule_arn, "Name": "prov"}, {"Name": "prov"})
    from datetime import UTC, datetime

    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    events.add_response("start_replay", {"ReplayArn": "arn:aws:events:us-east-1:123456789012:replay/r1",
                                         "State": "STARTING"},
                        {"ReplayName": "r1", "EventSourceArn": archive_arn, "EventStartTime": start,
                         "EventEndTime": end, "Destination": {"Arn": bus_arn, "FilterArns": [rule_arn]},
                         "Description": "omics autopilot: replay archived aws.omics events"})
    events.add_response("describe_replay", {"ReplayName": "r1", "State": "COMPLETED",
                                            "EventLastReplayedTime": end}, {"ReplayName": "r1"})
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--json", "replay", "--from", "2026-01-05T00:00:00Z", "--to", "2026-01-06T00:00:00Z",
                 "--name", "r1", "--poll-seconds", "0"], target=StackTarget(STACK, session),  # type: ignore[arg-type]
                stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    assert json.loads(stdout.getvalue())["filter_rules"] == [rule_arn]


def test_missing_region_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    stderr = io.StringIO()
    assert main(["--table", "prov", "failures"], stdout=io.StringIO(), stderr=stderr) == 2
    assert "no AWS region" in stderr.getvalue()


def test_the_lambda_client_waits_for_the_longest_function_and_never_invokes_twice() -> None:
    """Given a stack target on a real boto3 session,
    When the CLI builds the client it invokes the stack's functions with,
    Then its read timeout outlasts the longest a Lambda function may run (900 s, the Lambda quota) and
    it makes exactly one attempt: a RequestResponse invoke retried after botocore's default 60 s read
    timeout runs the same function again while the first run is still working."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    client = StackTarget(STACK, session).clients.client("lambda")
    assert client.meta.config.read_timeout > 900
    assert client.meta.config.retries["total_max_attempts"] == 1
    other = StackTarget(STACK, session).clients.client("cloudformation")
    assert other.meta.config.read_timeout == 60  # only invocations wait that long


@pytest.mark.parametrize(("environment", "argv", "expected"), [
    # an explicit flag wins over either variable: with AUTOPILOT_STACK=prod exported, `--table dev` is dev's
    # table, never prod (whose functions an action such as `cache prune --enforce` would then invoke)
    ({"AUTOPILOT_STACK": "prod"}, ["--table", "dev-table"], ("table", "dev-table")),
    ({"AUTOPILOT_TABLE": "prod-table"}, ["--stack", "dev"], ("stack", "dev")),
    ({"AUTOPILOT_STACK": "prod", "AUTOPILOT_TABLE": "prod-table"}, ["--table", "dev-table"], ("table", "dev-table")),
    # without a flag the variables say where, the stack first (it can do everything the table can)
    ({"AUTOPILOT_STACK": "prod", "AUTOPILOT_TABLE": "prod-table"}, [], ("stack", "prod")),
    ({"AUTOPILOT_TABLE": "prod-table"}, [], ("table", "prod-table")),
])
def test_an_explicit_target_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], argv: list[str], expected: tuple[str, str],
) -> None:
    from autopilot_cli.app import _target, build_parser
    from autopilot_cli.target import TableTarget

    for name in ("AUTOPILOT_STACK", "AUTOPILOT_TABLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    target = _target(build_parser().parse_args([*argv, "failures"]))
    kind, name = expected
    if kind == "table":
        assert isinstance(target, TableTarget) and target.table == name, target.description
    else:
        assert isinstance(target, StackTarget) and target.stack == name, target.description


def test_sandbox_clients_never_leave_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--sandbox`: every client goes to one of the sandbox's endpoints, the services the endpoints line does
    not name (IAM for `doctor`'s policy simulation, ...) to its AWS endpoint, never to AWS itself; and
    HealthOmics calls without a host prefix, as the sandbox's `env` says (`doctor`'s GetRunCache)."""
    import autopilot_cli.app as app

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:5001", "AWS_ENDPOINT_URL_OMICS": "http://127.0.0.1:5002",
           "AWS_ENDPOINT_URL_CLOUDFORMATION": "http://127.0.0.1:5003",
           "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:5003", "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    monkeypatch.setattr(app, "sandbox_endpoints", lambda: {"env": env, "stack_name": STACK,
                                                           "control_url": "http://127.0.0.1:5004"})
    target = app._target(app.build_parser().parse_args(["--sandbox", "doctor"]))
    assert isinstance(target, StackTarget)
    endpoint = {service: target.clients.client(service).meta.endpoint_url
                for service in ("iam", "sts", "logs", "dynamodb", "omics", "cloudformation", "lambda")}
    assert endpoint == {"iam": "http://127.0.0.1:5001", "sts": "http://127.0.0.1:5001",
                        "logs": "http://127.0.0.1:5001", "dynamodb": "http://127.0.0.1:5001",
                        "omics": "http://127.0.0.1:5002", "cloudformation": "http://127.0.0.1:5003",
                        "lambda": "http://127.0.0.1:5003"}
    # the emulator serves every HealthOmics operation at its endpoint: no `workflows-`/`storage-` host prefix
    assert target.clients.client("omics").meta.config.inject_host_prefix is False
