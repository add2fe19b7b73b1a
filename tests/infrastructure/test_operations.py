"""Infrastructure properties of the operations capability (issue 7): the reconciler's schedule, function,
least-privilege role and forwarding, and the operations dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure.cfn import as_list, join_text, policies_of_role, props, resources


def _function_by_capability(template: dict[str, Any], capability: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in resources(template, "AWS::Lambda::Function").items():
        if (resource.get("Metadata") or {}).get("OmicsAutopilot::Function", {}).get("capability") == capability:
            return logical_id, resource
    raise AssertionError(f"no {capability} function")


@pytest.fixture(scope="module")
def reconciler(template_dict: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _function_by_capability(template_dict, "reconciler")


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for s in statements for action in as_list(s["Action"])}


def test_schedule_invokes_the_reconciler_at_the_configured_rate_with_its_scheduled_time(
        template_dict: dict[str, Any], wiring: dict[str, Any], reconciler: tuple[str, dict[str, Any]]) -> None:
    function_id, _ = reconciler
    schedules = [props(template_dict, lid) for lid in wiring["schedules"]
                 if props(template_dict, lid)["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}]
    assert len(schedules) == 1
    schedule = schedules[0]
    assert schedule["ScheduleExpression"] == "rate(15 minutes)" and schedule["State"] == "ENABLED"
    assert json.loads(schedule["Target"]["Input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert "DeadLetterConfig" in schedule["Target"] and schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_scheduler_role_may_only_invoke_the_reconciler(template_dict: dict[str, Any], wiring: dict[str, Any],
                                                       reconciler: tuple[str, dict[str, Any]]) -> None:
    function_id, _ = reconciler
    schedule = next(props(template_dict, lid) for lid in wiring["schedules"]
                    if props(template_dict, lid)["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]})
    role_id = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    statements = policies_of_role(template_dict, role_id)
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert invoke and all(function_id in json.dumps(s["Resource"]) for s in invoke)
    assert _actions(statements) <= {"lambda:InvokeFunction", "sqs:SendMessage", "sqs:GetQueueAttributes",
                                    "sqs:GetQueueUrl", "kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*",
                                    "kms:GenerateDataKey*"}
    trust = props(template_dict, role_id)["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and "aws:SourceAccount" in json.dumps(trust)


def test_reconciler_reads_healthomics_and_writes_nothing_there(template_dict: dict[str, Any],
                                                               reconciler: tuple[str, dict[str, Any]]) -> None:
    _, function = reconciler
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    omics = {a for a in _actions(policies_of_role(template_dict, role_id)) if a.startswith("omics:")}
    assert omics == {"omics:GetRun", "omics:ListRuns", "omics:ListRunTasks", "omics:GetBatch", "omics:ListRunsInBatch"}


def test_reconciler_forwards_only_to_the_queues_of_omics_routed_consumers(
        template_dict: dict[str, Any], wiring: dict[str, Any], reconciler: tuple[str, dict[str, Any]]) -> None:
    _, function = reconciler
    environment = function["Properties"]["Environment"]["Variables"]
    assert environment["RECONCILE_STALE_MINUTES"] == "30"
    routes_text = join_text(environment["RECONCILE_FORWARD_ROUTES"])
    # the recorder is not a forward target (the reconciler records through the recorder's code itself)
    recorder_queue = wiring["consumers"]["recorder"]["queue"]
    assert recorder_queue not in routes_text
    if "rerunner" in wiring["consumers"]:
        assert wiring["consumers"]["rerunner"]["queue"] in routes_text
        assert '"status":["FAILED"]' in routes_text and '"status":["PROCESSED"]' in routes_text
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    sends = [s for s in policies_of_role(template_dict, role_id) if "sqs:SendMessage" in as_list(s["Action"])]
    sent_to = {r["Fn::GetAtt"][0] for s in sends for r in as_list(s["Resource"])}
    # its own schedule's dead-letter queue is the on-failure destination of its async invocations
    schedule_dlqs = {props(template_dict, lid)["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
                     for lid in wiring["schedules"]}
    sent_to -= schedule_dlqs
    assert recorder_queue not in sent_to
    assert sent_to == {c["queue"] for name, c in wiring["consumers"].items()
                       if c["queue"] in routes_text and name != "recorder"}


def test_reconciler_reserves_one_sweep_only_when_the_deployment_opts_in(
        reconciler: tuple[str, dict[str, Any]], byo_template_dict: dict[str, Any]) -> None:
    _, function = reconciler
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    assert function["Properties"]["Timeout"] == 300
    _, opted_in = _function_by_capability(byo_template_dict, "reconciler")  # reservedConcurrency=true
    assert opted_in["Properties"]["ReservedConcurrentExecutions"] == 1


def test_dashboard_graphs_every_requested_view(template_dict: dict[str, Any], wiring: dict[str, Any]) -> None:
    dashboards = resources(template_dict, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    body = join_text(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    for title in ("Runs by status", "Re-run decisions", "Batches in flight", "bytes reclaimed",
                  "Dead-letter queue depths", "Handler errors", "Handler duration"):
        assert title in body, title
    for metric in ("ActiveRuns", "RerunStarted", "UnresolvedFailures", "BatchesInFlight", "PruneBytesReclaimed",
                   "RecordsHealed", "RunEvents"):
        assert f'MetricName=\\\\"{metric}\\\\"' in body or f'MetricName=\\"{metric}\\"' in body, metric
    # every consumer's dead-letter queue and every function is on it
    for consumer in wiring["consumers"].values():
        assert consumer["deadLetterQueue"] in body
    for function_id in resources(template_dict, "AWS::Lambda::Function"):
        assert function_id in body, function_id


@pytest.mark.parametrize(("key", "value"), [("reconcileSchedule", "every 5 minutes"),
                                            ("reconcileSchedule", "rate(0 minutes)"),
                                            ("reconcileStaleMinutes", 1)])
def test_bad_reconcile_configuration_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        AutopilotConfig.from_context({key: value})


def test_reconcile_configuration_accepts_rate_and_cron() -> None:
    config = AutopilotConfig.from_context({"reconcileSchedule": "cron(0/10 * * * ? *)", "reconcileStaleMinutes": 90})
    assert (config.reconcile_schedule, config.reconcile_stale_minutes) == ("cron(0/10 * * * ? *)", 90)
