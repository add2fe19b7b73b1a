"""HealthOmics calls that were throttled or cut short alarm (metrics OmicsThrottled / OmicsDeadlineExceeded,
emitted by lambdas/shared/omics.py with the function's service dimension). Uses the one shared synthesized
template."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.cfn import as_list, policies_of_role, resources

METRICS = ("OmicsThrottled", "OmicsDeadlineExceeded")


def _omics_callers(template: dict[str, Any]) -> set[str]:
    """Service names (POWERTOOLS_SERVICE_NAME) of the functions whose role may call HealthOmics."""
    services = set()
    for function in resources(template, "AWS::Lambda::Function").values():
        statements = policies_of_role(template, function["Properties"]["Role"]["Fn::GetAtt"][0])
        if any(str(a).lower().startswith("omics:") for s in statements if s.get("Effect") == "Allow"
               for a in as_list(s["Action"])):
            services.add(function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])
    return services


@pytest.mark.parametrize("metric", METRICS)
def test_every_function_that_calls_healthomics_alarms_on_the_metric(template_dict: dict[str, Any],
                                                                    wiring: dict[str, Any], metric: str) -> None:
    callers = _omics_callers(template_dict)
    assert {"recorder", "rerunner", "reconciler", "launcher"} <= callers
    alarms = [a["Properties"] for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == metric]
    alarmed = {d["Value"] for a in alarms for d in a["Dimensions"] if d["Name"] == "service"}
    assert alarmed == callers
    for alarm in alarms:
        assert alarm["Namespace"] == "OmicsAutopilot" and alarm["Statistic"] == "Sum"
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
            0, "GreaterThanThreshold", "notBreaching")
        assert alarm["AlarmActions"] == [{"Ref": wiring["alarmTopic"]}] == alarm["OKActions"]
        service = next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "service")
        assert alarm["AlarmDescription"].startswith(f"{service}: ")
