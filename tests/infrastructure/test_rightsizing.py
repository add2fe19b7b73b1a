"""The right-sizing construct: its own queue for COMPLETED runs (and FAILED ones, for their DYNAMIC storage
use), and read access to run manifests only.

Oracles: the guide (run manifests in /aws/omics/WorkflowLog, stream manifest/run/<run id>/<run uuid>) and
the IAM Service Authorization Reference that cfn-lint ships (logs:GetLogEvents authorizes on log-stream,
arn:...:log-group:<group>:log-stream:<stream>)."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure import iam_reference
from tests.infrastructure.cfn import as_list, join_text, policies_of_role, props

MANIFESTS = ("arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/omics/WorkflowLog:"
             "log-stream:manifest/run/*")


@pytest.fixture(scope="module")
def rightsizer(wiring: dict[str, Any]) -> dict[str, Any]:
    return wiring["consumers"]["rightsizer"]


def _statements(template_dict: dict[str, Any], rightsizer: dict[str, Any]) -> list[dict[str, Any]]:
    role = props(template_dict, rightsizer["function"])["Role"]["Fn::GetAtt"][0]
    return policies_of_role(template_dict, role)


def test_only_completed_and_failed_runs_reach_the_rightsizing_queue(template_dict, rightsizer) -> None:
    # FAILED too: the guide ('CloudWatch의 로그') writes the run manifest for failed runs as well, and a failed
    # DYNAMIC run's storage is priced on its manifest's average use.
    (rule,) = rightsizer["rules"]
    pattern = props(template_dict, rule)["EventPattern"]
    assert (pattern["source"], pattern["detail-type"], pattern["detail"]) == (
        ["aws.omics"], ["Run Status Change"], {"status": ["COMPLETED", "FAILED"]})
    (target,) = props(template_dict, rule)["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [rightsizer["queue"], "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [rightsizer["deadLetterQueue"], "Arn"]}
    assert rightsizer["handler"] == "rightsizer.handler.lambda_handler"


def test_queue_semantics_leave_room_to_record_a_missing_manifest(template_dict, rightsizer) -> None:
    mapping = props(template_dict, rightsizer["eventSourceMapping"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function = props(template_dict, rightsizer["function"])
    queue = props(template_dict, rightsizer["queue"])
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    env = function["Environment"]["Variables"]
    attempts = int(env["RIGHTSIZING_MANIFEST_ATTEMPTS"])
    # MANIFEST_MISSING is recorded at the last attempt, before SQS gives the message to the DLQ.
    assert queue["RedrivePolicy"]["maxReceiveCount"] > attempts
    assert float(env["RIGHTSIZING_HEADROOM"]) == 0.05


def test_the_function_reads_manifest_streams_only_and_calls_no_healthomics(template_dict, rightsizer) -> None:
    statements = _statements(template_dict, rightsizer)
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith("omics:")]
    # (besides writing its own log group, as every function does)
    logs = [s for s in statements if any(a.startswith("logs:") and a not in ("logs:CreateLogStream",
                                                                               "logs:PutLogEvents")
                                         for a in as_list(s["Action"]))]
    assert [(as_list(s["Action"]), [join_text(r) for r in as_list(s["Resource"])]) for s in logs] == [
        (["logs:GetLogEvents"], [MANIFESTS])]
    # And the IAM reference says GetLogEvents authorizes on that ARN (a log-stream of the group).
    (info,) = iam_reference.expand("logs:GetLogEvents")
    assert info.resource_types == ("log-stream",)
    arn = iam_reference.render_arn(logs[0]["Resource"], template_dict)
    assert iam_reference.authorizes(info, arn)
    assert arn == ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/omics/WorkflowLog:log-stream:"
                   "manifest/run/*")


@pytest.mark.parametrize(("key", "value"), [("rightsizingHeadroom", -0.1), ("rightsizingHeadroom", 2),
                                            ("rightsizingManifestAttempts", 0)])
def test_rightsizing_settings_are_validated(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        AutopilotConfig.from_context({key: value})
