"""Fixtures: moto S3/EventBridge, an emulator on a virtual clock, and the real boto3 omics client
over both transports (in-process hook and HTTP on localhost)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from sandbox.omics import FaultPlan, OmicsEmulator, TaskSpec, VirtualClock, mock_omics, serve_http
from sandbox.omics.specs import OutputSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "sandbox-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsRole"
OUT = f"s3://{BUCKET}/output"
START = datetime(2026, 1, 1, tzinfo=UTC)

THREE_TASKS = [
    TaskSpec("align", (), 600, (OutputSpec("bam", 2048),), cpus=8, memory=32),
    TaskSpec("call", ("align",), 300, (OutputSpec("vcf", 512),)),
    TaskSpec("report", ("call",), 60, (OutputSpec("html", 256),)),
]


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_OMICS", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def events(aws: None) -> Any:
    return boto3.client("events", region_name=REGION)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def emu(clock: VirtualClock, s3: Any, events: Any, faults: FaultPlan) -> OmicsEmulator:
    return OmicsEmulator(
        clock=clock, s3=s3, events=events, account_id=ACCOUNT, region=REGION, seed=0, faults=faults
    )


NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(params=["inprocess", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def omics(emu: OmicsEmulator, transport: str) -> Iterator[Any]:
    """The real boto3 omics client, talking to ``emu`` through the chosen transport."""
    if transport == "inprocess":
        with mock_omics(emu):
            yield boto3.client("omics", region_name=REGION, config=NO_RETRY)
    else:
        server = serve_http(emu)
        try:
            config = NO_RETRY.merge(Config(inject_host_prefix=False))
            yield boto3.client("omics", region_name=REGION, endpoint_url=server.url, config=config)
        finally:
            server.shutdown()


@pytest.fixture
def client(emu: OmicsEmulator) -> Iterator[Any]:
    """In-process client only, for behaviour tests."""
    with mock_omics(emu):
        yield boto3.client("omics", region_name=REGION, config=NO_RETRY)


@pytest.fixture
def workflow_id(emu: OmicsEmulator) -> str:
    return emu.register_workflow("germline", tasks=THREE_TASKS)


def start(client: Any, workflow_id: str, request_id: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "workflowId": workflow_id,
        "roleArn": ROLE,
        "outputUri": OUT,
        "requestId": request_id,
    }
    args.update(kw)
    return client.start_run(**args)


def put_json(s3: Any, key: str, doc: Any) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode())
    return f"s3://{BUCKET}/{key}"
