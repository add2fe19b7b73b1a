"""The Lambda asset as deployed: built by the same bundling `cdk deploy` uses, offline from the wheelhouse.

Its botocore must know every HealthOmics operation and parameter our Lambda code calls (issue 10: the
runtime's botocore lags; one without the batch release has no start_run_batch and rejects
list_runs(batchId=...)). The calls are collected from the code by the AST scan the emulator's coverage
test uses (tests/sandbox/test_operation_coverage.py), with each call's keyword arguments; the model is
the one in the built asset, not the host's.
"""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from botocore.model import ServiceModel

from stacks.components.bundling import LocalPipBundling
from tests.sandbox.test_operation_coverage import ROOT, OmicsCall, scan_lambdas


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("asset")
    assert LocalPipBundling().try_bundle(str(output), image=cdk.DockerImage.from_registry("unused"))
    return output


def _asset_json(asset: Path, name: str) -> dict:
    (path,) = sorted((asset / "botocore" / "data" / "omics").glob(f"*/{name}.json*"))[-1:]
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return dict(json.loads(raw))


def _asset_omics_model(asset: Path) -> ServiceModel:
    return ServiceModel(_asset_json(asset, "service-2"), service_name="omics")


def _keywords(call: OmicsCall) -> set[str]:
    """The parameter names passed at one scanned call site (paginate(client, "op", key, **params) too)."""
    tree = ast.parse((ROOT / call.path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == call.line:
            func = node.func
            attr = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if attr in ("get_paginator",):
                continue
            names |= {k.arg for k in node.keywords if k.arg is not None}
    return names


def test_the_asset_bundles_its_own_pinned_botocore(asset: Path) -> None:
    pinned = {line.split("==")[0]: line.split("==")[1] for line in
              (ROOT / "lambdas" / "requirements.txt").read_text().splitlines() if "==" in line}
    for package in ("boto3", "botocore"):
        (dist,) = asset.glob(f"{package}-*.dist-info")
        assert dist.name == f"{package}-{pinned[package]}.dist-info"
    assert (asset / "recorder" / "handler.py").is_file() and not (asset / "requirements.txt").exists()


def test_bundled_botocore_has_every_operation_and_parameter_the_code_calls(asset: Path) -> None:
    model = _asset_omics_model(asset)
    paginated = set(_asset_json(asset, "paginators-1")["pagination"])  # these also take PaginationConfig
    calls = scan_lambdas()
    assert {"StartRunBatch", "GetBatch", "ListRunsInBatch", "GetRun"} <= {c.operation for c in calls}
    problems = []
    seen_parameters = set()
    for call in calls:
        if call.operation not in model.operation_names:
            problems.append(f"{call.path}:{call.line}: {call.operation} is not in the bundled botocore")
            continue
        members = set(model.operation_model(call.operation).input_shape.members)
        for name in sorted(_keywords(call)):
            seen_parameters.add((call.operation, name))
            if name not in members and not (name == "PaginationConfig" and call.operation in paginated):
                problems.append(f"{call.path}:{call.line}: {call.operation}({name}=...) unknown to bundled botocore")
    assert not problems, "\n".join(problems)
    assert ("ListRuns", "batchId") in seen_parameters or ("StartRunBatch", "defaultRunSetting") in seen_parameters
