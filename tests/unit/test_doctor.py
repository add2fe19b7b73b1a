"""`autopilot doctor` checks that moto cannot serve: the service role's IAM policy simulation (moto has
no SimulatePrincipalPolicy: botocore's Stubber answers as IAM documents it) and the botocore model
inside a Lambda code package (built here from the installed botocore's own omics model)."""

from __future__ import annotations

import copy
import gzip
import io
import json
import zipfile
from typing import Any

import boto3
import botocore.loaders
import pytest
from botocore.stub import Stubber

from autopilot_cli.doctor import (
    BATCH_FEATURES,
    StackView,
    _deployed_view,
    check_function_botocore,
    check_service_role,
    exit_code,
    model_from_package,
    model_has,
)

ROLE = "arn:aws:iam::123456789012:role/omics-service"
OMICS_MODEL = botocore.loaders.Loader().load_service_model("omics", "service-2")


def _iam() -> Any:
    return boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _view(clients: dict[str, Any], outputs: dict[str, str] | None = None,
          functions: dict[str, tuple[str, dict[str, Any] | None]] | None = None) -> StackView:
    functions = functions or {}
    return StackView(
        "test", {"AWS::Lambda::Function": [(name, name) for name in functions]},
        outputs if outputs is not None else {"OmicsServiceRoleArn": ROLE, "RunOutputsBucketName": "stack-outputs"},
        clients.__getitem__, functions.__getitem__)


def _decision(stub: Stubber, action: str, resource: str, decision: str) -> None:
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [{"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision}]},
        {"PolicySourceArn": ROLE, "ActionNames": [action], "ResourceArns": [resource]})


def test_the_service_role_must_read_the_input_and_write_the_output_location() -> None:
    """Given a role that may read lab-data but not write the stack's runs/ prefix,
    When doctor checks it with --input, Then read and list pass, write fails with a fix, exit 1."""
    iam = _iam()
    with Stubber(iam) as stub:
        _decision(stub, "s3:GetObject", "arn:aws:s3:::lab-data/cohort/S1.bam", "allowed")
        _decision(stub, "s3:ListBucket", "arn:aws:s3:::lab-data", "allowed")
        _decision(stub, "s3:PutObject", "arn:aws:s3:::stack-outputs/runs/autopilot-doctor-probe", "implicitDeny")
        findings = list(check_service_role(_view({"iam": iam}), "s3://lab-data/cohort/S1.bam", None))
        stub.assert_no_pending_responses()
    assert [f.status for f in findings] == ["ok", "ok", "fail"]
    assert "s3:PutObject is implicitDeny" in findings[2].detail and "omicsServiceRoleArn" in findings[2].fix
    assert exit_code(findings) == 1


def test_without_an_input_uri_only_the_output_is_simulated() -> None:
    iam = _iam()
    with Stubber(iam) as stub:
        _decision(stub, "s3:PutObject", "arn:aws:s3:::elsewhere/out/autopilot-doctor-probe", "allowed")
        findings = list(check_service_role(_view({"iam": iam}), None, "s3://elsewhere/out"))
    assert [f.status for f in findings] == ["skip", "ok"]
    assert exit_code(findings) == 0


def test_a_caller_not_allowed_to_simulate_gets_a_warning_not_a_verdict() -> None:
    iam = _iam()
    with Stubber(iam) as stub:
        stub.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized")
        findings = list(check_service_role(_view({"iam": iam}), None, None))
    assert [f.status for f in findings] == ["skip", "warn"]
    assert "iam:SimulatePrincipalPolicy" in findings[1].fix


def _package(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _model_file(model: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(model).encode())


def test_a_package_whose_botocore_predates_the_batch_apis_fails() -> None:
    """The installed botocore's omics model has every batch feature our functions call; the same model
    without StartRunBatch and ListRuns.batchId (as botocore had before the batch release) does not."""
    assert model_has(OMICS_MODEL, BATCH_FEATURES) == []
    old = copy.deepcopy(OMICS_MODEL)
    del old["operations"]["StartRunBatch"]
    list_runs_input = old["operations"]["ListRuns"]["input"]["shape"]
    del old["shapes"][list_runs_input]["members"]["batchId"]
    current = model_from_package(_package({"botocore/data/omics/2022-11-28/service-2.json.gz": _model_file(OMICS_MODEL),
                                            "recorder/handler.py": b""}))
    stale = model_from_package(_package({"botocore/data/omics/2022-11-28/service-2.json": json.dumps(old).encode()}))
    bare = model_from_package(_package({"recorder/handler.py": b""}))
    assert bare == ("package without botocore", None)
    findings = list(check_function_botocore(_view({}, functions={"current": current, "stale": stale, "bare": bare})))
    assert [f.status for f in findings] == ["ok", "fail", "fail"]
    assert "lacks StartRunBatch, ListRuns.batchId" in findings[1].detail
    assert "bundling" in findings[2].fix


def test_a_deployed_stack_is_read_from_cloudformation_and_each_package_once() -> None:
    """Given a stack with two functions sharing one code package,
    When doctor builds its view, Then resources come from ListStackResources and the package is
    downloaded once (GetFunction's code location), nothing invoked."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    cfn, lam = session.client("cloudformation"), session.client("lambda")
    downloads: list[str] = []
    package = _package({"botocore/data/omics/2022-11-28/service-2.json.gz": _model_file(OMICS_MODEL)})

    class Target:
        stack = "omics-autopilot"
        outputs = {"RunCacheId": "1"}

        class clients:
            @staticmethod
            def client(service: str) -> Any:
                return {"cloudformation": cfn, "lambda": lam}[service]

    with Stubber(cfn) as cfn_stub, Stubber(lam) as lam_stub:
        cfn_stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": lid, "PhysicalResourceId": name, "ResourceType": "AWS::Lambda::Function",
             "LastUpdatedTimestamp": "2026-01-01T00:00:00Z", "ResourceStatus": "CREATE_COMPLETE"}
            for lid, name in (("RecorderFn", "rec"), ("LauncherFn", "lau"))]})
        for name in ("rec", "lau"):
            lam_stub.add_response("get_function", {"Configuration": {"CodeSha256": "abc123"},
                                                   "Code": {"Location": "https://example/pkg.zip"}},
                                  {"FunctionName": name})
        view = _deployed_view(Target(), fetch=lambda url: downloads.append(url) or package)
        findings = list(check_function_botocore(view))
    assert [f.status for f in findings] == ["ok", "ok"]
    assert downloads == ["https://example/pkg.zip"]


@pytest.mark.parametrize("uri", ["lab-data/x", "s3://Bad_Bucket/x", "s3://lab-data"])
def test_a_bad_input_uri_is_a_usage_error(uri: str) -> None:
    from autopilot_cli.errors import UsageError

    with pytest.raises(UsageError):
        list(check_service_role(_view({"iam": _iam()}), uri, None))


def test_doctor_needs_a_stack_not_a_table() -> None:
    from autopilot_cli.app import main

    stdout, stderr = io.StringIO(), io.StringIO()
    assert main(["--table", "provenance", "--region", "us-east-1", "doctor"], stdout=stdout, stderr=stderr) == 2
    assert "pass --stack NAME" in stderr.getvalue()


def test_an_unknown_stack_is_not_found() -> None:
    from autopilot_cli.errors import NotFound

    cfn = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    class Target:
        stack = "nope"

        class clients:
            @staticmethod
            def client(service: str) -> Any:
                return cfn

    with Stubber(cfn) as stub, pytest.raises(NotFound, match="stack nope not found"):
        stub.add_client_error("list_stack_resources", "ValidationError", "Stack with id nope does not exist")
        _deployed_view(Target(), fetch=lambda url: b"")
