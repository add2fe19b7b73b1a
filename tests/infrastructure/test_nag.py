"""cdk-nag (AwsSolutions + HIPAA Security) runs on every synth: nothing unsuppressed, every
suppression justified and scoped below the stack."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from stacks.app_builder import build_app, default_context
from stacks.components.nag import qualified

PACKS = {"AwsSolutions", "HIPAA.Security"}


def test_both_packs_ran_and_report_no_unsuppressed_finding(validation_report) -> None:
    reports = {report["pluginName"]: report for report in validation_report["pluginReports"]}
    # Construct annotations join the report (feature flag annotationsInValidationReport): warnings only,
    # and only the deliberate one (the created service role has no input data locations by default).
    annotations = reports.pop("Construct Annotations", {"violations": []})
    assert {v["severity"] for v in annotations["violations"]} <= {"warning"}
    assert all("serviceRoleReadLocations" in v["description"] for v in annotations["violations"])
    assert set(reports) == PACKS
    for name, report in reports.items():
        assert report["violations"] == [], name
        assert report["conclusion"] == "success", name


def test_every_suppression_is_justified_and_scoped_below_the_stack(validation_report) -> None:
    suppressed = [
        s for report in validation_report["pluginReports"] for s in report.get("suppressedViolations", [])
    ]
    assert suppressed, "expected the documented suppressions to be reported"
    for suppression in suppressed:
        where = suppression["acknowledgedAt"]
        assert where.count("/") >= 1, f"{suppression['ruleName']} acknowledged at stack level ({where})"
        assert len(suppression["reason"].split()) >= 8, suppression["ruleName"]
        for construct in suppression["violatingConstructs"]:
            assert construct["constructPath"].startswith(where + "/"), (where, construct["constructPath"])


def test_acknowledgment_ids_are_plugin_qualified() -> None:
    assert qualified("AwsSolutions-IAM5[Resource::*]") == "AwsSolutions::AwsSolutions-IAM5[Resource::*]"
    assert qualified("HIPAA.Security-LambdaDLQ") == "HIPAA.Security::HIPAA.Security-LambdaDLQ"
    with pytest.raises(ValueError, match="not a rule"):
        qualified("Serverless-LambdaTracing")


def test_a_non_compliant_resource_fails_synthesis(tmp_path: Path) -> None:
    """Control: the app's validation really rejects a finding (the checks are not a no-op): cdk-nag's, and CDK's
    built-in CloudFormation validation (on in `cdk synth`; stacks/synth.py runs it for the default and the fully
    configured apps only), which this app runs as `cdk synth` does."""
    app = cdk.App(context={**default_context(), "bundling": "false"}, outdir=str(tmp_path))
    stack = build_app(app)
    s3.Bucket(stack, "PlainBucket")  # no TLS policy, no logging, no KMS, no versioning
    cdk.CfnResource(stack, "Misspelt", type="AWS::CloudWatch::Dashboard", properties={"DashboardBodyy": "{}"})
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {
        (report["pluginName"], violation["ruleName"], construct["constructPath"])
        for report in report["pluginReports"] if report["pluginName"] != "Construct Annotations"
        for violation in report["violations"]
        for construct in violation["violatingConstructs"]
    }
    builtin = {finding for finding in findings if finding[0] == "CloudFormation Validate"}
    assert {path for _, _, path in builtin} == {"OmicsAutopilot/Misspelt"}, builtin
    findings -= builtin
    assert ("AwsSolutions", "AwsSolutions-S10", "OmicsAutopilot/PlainBucket/Resource") in findings
    assert (
        "HIPAA.Security",
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "OmicsAutopilot/PlainBucket/Resource",
    ) in findings
    assert {path for _, _, path in findings} == {"OmicsAutopilot/PlainBucket/Resource"}


def test_in_process_synthesis_runs_the_builtin_validation_for_the_default_app_and_where_asked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """stacks/synth.py: CDK's built-in CloudFormation validation (the control above shows it rejecting a
    template) runs for the default app, as `cdk synth` builds it, and where a caller asks for it; the flag
    reaches cdk.App and never the app's context."""
    from stacks import synth

    made: list[dict[str, object]] = []
    monkeypatch.setattr(cdk, "App", lambda **kwargs: made.append(kwargs))
    configured = {"alarmEmail": "a@example.org"}
    for context, asked in (({}, None), (configured, None), (configured, True)):
        synth._new_app(json.loads(synth._frozen(context, asked)), str(tmp_path))
    assert [app["builtin_cloud_formation_validation"] for app in made] == [True, False, True]
    assert not any(synth.BUILTIN_VALIDATION in app["context"] for app in made)  # type: ignore[operator]
    assert made[1]["context"]["alarmEmail"] == "a@example.org"  # type: ignore[index]
