"""Real-account readiness (issue 10): the synthesized template checked against oracles we did not write.

- the IAM Service Authorization Reference that the installed cfn-lint ships (action -> resource types);
- cfn-lint itself, over the template, in every region botocore knows a HealthOmics endpoint for;
- the guide's service-role policy example (Service roles for AWS HealthOmics);
- Lambda's concurrency rules (reserved concurrency leaves a minimum unreserved; an SQS event source's
  maximum concurrency is at least 2) and its asynchronous invocation model (Scheduler invokes async).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import default_context
from stacks.components.encryption import EncryptionKey
from stacks.components.omics_resources import OmicsResources
from stacks.components.regions import supported_regions
from stacks.components.storage import Storage
from stacks.config import AutopilotConfig, ConfigError
from tests.infrastructure import iam_reference
from tests.infrastructure.cfn import as_list, join_text, policies_of_role, policy_statements, props, resources

GUIDE = Path(__file__).resolve().parents[1] / "fixtures" / "guide"


def _allow_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(lid, s) for lid, s in policy_statements(template) if s.get("Effect", "Allow") == "Allow"]


# --- IAM: every grant against the Service Authorization Reference ---------------------------------------


def _grant_problems(template: dict[str, Any]) -> tuple[list[str], set[str]]:
    """(problems, actions seen) of every Allow statement against cfn-lint's IAM data."""
    problems = []
    seen = set()
    for lid, statement in _allow_statements(template):
        arns = [iam_reference.render_arn(r, template) for r in as_list(statement["Resource"])]
        for action in as_list(statement["Action"]):
            verdicts = []
            for info in iam_reference.expand(action):
                seen.add(info.action)
                if not info.resource_types:
                    verdicts.append(("*" in arns, f"{info.action} supports no resource-level permission, "
                                                  f"granted on {arns}"))
                else:
                    granted = any(iam_reference.authorizes(info, arn) for arn in arns)
                    verdicts.append((granted, f"{info.action} authorizes on {info.resource_types}, granted on {arns}"))
            # An exact action must match; a CDK grant's wildcard (s3:List*) must match for some member.
            failed = [why for ok, why in verdicts if not ok]
            if failed if "*" not in action else len(failed) == len(verdicts):
                problems.extend(f"{lid}: {why}" for why in failed)
    return problems, seen


@pytest.mark.parametrize("which", ["default", "bring-your-own"])
def test_every_action_is_granted_on_a_resource_type_it_authorizes_on(which, template_dict, byo_template_dict):
    """Given the synthesized template, when each Allow statement's actions are looked up in cfn-lint's IAM
    data, then an action without resource-level permission is granted on "*" (any ARN there never matches:
    AccessDenied, like ListRuns on run/*), and an action with resource types is granted on an ARN of one."""
    template = template_dict if which == "default" else byo_template_dict
    problems, seen = _grant_problems(template)
    assert not problems, "\n".join(problems)
    assert {"omics:getrun", "omics:listruns", "omics:startrunbatch"} <= seen  # not vacuous


def test_the_check_catches_list_runs_granted_on_run_resources(template_dict) -> None:
    """Control: the grant issue 10 reproduced (ListRuns on run/*) is reported by the same check."""
    broken = json.loads(json.dumps(template_dict))
    for _, statement in _allow_statements(broken):
        if "omics:ListRuns" in as_list(statement["Action"]):
            statement["Resource"] = "arn:<AWS::Partition>:omics:<AWS::Region>:<AWS::AccountId>:run/*"
    problems, _ = _grant_problems(broken)
    assert problems and all("omics:listruns supports no resource-level permission" in p for p in problems)


def test_star_is_granted_only_for_actions_without_resource_level_permission(template_dict) -> None:
    for lid, statement in _allow_statements(template_dict):
        if "*" in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                scoped = [i.action for i in iam_reference.expand(action) if i.resource_types]
                assert not scoped, f"{lid}: {scoped} could be scoped to a resource but are granted on *"


def test_list_runs_has_no_resource_type_in_the_reference_and_is_granted_on_star(template_dict) -> None:
    """The reproduction of issue 10 item 1: ListRuns on run/* is AccessDenied for the reconciler's sweep
    (> 25 stale runs) and the re-runner's list_runs(batchId=...)."""
    (info,) = iam_reference.expand("omics:ListRuns")
    assert info.resource_types == ()
    granted = {}
    for function in resources(template_dict, "AWS::Lambda::Function").values():
        capability = function["Metadata"]["OmicsAutopilot::Function"]["capability"]
        for statement in policies_of_role(template_dict, function["Properties"]["Role"]["Fn::GetAtt"][0]):
            if "omics:ListRuns" in as_list(statement["Action"]):
                granted[capability] = as_list(statement["Resource"])
    assert granted == {"reconciler": ["*"], "rerunner": ["*"]}


# --- cfn-lint over the template -------------------------------------------------------------------------


def cfn_lint(template: Mapping[str, Any], regions: list[str]) -> list[Any]:
    """cfn-lint's matches for a template in these regions, as `cfnlint.api.lint` finds them (its steps, with the
    rules loaded once: `_cfn_lint_rules`). cfn-lint is imported here, not at the top: both workers of `make test`
    collect this module and one runs it (cfn-lint with sympy: 0.45-0.55 CPU-s of import)."""
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import run_template_by_data

    decoded, errors = decode_str(json.dumps(template))
    if errors:
        return errors
    return list(run_template_by_data(decoded, ConfigMixIn(**ManualArgs(regions=regions)), _cfn_lint_rules()))


@functools.cache
def _cfn_lint_rules() -> Any:
    """cfn-lint's rules, loaded once for every template this module lints, as its command line loads them once for
    all the templates it is given: each run configures and initializes every rule for its template and config
    (`Rules.run`), and which rules are loaded depends on no setting used here. `lint` loaded them for each
    template (0.3-0.6 CPU-s each, four lints)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn()).rules


@pytest.fixture
def getatts_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """cfn-lint lists a template's valid GetAtts afresh for every Fn::GetAtt it checks (496 times per lint of the
    default stack: a quarter of its time, measured with cProfile). The list depends only on the template's
    resources and regions, which linting does not change, and its two readers (rules GetAtt and SubNeeded) only
    read it: one list per template object."""
    from cfnlint.template import Template as CfnLintTemplate

    listed: dict[int, tuple[Any, Any]] = {}  # id(template) -> (template, its GetAtts): the id stays its own
    get_valid_getatts = CfnLintTemplate.get_valid_getatts

    def once(self: CfnLintTemplate) -> Any:
        if id(self) not in listed:
            listed[id(self)] = (self, get_valid_getatts(self))
        return listed[id(self)][1]

    monkeypatch.setattr(CfnLintTemplate, "get_valid_getatts", once)


@pytest.mark.parametrize("which", ["default", "bring-your-own"])
def test_cfn_lint_finds_no_error_in_any_healthomics_region(which, template_dict, byo_template_dict,
                                                           getatts_listed_once) -> None:
    template = template_dict if which == "default" else byo_template_dict
    matches = cfn_lint(template, list(supported_regions()))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"]
    assert errors == []


def test_supported_regions_are_where_cfn_lint_knows_the_run_cache_resource(template_dict) -> None:
    """botocore's omics endpoints (our list) and cfn-lint's per-region resource specs (another source)
    agree: the stack lints clean in each listed region (above) and fails on AWS::Omics::RunCache in a
    region outside it."""
    assert "us-east-1" in supported_regions() and "sa-east-1" not in supported_regions()
    # The stack's run cache alone: the region check is per resource type, and the whole template would only
    # add seconds of schema checks that pass (the test above runs them).
    run_caches = {name: r for name, r in template_dict["Resources"].items() if r["Type"] == "AWS::Omics::RunCache"}
    assert run_caches
    matches = cfn_lint({"Resources": run_caches}, ["sa-east-1"])
    assert any(m.rule.id == "E3006" and "AWS::Omics::RunCache" in m.message for m in matches)


# --- regions --------------------------------------------------------------------------------------------


def _omics_stack(region: str | None = None, outdir: Path | None = None,
                 **config: Any) -> tuple[cdk.Stack, OmicsResources]:
    app = cdk.App(context=default_context(), outdir=str(outdir) if outdir else None)  # the app's feature flags
    stack = cdk.Stack(app, "Omics", env=cdk.Environment(region=region) if region else None)
    key = EncryptionKey(stack, "Encryption", alias_prefix="test").key
    storage = Storage(stack, "Storage", key=key)
    omics = OmicsResources(stack, "Omics", config=AutopilotConfig.from_context(config), storage=storage, key=key)
    return stack, omics


def test_synthesis_for_a_region_without_healthomics_fails_naming_the_supported_ones() -> None:
    with pytest.raises(ConfigError, match=r"region: AWS HealthOmics .* not available in sa-east-1; deploy into one"):
        _omics_stack("sa-east-1")
    _omics_stack("eu-west-2")  # a supported region synthesizes


def test_a_region_agnostic_template_checks_the_region_before_creating_anything(template_dict) -> None:
    (rule,) = [r for name, r in template_dict["Rules"].items() if name.startswith("OmicsHealthOmicsRegion")]
    (assertion,) = rule["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"} and regions == list(supported_regions())
    assert "not available in this region" in assertion["AssertDescription"]


# --- the created service role ---------------------------------------------------------------------------


def test_service_role_log_permissions_are_the_guides(template_dict, wiring) -> None:
    """Service roles for AWS HealthOmics, 'Service role policy to start a run': stream actions on
    <WorkflowLog>:log-stream:*, CreateLogGroup on <WorkflowLog>:* (tests/fixtures/guide)."""
    guide = json.loads((GUIDE / "service-role-run-policy.json").read_text())
    expected = sorted(
        (sorted(s["Action"]), [r.replace("us-east-1", "<AWS::Region>").replace("123456789012", "<AWS::AccountId>")
                               .replace("arn:aws:", "arn:<AWS::Partition>:") for r in s["Resource"]])
        for s in guide["Statement"] if any(a.startswith("logs:") for a in s["Action"])
    )
    ours = sorted(
        (sorted(as_list(s["Action"])), [join_text(r) for r in as_list(s["Resource"])])
        for s in policies_of_role(template_dict, wiring["serviceRole"])
        if any(a.startswith("logs:") for a in as_list(s["Action"]))
    )
    assert ours == expected


def _synth_warnings(stack: cdk.Stack, outdir: Path) -> list[str]:
    """Warnings as synthesis reports them (annotationsInValidationReport: in validation-report.json)."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    app.synth()
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    return [v["description"] for r in report["pluginReports"] if r["pluginName"] == "Construct Annotations"
            for v in r["violations"] if v["severity"] == "warning"]


def test_configured_data_locations_are_readable_and_writable_with_their_keys(tmp_path: Path) -> None:
    stack, omics = _omics_stack(
        outdir=tmp_path,
        serviceRoleReadLocations="s3://lab-data/bams/,s3://reference-genomes",
        serviceRoleWriteLocations=["s3://lab-results/cohorts/"],
        runOutputUri="s3://lab-results/runs/",
        serviceRoleKmsKeyArns=["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab"],
    )
    template = Template.from_stack(stack).to_json()
    assert omics.service_role is not None
    cfn_role = omics.service_role.node.default_child
    assert isinstance(cfn_role, cdk.CfnElement)
    statements = {s["Sid"]: s for s in policies_of_role(template, stack.get_logical_id(cfn_role))}
    text = {sid: [join_text(r) for r in as_list(s["Resource"])] for sid, s in statements.items()}
    assert text["ReadDataLocations"] == ["arn:<AWS::Partition>:s3:::lab-data/bams/*",
                                         "arn:<AWS::Partition>:s3:::reference-genomes/*"]
    assert as_list(statements["ReadDataLocations"]["Action"]) == ["s3:GetObject"]
    assert text["WriteDataLocations"] == ["arn:<AWS::Partition>:s3:::lab-results/cohorts/*",
                                          "arn:<AWS::Partition>:s3:::lab-results/runs/*"]
    assert "s3:PutObject" in as_list(statements["WriteDataLocations"]["Action"])
    # listing is confined to the configured prefix; GetBucketLocation carries no s3:prefix, so no condition
    assert statements["ReadDataLocationsList0"]["Condition"] == {"StringLike": {"s3:prefix": ["bams/*"]}}
    assert as_list(statements["ReadDataLocationsList0"]["Action"]) == ["s3:ListBucket"]
    assert "Condition" not in statements["ReadDataLocationsList1"]  # a whole bucket
    assert "Condition" not in statements["ReadDataLocationsRegion"]
    assert statements["UseDataLocationKeys"]["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab"
    for statement in statements.values():
        assert not any(a.startswith("s3:Delete") for a in as_list(statement["Action"]))
    assert _synth_warnings(stack, tmp_path) == []
    # Neither shared template (conftest.py: default, BRING_YOUR_OWN) has a created role with locations outside the
    # stack: the same oracles check this one (cfn-lint in every HealthOmics region, cfn-lint's IAM data per grant).
    matches = cfn_lint(template, list(supported_regions()))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"] == []
    problems, _ = _grant_problems(template)
    assert not problems, "\n".join(problems)
    assert {s.get("Sid") for _, s in _allow_statements(template)} >= {  # the external grants were among those checked
        "ReadDataLocations", "ReadDataLocationsList0", "ReadDataLocationsRegion", "WriteDataLocations",
        "UseDataLocationKeys"}


def test_created_role_without_input_locations_warns_at_synthesis(tmp_path: Path) -> None:
    stack, _ = _omics_stack(outdir=tmp_path / "created")
    (warning,) = _synth_warnings(stack, tmp_path / "created")
    assert "serviceRoleReadLocations" in warning and "AccessDenied" in warning
    byo, _ = _omics_stack(outdir=tmp_path / "byo", omicsServiceRoleArn="arn:aws:iam::123456789012:role/lab-omics")
    assert _synth_warnings(byo, tmp_path / "byo") == []


# --- concurrency: deployable into an account with the smallest quota ------------------------------------


def test_default_stack_reserves_no_concurrency(template_dict) -> None:
    """An account whose Lambda concurrency quota is 10 can reserve none (Lambda keeps a minimum
    unreserved), so the default template reserves nothing and every SQS consumer is bounded by its
    mapping's maximum concurrency (at least 2, the AWS minimum)."""
    functions = resources(template_dict, "AWS::Lambda::Function")
    assert sum(f["Properties"].get("ReservedConcurrentExecutions", 0) for f in functions.values()) == 0
    assert not resources(template_dict, "AWS::Lambda::Alias")  # no provisioned concurrency either
    mappings = resources(template_dict, "AWS::Lambda::EventSourceMapping").values()
    assert mappings and all(m["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2 for m in mappings)


def test_opting_in_reserves_every_function_and_scheduled_ones_run_alone(byo_template_dict) -> None:
    wiring = byo_template_dict["Metadata"]["OmicsAutopilot::Wiring"]
    consumers = {c["function"] for c in wiring["consumers"].values()}
    for lid, function in resources(byo_template_dict, "AWS::Lambda::Function").items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        assert reserved >= 2 if lid in consumers else reserved == 1, lid


# --- scheduled functions: a failure reaches an alarmed queue --------------------------------------------


def _scheduled_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """function logical id -> its schedule's properties."""
    found = {}
    for schedule in resources(template, "AWS::Scheduler::Schedule").values():
        arn = schedule["Properties"]["Target"]["Arn"]
        found[arn["Fn::GetAtt"][0]] = schedule["Properties"]
    return found


def test_scheduled_function_errors_go_to_the_schedules_alarmed_dead_letter_queue(template_dict, wiring) -> None:
    """EventBridge Scheduler invokes Lambda asynchronously: its DLQ only gets undelivered invocations. A
    function error must reach a queue through the function's async on-failure destination."""
    scheduled = _scheduled_functions(template_dict)
    assert len(scheduled) >= 2  # the reconciler and the prune planner
    configs = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
               for c in resources(template_dict, "AWS::Lambda::EventInvokeConfig").values()}
    alarmed_queues = {d["Value"]["Fn::GetAtt"][0]
                      for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
                      for d in a["Properties"].get("Dimensions", []) if d["Name"] == "QueueName"
                      and a["Properties"].get("AlarmActions") == [{"Ref": wiring["alarmTopic"]}]}
    for function_id, schedule in scheduled.items():
        dead_letter = schedule["Target"]["DeadLetterConfig"]["Arn"]
        config = configs[function_id]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letter, function_id
        assert config["MaximumRetryAttempts"] == 2, function_id
        assert dead_letter["Fn::GetAtt"][0] in alarmed_queues, function_id
        role = props(template_dict, function_id)["Role"]["Fn::GetAtt"][0]
        sends = [s for s in policies_of_role(template_dict, role) if "sqs:SendMessage" in as_list(s["Action"])]
        assert any(dead_letter in as_list(s["Resource"]) for s in sends), function_id


def test_every_function_has_an_errors_alarm_that_notifies(template_dict, wiring) -> None:
    alarmed = {
        d["Value"]["Ref"]
        for a in resources(template_dict, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors"
        and a["Properties"]["AlarmActions"] == [{"Ref": wiring["alarmTopic"]}]
        for d in a["Properties"].get("Dimensions", []) if d["Name"] == "FunctionName"
    }
    functions = set(resources(template_dict, "AWS::Lambda::Function"))
    assert functions and functions <= alarmed
