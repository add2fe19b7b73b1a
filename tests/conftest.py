"""Test-wide fixtures: an offline AWS environment (moto) and the provenance table."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

import stacks  # noqa: F401  (first: quiets jsii's raw-bytes Node banner before any test imports aws_cdk)
from tests import synth_cache
from tests.factories import create_provenance_table


def pytest_configure(config: pytest.Config) -> None:
    """Every process of the run (each xdist worker too) shares one synthesis per stack context."""
    synth_cache.install(config.rootpath / ".pytest_cache" / "synth")


def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account: fake credentials and a fixed region. Module-scoped fixtures
    (one moto setup shared by a module's tests) call it with their own `pytest.MonkeyPatch.context()`:
    they are set up before this function-scoped autouse fixture runs."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OmicsAutopilot")
    os.environ.setdefault("POWERTOOLS_DEV", "false")


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    offline_aws(monkeypatch)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def table_name(aws: None) -> str:
    return create_provenance_table(boto3.client("dynamodb"))
