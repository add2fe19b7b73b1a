"""The re-runner construct: routing, queue semantics, least privilege, configuration, brake alarm."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure.cfn import as_list, join_text, omics_actions_by_resource, policies_of_role, props, resources
from tests.infrastructure.conftest import RERUN_POLICY_OVERRIDE

ARN = "arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:"


@pytest.fixture(scope="module")
def rerunner(wiring: dict[str, Any]) -> dict[str, Any]:
    return wiring["consumers"]["rerunner"]


def _role_of(template_dict: dict[str, Any], function_id: str) -> str:
    return props(template_dict, function_id)["Role"]["Fn::GetAtt"][0]


def _environment(template_dict: dict[str, Any], rerunner: dict[str, Any]) -> dict[str, Any]:
    return props(template_dict, rerunner["function"])["Environment"]["Variables"]


def test_failed_runs_and_processed_batches_are_routed_to_the_rerun_queue(template_dict, rerunner) -> None:
    patterns = [props(template_dict, rule)["EventPattern"] for rule in rerunner["rules"]]
    assert sorted((p["detail-type"], p["detail"]["status"]) for p in patterns) == [
        (["Run Status Change"], ["FAILED"]), (["RunBatch Status Change"], ["PROCESSED"])]
    assert all(p["source"] == ["aws.omics"] for p in patterns)
    for rule in rerunner["rules"]:
        (target,) = props(template_dict, rule)["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [rerunner["queue"], "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [rerunner["deadLetterQueue"], "Arn"]}


def test_queue_semantics(template_dict, rerunner) -> None:
    mapping = props(template_dict, rerunner["eventSourceMapping"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2
    function = props(template_dict, rerunner["function"])
    queue = props(template_dict, rerunner["queue"])
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [rerunner["deadLetterQueue"], "Arn"]}
    assert "ReservedConcurrentExecutions" not in function  # opt-in (reservedConcurrency)


def test_the_function_gets_its_queue_scheduler_role_settings_bucket_and_policy(template_dict, rerunner) -> None:
    env = _environment(template_dict, rerunner)
    assert env["RERUN_QUEUE_URL"] == {"Ref": rerunner["queue"]}
    assert env["RERUN_QUEUE_ARN"] == {"Fn::GetAtt": [rerunner["queue"], "Arn"]}
    assert env["RERUN_SCHEDULER_ROLE_ARN"]["Fn::GetAtt"][1] == "Arn"
    assert env["RERUN_SCHEDULE_GROUP"] == "default"
    assert env["RERUN_POLICY"] == "{}"
    assert env["RERUN_FOREIGN_RUNS"] == "false"  # only what this stack started, by default
    assert {"PROVENANCE_TABLE", "RUN_CACHE_ID", "OMICS_ROLE_ARN", "RERUN_SETTINGS_BUCKET"} <= set(env)


def test_healthomics_permissions_are_exactly_what_the_code_calls(template_dict, rerunner) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, rerunner["function"]))
    assert omics_actions_by_resource(statements) == {
        "omics:GetRun": {f"{ARN}run/*"},
        "omics:ListRuns": {"*"},  # no resource-level permission (cfn-lint's IAM data, test_real_account)
        "omics:GetBatch": {f"{ARN}runBatch/*"},
        "omics:ListRunsInBatch": {f"{ARN}runBatch/*"},
        "omics:StartRunBatch": {f"{ARN}runBatch/*"},
        # the stack's run cache only (rerunForeignRuns off): the launcher's rule (test_least_privilege.py)
        "omics:StartRun": {f"{ARN}{t}/*" for t in ("run", "workflow", "runGroup")}
        | {f"{ARN}runCache/<{cache}.Id>" for cache in resources(template_dict, "AWS::Omics::RunCache")},
        "omics:TagResource": {f"{ARN}run/*", f"{ARN}runBatch/*"},
    }


def test_roles_are_passed_only_to_their_services(template_dict, rerunner, wiring) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, rerunner["function"]))
    passes = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    services = sorted(s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passes)
    assert services == ["omics.amazonaws.com", "scheduler.amazonaws.com"]
    omics_pass = next(s for s in passes if s["Condition"]["StringEquals"]["iam:PassedToService"].startswith("omics"))
    assert omics_pass["Resource"] == {"Fn::GetAtt": [wiring["serviceRole"], "Arn"]}
    schedules = [s for s in statements if "scheduler:CreateSchedule" in as_list(s["Action"])]
    assert [join_text(s["Resource"]) for s in schedules] == [
        "arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/default/autopilot-rerun-*"]


def test_the_scheduler_role_can_only_send_to_the_rerun_queue_and_its_dlq(template_dict, rerunner) -> None:
    env = _environment(template_dict, rerunner)
    role_id = env["RERUN_SCHEDULER_ROLE_ARN"]["Fn::GetAtt"][0]
    trust = props(template_dict, role_id)["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert "aws:SourceAccount" in trust[0]["Condition"]["StringEquals"]
    statements = policies_of_role(template_dict, role_id)
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    queues = {rerunner["queue"], rerunner["deadLetterQueue"]}  # wake-ups, and wake-ups it cannot deliver
    targets = [r["Fn::GetAtt"][0] for s in sqs for r in as_list(s["Resource"])]
    assert sqs and set(targets) == queues
    assert env["RERUN_DEAD_LETTER_ARN"] == {"Fn::GetAtt": [rerunner["deadLetterQueue"], "Arn"]}
    assert {a for s in statements for a in as_list(s["Action"])} <= {
        "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
        "kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}


def test_follow_up_settings_files_are_written_only_under_reruns(template_dict, rerunner, wiring) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, rerunner["function"]))
    puts = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    bucket = wiring["buckets"]["submissions"]
    assert [join_text(r) for s in puts for r in as_list(s["Resource"])] == [f"<{bucket}.Arn>/reruns/*"]


def test_only_settings_files_are_read_never_a_submitted_sheet(template_dict, rerunner, wiring) -> None:
    # The re-runner reads settings files only: the launcher's (a batch's recorded s3UriSettings, under the
    # launcher's settings prefix) and its own follow-ups' under reruns/ (rerunner/dal.py). The sheets beside
    # them name samples and patients: nothing it needs.
    from launcher.config import DEFAULT_SETTINGS_PREFIX

    statements = policies_of_role(template_dict, _role_of(template_dict, rerunner["function"]))
    bucket = wiring["buckets"]["submissions"]
    reads = sorted(join_text(r) for s in statements if {"s3:GetObject", "s3:GetObject*"} & set(as_list(s["Action"]))
                   for r in as_list(s["Resource"]) if join_text(r).startswith(f"<{bucket}.Arn>/"))
    assert reads == sorted([f"<{bucket}.Arn>/{DEFAULT_SETTINGS_PREFIX}*", f"<{bucket}.Arn>/reruns/*"])


def test_the_brake_is_alarmed(template_dict) -> None:
    alarms = [a["Properties"] for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "RerunBrakeEngaged"]
    (alarm,) = alarms
    assert alarm["Namespace"] == "OmicsAutopilot" and alarm["Dimensions"] == [{"Name": "service",
                                                                              "Value": "rerunner"}]
    assert alarm["AlarmActions"] and alarm["Threshold"] == 0


def test_policy_override_reaches_the_function_validated(byo_template_dict) -> None:
    # byo_template_dict: deployed with rerunPolicy=RERUN_POLICY_OVERRIDE
    (function,) = [f for f in resources(byo_template_dict, "AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "rerunner.handler.lambda_handler"]
    assert json.loads(function["Properties"]["Environment"]["Variables"]["RERUN_POLICY"]) == RERUN_POLICY_OVERRIDE


@pytest.mark.parametrize("value", ['{"rules": {"SERVICE_ERROR": {"action": "OFTEN"}}}', "[1]", "{not json"])
def test_invalid_policy_stops_synthesis_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="rerunPolicy"):
        AutopilotConfig.from_context({"rerunPolicy": value})


def test_max_concurrency_has_a_floor_of_two() -> None:
    with pytest.raises(ConfigError, match="rerunnerMaxConcurrency"):
        AutopilotConfig.from_context({"rerunnerMaxConcurrency": 1})


def test_rerun_foreign_runs_is_validated_and_reaches_the_function(byo_template_dict) -> None:
    assert AutopilotConfig.from_context({"rerunForeignRuns": "true"}).rerun_foreign_runs is True
    assert AutopilotConfig.from_context({}).rerun_foreign_runs is False
    with pytest.raises(ConfigError, match="rerunForeignRuns"):
        AutopilotConfig.from_context({"rerunForeignRuns": "sometimes"})
    # byo_template_dict: deployed with rerunForeignRuns=true
    (function,) = [f for f in resources(byo_template_dict, "AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "rerunner.handler.lambda_handler"]
    assert function["Properties"]["Environment"]["Variables"]["RERUN_FOREIGN_RUNS"] == "true"


def test_every_function_knows_its_stack_as_deployed(template_dict) -> None:
    """What "started by this stack" means (docs/RERUN_POLICY.md): the launcher and the re-runner tag what
    they start with autopilot:stack = the stack's name as deployed (AWS::StackName, unique per account
    and region), and the re-runner compares against it."""
    functions = resources(template_dict, "AWS::Lambda::Function")
    assert functions
    for logical_id in functions:
        variables = props(template_dict, logical_id)["Environment"]["Variables"]
        assert variables["AUTOPILOT_STACK_ID"] == {"Ref": "AWS::StackName"}, logical_id
