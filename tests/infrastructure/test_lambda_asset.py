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


def test_every_module_ships_bytecode_for_the_lambda_python(asset: Path) -> None:
    """Issue 13: cold starts as deployed. Each module has a .pyc compiled by CPython 3.13 (cache tag
    cpython-313, the Lambda runtime's), hash-based and unchecked (the asset zip keeps no source mtimes)."""
    sources = [p for p in asset.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 500  # our code and the bundled packages
    magics = set()
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert compiled.is_file(), source.relative_to(asset)
        header = compiled.read_bytes()[:8]
        magics.add(header[:4])
        assert int.from_bytes(header[4:8], "little") == 0b01, compiled  # hash-based, not checked
    assert len(magics) == 1 and not list(asset.rglob("*.cpython-311.pyc"))
