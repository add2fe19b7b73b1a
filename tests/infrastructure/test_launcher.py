"""The launcher construct: sheet and batch-failure routing, queue semantics, least privilege, configuration."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure.cfn import (
    WIRING,
    as_list,
    join_text,
    omics_actions_by_resource,
    policies_of_role,
    props,
    resources,
)
from tests.infrastructure.conftest import BRING_YOUR_OWN

ARN = "arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:"


@pytest.fixture(scope="module")
def launcher(wiring: dict[str, Any]) -> dict[str, Any]:
    return wiring["consumers"]["launcher"]


def _role_of(template_dict: dict[str, Any], launcher: dict[str, Any]) -> str:
    return props(template_dict, launcher["function"])["Role"]["Fn::GetAtt"][0]


def _submissions_bucket(wiring: dict[str, Any]) -> str:
    return wiring["buckets"]["submissions"]


def test_uploaded_sheets_and_failed_batches_are_routed_to_the_launch_queue(template_dict, launcher, wiring) -> None:
    patterns = {props(template_dict, rule)["EventPattern"]["source"][0]: props(template_dict, rule)["EventPattern"]
                for rule in launcher["rules"]}
    assert patterns["aws.s3"] == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": _submissions_bucket(wiring)}]},
                   "object": {"key": [{"prefix": "submissions/"}]}}}
    assert patterns["aws.omics"] == {"source": ["aws.omics"], "detail-type": ["RunBatch Status Change"],
                                     "detail": {"status": ["FAILED"]}}
    for rule in launcher["rules"]:
        (target,) = props(template_dict, rule)["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [launcher["queue"], "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [launcher["deadLetterQueue"], "Arn"]}


def test_submissions_bucket_sends_events_to_eventbridge_without_a_custom_resource(template_dict, wiring) -> None:
    bucket = props(template_dict, _submissions_bucket(wiring))
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"] == {"EventBridgeEnabled": True}
    assert not resources(template_dict, "Custom::S3BucketNotifications")


def test_queue_semantics(template_dict, launcher) -> None:
    mapping = props(template_dict, launcher["eventSourceMapping"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 1
    function = props(template_dict, launcher["function"])
    queue = props(template_dict, launcher["queue"])
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [launcher["deadLetterQueue"], "Arn"]}
    assert function["MemorySize"] >= 1024 and "ReservedConcurrentExecutions" not in function  # opt-in
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 2


def _run_cache(template_dict: dict[str, Any]) -> str:
    """The stack's own run cache as a policy names it: created here (its Id attribute) or configured (runCacheId)."""
    created = list(resources(template_dict, "AWS::Omics::RunCache"))
    return f"<{created[0]}.Id>" if created else BRING_YOUR_OWN["runCacheId"]


@pytest.mark.parametrize("which", ["default", "bring-your-own"])
def test_healthomics_permissions_are_dual_authorization_and_nothing_wider(which: str, template_dict,
                                                                          byo_template_dict) -> None:
    # A sheet may attach only the stack's run cache (launcher/policy.py cache_problem) and a resubmission sends
    # the recorded request: StartRun is granted on that cache alone, not on every cache of the account. Under
    # rerunForeignRuns (the bring-your-own context sets it) a re-runner follow-up of a foreign batch keeps that
    # batch's own cache, and the launcher resubmits follow-ups that fail as a whole: then any cache.
    template = template_dict if which == "default" else byo_template_dict
    launcher = template["Metadata"][WIRING]["consumers"]["launcher"]
    statements = policies_of_role(template, _role_of(template, launcher))
    assert omics_actions_by_resource(statements) == {
        "omics:StartRunBatch": {f"{ARN}runBatch/*"},
        "omics:GetBatch": {f"{ARN}runBatch/*"},
        "omics:StartRun": {f"{ARN}{t}/*" for t in ("run", "workflow", "runGroup")}
                          | {f"{ARN}runCache/{'*' if which == 'bring-your-own' else _run_cache(template)}"},
        "omics:TagResource": {f"{ARN}run/*", f"{ARN}runBatch/*"},
        # the default storage of a sheet's workflow (or version: workflow/<id>/version/<name>) when it names none
        "omics:GetWorkflow": {f"{ARN}workflow/*"},
        "omics:GetWorkflowVersion": {f"{ARN}workflow/*"},
    }


def test_pass_role_only_for_the_healthomics_service_role_and_only_to_healthomics(template_dict, launcher) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, launcher))
    passes = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) == 1
    (statement,) = passes
    assert as_list(statement["Action"]) == ["iam:PassRole"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "omics.amazonaws.com"}}
    (resource,) = as_list(statement["Resource"])
    assert "ServiceRole" in join_text(resource)


def test_s3_access_is_limited_to_sheets_reports_and_settings_files(template_dict, launcher, wiring) -> None:
    statements = policies_of_role(template_dict, _role_of(template_dict, launcher))
    bucket = _submissions_bucket(wiring)
    objects: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith("s3:"):
                for resource in as_list(statement["Resource"]):
                    text = join_text(resource)
                    if "/" in text:
                        objects.setdefault(text.split(bucket, 1)[-1], set()).add(action)
    assert set(objects) == {".Arn>/submissions/*", ".Arn>/submissions/*.errors.json", ".Arn>/batch-settings/*"}
    assert not any(a.startswith("s3:Put") for a in objects[".Arn>/submissions/*"])
    assert "s3:PutObject" in objects[".Arn>/submissions/*.errors.json"]
    assert "s3:PutObject" in objects[".Arn>/batch-settings/*"]
    assert not any(a.startswith("s3:Delete") for actions in objects.values() for a in actions)


def test_the_healthomics_service_role_can_read_settings_files(template_dict, wiring) -> None:
    role = wiring["serviceRole"]
    statements = policies_of_role(template_dict, role)
    readable = {join_text(r) for s in statements if "s3:GetObject" in as_list(s["Action"])
                for r in as_list(s["Resource"])}
    assert any(_submissions_bucket(wiring) in r and r.endswith("/*") for r in readable)


def test_deploy_defaults_reach_the_function(byo_template_dict) -> None:
    # byo_template_dict: deployed with LAUNCHER_DEFAULTS
    launcher = byo_template_dict["Metadata"][WIRING]["consumers"]["launcher"]
    env = props(byo_template_dict, launcher["function"])["Environment"]["Variables"]
    assert {k: env[k] for k in ("WORKFLOW_ID", "WORKFLOW_VERSION_NAME", "RUN_STORAGE_TYPE", "RUN_STORAGE_CAPACITY",
                                "RUN_RETENTION_MODE", "RUN_LOG_LEVEL", "RUN_GROUP_ID", "RUN_OUTPUT_URI",
                                "RUN_CACHE_BEHAVIOR")} == {
        "WORKFLOW_ID": "1234567", "WORKFLOW_VERSION_NAME": "v2", "RUN_STORAGE_TYPE": "STATIC",
        "RUN_STORAGE_CAPACITY": "1200", "RUN_RETENTION_MODE": "REMOVE", "RUN_LOG_LEVEL": "ERROR",
        "RUN_GROUP_ID": "42", "RUN_OUTPUT_URI": "s3://lab-out/runs/", "RUN_CACHE_BEHAVIOR": "CACHE_ON_FAILURE"}
    assert {"PROVENANCE_TABLE", "RUN_CACHE_ID", "OMICS_ROLE_ARN", "ALARM_TOPIC_ARN", "SUBMISSIONS_BUCKET"} <= set(env)


def test_default_output_location_is_the_stack_outputs_bucket(template_dict, launcher, wiring) -> None:
    env = props(template_dict, launcher["function"])["Environment"]["Variables"]
    assert "WORKFLOW_ID" not in env
    text = join_text(env["RUN_OUTPUT_URI"])
    assert text.startswith("s3://") and text.endswith("/runs/") and wiring["buckets"]["outputs"] in text


def test_allow_lists_reach_the_function_outputs_bucket_by_default_and_the_cache_bucket_refused(
        template_dict, launcher, wiring) -> None:
    env = props(template_dict, launcher["function"])["Environment"]["Variables"]
    assert join_text(env["SHEET_OUTPUT_PREFIXES"]) == f"s3://<{wiring['buckets']['outputs']}>/"
    assert join_text(env["RUN_CACHE_BUCKETS"]) == f"<{wiring['buckets']['runCache']}>"
    assert env["SHEET_MAX_BYTES"] == str(64 << 20) and env["SHEET_MAX_STORAGE_GIB"] == "4800"
    assert "SHEET_WORKFLOWS" not in env and "SHEET_RUN_GROUP_IDS" not in env  # the deploy defaults only
    assert env["SHEET_ALLOW_DYNAMIC_STORAGE"] == "false"  # DYNAMIC storage escapes sheetMaxStorageGib: opt-in


@pytest.mark.parametrize(("context", "message"), [
    ({"workflowId": "wgs"}, 'workflowId: "wgs" does not match'),
    ({"runStorageType": "STATIC"}, "STATIC run storage (runStorageType) needs a capacity in GiB"),
    ({"runLogLevel": "DEBUG"}, "runLogLevel: Input should be 'OFF', 'FATAL', 'ERROR' or 'ALL'"),
    ({"runOutputUri": "https://lab/out"}, 'runOutputUri: "https://lab/out" does not match'),
    ({"runRetentionMode": "KEEP"}, "runRetentionMode: Input should be 'RETAIN' or 'REMOVE'"),
    ({"runCacheBehavior": "NEVER"}, "runCacheBehavior: Input should be 'CACHE_ON_FAILURE' or 'CACHE_ALWAYS'"),
    ({"runStorageCapacity": -1}, "runStorageCapacity: Input should be greater than or equal to 0"),
    ({"launcherMaxConcurrency": 1}, "launcherMaxConcurrency: Input should be greater than or equal to 2"),
])
def test_invalid_launcher_configuration_names_the_key(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="Invalid configuration") as raised:
        AutopilotConfig.from_context(context)
    assert message in str(raised.value)


def test_stack_outputs_name_the_launcher_function(template_dict, launcher) -> None:
    assert template_dict["Outputs"]["LauncherFunctionName"]["Value"] == {"Ref": launcher["function"]}
