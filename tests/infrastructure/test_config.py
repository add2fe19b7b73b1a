"""Deploy-time configuration: defaults, coercion of `-c key=value` strings, and errors that name the key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from stacks.app_builder import build_app, default_context
from stacks.config import CONTEXT_KEYS, AutopilotConfig, ConfigError
from tests.infrastructure.cfn import as_list, props, resources
from tests.infrastructure.conftest import BRING_YOUR_OWN


def test_defaults_come_from_cdk_json() -> None:
    config = AutopilotConfig.from_context(default_context())
    assert config.name_prefix == "omics-autopilot"
    assert config.creates_service_role and config.creates_run_cache
    assert config.alarm_email is None
    assert config.omics_quotas == {"StartRun": 1, "StartRunBatch": 1, "batch": 10, "run": 10, "runCache": 10}
    assert config.recorder_max_concurrency == 5 and config.reserved_concurrency is False
    assert set(CONTEXT_KEYS) <= set(default_context())


def test_cli_strings_are_coerced_and_blank_means_unset() -> None:
    config = AutopilotConfig.from_context(
        {"logRetentionDays": "30", "omicsQuotas": '{"run": 20}', "alarmEmail": "", "runCacheId": "null"}
    )
    assert config.log_retention_days == 30
    assert config.omics_quotas["run"] == 20 and config.omics_quotas["StartRun"] == 1  # merged over defaults
    assert config.alarm_email is None and config.run_cache_id is None


@pytest.mark.parametrize(
    ("context", "key", "hint"),
    [
        ({"logRetentionDays": 42}, "logRetentionDays", "must be one of"),
        ({"logRetentionDays": "forever"}, "logRetentionDays", "valid integer"),
        ({"eventArchiveRetentionDays": -1}, "eventArchiveRetentionDays", "greater than or equal to 0"),
        ({"namePrefix": "Omics_Autopilot"}, "namePrefix", "does not match"),
        ({"omicsServiceRoleArn": "arn:aws:iam::123:user/me"}, "omicsServiceRoleArn", "does not match"),
        ({"runCacheId": "cache-1"}, "runCacheId", "does not match"),
        ({"alarmEmail": "not-an-address"}, "alarmEmail", "does not match"),
        ({"omicsQuotas": {"run": 0}}, "omicsQuotas", "not a number of calls per second"),
        ({"omicsQuotas": {"run": float("nan")}}, "omicsQuotas", "not a number of calls per second"),
        ({"omicsQuotas": {"GetRun": 10}}, "omicsQuotas", "unknown quota group 'GetRun'"),
        ({"omicsQuotas": "10"}, "omicsQuotas", "must be a JSON object"),
        ({"recorderMaxConcurrency": 1}, "recorderMaxConcurrency", "greater than or equal to 2"),
        ({"recorderReservedConcurrency": 5}, "recorderReservedConcurrency", "renamed to recorderMaxConcurrency"),
        ({"serviceRoleReadLocations": ["lab-data"]}, "serviceRoleReadLocations", "is not s3://bucket[/prefix]"),
        ({"serviceRoleWriteLocations": "s3://out/*"}, "serviceRoleWriteLocations", "is not s3://bucket[/prefix]"),
        ({"serviceRoleKmsKeyArns": "alias/data"}, "serviceRoleKmsKeyArns", "is not a KMS key ARN"),
    ],
)
def test_a_bad_value_names_the_key_and_the_problem(context: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as error:
        AutopilotConfig.from_context(context)
    message = str(error.value)
    assert message.startswith(f"Invalid configuration: {key}: ")
    assert hint in message


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        AutopilotConfig.from_context({"logRetentionDays": 2, "omicsQuotas": {"run": -1}})
    assert "logRetentionDays: " in str(error.value) and "omicsQuotas: " in str(error.value)


def test_synthesis_stops_on_a_bad_value_before_building_anything() -> None:
    app = cdk.App(context={**default_context(), "logRetentionDays": 2, "bundling": "false"})
    with pytest.raises(
        ConfigError, match=r"^Invalid configuration: logRetentionDays: must be one of 1, 3, 5"
    ):
        build_app(app)
    assert app.node.children == []


# --- a deployment that brings its own role and run cache (second synth of the session) ----------------


def test_existing_role_and_cache_are_used_not_created(byo_template_dict) -> None:
    assert resources(byo_template_dict, "AWS::Omics::RunCache") == {}
    for role in resources(byo_template_dict, "AWS::IAM::Role").values():
        principals = [s["Principal"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]]
        assert {"Service": "omics.amazonaws.com"} not in principals
    functions = resources(byo_template_dict, "AWS::Lambda::Function")
    for function in functions.values():  # every capability gets the deployment's role and cache
        env = function["Properties"]["Environment"]["Variables"]
        assert env["OMICS_ROLE_ARN"] == BRING_YOUR_OWN["omicsServiceRoleArn"]
        assert env["RUN_CACHE_ID"] == BRING_YOUR_OWN["runCacheId"]
    recorder = _recorder_function(byo_template_dict)
    assert recorder["Properties"]["ReservedConcurrentExecutions"] == 3


def test_alarm_email_subscribes_to_the_topic(byo_template_dict) -> None:
    (subscription,) = resources(byo_template_dict, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == BRING_YOUR_OWN["alarmEmail"]


def test_retention_settings_reach_log_groups_and_archive(byo_template_dict) -> None:
    for group in resources(byo_template_dict, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30
    (archive_id,) = resources(byo_template_dict, "AWS::Events::Archive")
    assert props(byo_template_dict, archive_id)["RetentionDays"] == 0  # CloudFormation: 0 = keep forever


def _recorder_function(template: dict) -> dict:
    (function,) = [f for f in resources(template, "AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "recorder.handler.lambda_handler"]
    return function


def test_recorder_mapping_follows_the_configured_concurrency(byo_template_dict) -> None:
    (recorder_id,) = [k for k, f in resources(byo_template_dict, "AWS::Lambda::Function").items()
                      if f["Properties"]["Handler"] == "recorder.handler.lambda_handler"]
    (mapping,) = [m for m in resources(byo_template_dict, "AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["FunctionName"] == {"Ref": recorder_id}]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert as_list(mapping["Properties"]["FunctionResponseTypes"]) == ["ReportBatchItemFailures"]
