"""Infrastructure properties of the price refresh (issue 14): its schedule, least-privilege role checked
against the IAM data cfn-lint ships, its alarms, the dashboard's cost widgets, and its configuration.
Uses the one shared synthesized template (tests/synth_cache.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure import iam_reference
from tests.infrastructure.cfn import as_list, join_text, policies_of_role, props, resources
from tests.infrastructure.test_operations import _function_by_capability


@pytest.fixture(scope="module")
def refresh(template_dict: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _function_by_capability(template_dict, "pricing")


def test_the_refresh_runs_daily_with_its_scheduled_time(template_dict: dict[str, Any], wiring: dict[str, Any],
                                                        refresh: tuple[str, dict[str, Any]]) -> None:
    function_id, _ = refresh
    (schedule,) = [props(template_dict, lid) for lid in wiring["schedules"]
                   if props(template_dict, lid)["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}]
    assert schedule["ScheduleExpression"] == "rate(1 day)"
    assert json.loads(schedule["Target"]["Input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}


def test_get_products_is_granted_on_star_as_the_iam_reference_requires(
        template_dict: dict[str, Any], refresh: tuple[str, dict[str, Any]]) -> None:
    """cfn-lint's IAM data lists no resource type for pricing:GetProducts: only "*" can grant it. The role
    gets it and nothing else outside the table, its key, logs, X-Ray and its on-failure queue."""
    (info,) = iam_reference.expand("pricing:GetProducts")
    assert info.resource_types == ()
    _, resource = refresh
    statements = policies_of_role(template_dict, resource["Properties"]["Role"]["Fn::GetAtt"][0])
    pricing = [s for s in statements if any(a.startswith("pricing:") for a in as_list(s["Action"]))]
    assert pricing and all(as_list(s["Action"]) == ["pricing:GetProducts"] and s["Resource"] == "*"
                           for s in pricing)
    services = {a.split(":")[0] for s in statements for a in as_list(s["Action"])}
    assert services <= {"pricing", "dynamodb", "kms", "logs", "xray", "sqs"}, services


def test_a_deployment_refreshes_the_prices_through_the_function_itself(
        template_dict: dict[str, Any], wiring: dict[str, Any], refresh: tuple[str, dict[str, Any]]) -> None:
    """A fresh stack must not price every cost as unknown until the first scheduled refresh: a custom
    resource has CloudFormation invoke the refresh at deploy, and again when its code or configuration
    changes. Its provider is the refresh function (no other function, role or grant); CloudFormation invokes
    it asynchronously, so its failures reach the same alarmed queue as the schedule's."""
    function_id, function = refresh
    (on_deploy,) = [r for r in template_dict["Resources"].values()
                    if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"]
    properties = on_deploy["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # an Update whenever the function's code changes (the asset's key is its content hash)
    assert properties["Code"] == function["Properties"]["Code"]["S3Key"]
    # CloudFormation's wait is bounded (1 to 3,600 s, default 3,600): the function answers before refreshing
    assert 60 <= int(properties["ServiceTimeout"]) < 3600
    ((config_id, config),) = [(lid, c["Properties"])
                              for lid, c in resources(template_dict, "AWS::Lambda::EventInvokeConfig").items()
                              if c["Properties"]["FunctionName"] == {"Ref": function_id}]
    # created first: the deploy-time invocation's failures already have their on-failure destination
    assert config_id in on_deploy["DependsOn"]
    dead_letter = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert any(d["Value"] == {"Fn::GetAtt": [dead_letter, "QueueName"]}
               and a["Properties"]["AlarmActions"] == [{"Ref": wiring["alarmTopic"]}]
               for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
               for d in a["Properties"].get("Dimensions", []))
    # and the deployment's own permission to invoke it is one the IAM reference scopes to the function
    (invoke,) = iam_reference.expand("lambda:InvokeFunction")
    assert invoke.resource_types and any(p.fullmatch("arn:aws:lambda:us-east-1:123456789012:function:refresh")
                                         for p in invoke.arn_patterns)
    assert not [p for p in resources(template_dict, "AWS::Lambda::Permission").values()
                if p["Properties"]["FunctionName"] in ({"Ref": function_id}, {"Fn::GetAtt": [function_id, "Arn"]})]


def test_an_unusable_refresh_alarms(template_dict: dict[str, Any], wiring: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "PriceRefreshUnusable"]
    assert len(alarms) == 1
    assert alarms[0]["AlarmActions"] == [{"Ref": wiring["alarmTopic"]}] and alarms[0]["Threshold"] == 0
    assert {"Name": "service", "Value": "pricing"} in alarms[0]["Dimensions"]


def test_dashboard_shows_cost_cache_savings_and_refresh_health(template_dict: dict[str, Any]) -> None:
    body = join_text(next(iter(resources(template_dict, "AWS::CloudWatch::Dashboard").values()))
                     ["Properties"]["DashboardBody"])
    for metric in ("RunCostUSD", "CacheAvoidedCostUSD"):
        assert f'MetricName=\\\\"{metric}\\\\"' in body or f'MetricName=\\"{metric}\\"' in body, metric
    assert "PriceRefreshUnusable" in body and "PriceListLines" in body and "Price refresh" in body


@pytest.mark.parametrize(("key", "value"), [("priceRefreshSchedule", "daily"),
                                            ("priceListEndpointRegion", "us-west-2"),
                                            ("costTagSample", "perhaps")])
def test_bad_price_configuration_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        AutopilotConfig.from_context({key: value})


def test_price_configuration_accepts_an_endpoint_botocore_knows() -> None:
    import botocore.session

    data = botocore.session.get_session().get_data("endpoints")
    endpoint = next(iter(next(p for p in data["partitions"] if p["partition"] == "aws")
                         ["services"]["api.pricing"]["endpoints"]))
    config = AutopilotConfig.from_context({"priceListEndpointRegion": endpoint, "costTagSample": "false",
                                           "priceRefreshSchedule": "cron(0 4 * * ? *)"})
    assert (config.price_list_endpoint_region, config.cost_tag_sample) == (endpoint, False)
    assert AutopilotConfig.from_context({}).cost_tag_sample is True
