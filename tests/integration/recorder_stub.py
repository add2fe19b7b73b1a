"""The recorder's handler end to end against moto DynamoDB, HealthOmics answered by botocore's Stubber
(which validates every request and response against the service model and raises on any call not queued,
so "no extra HealthOmics call" is enforced by the stub itself).

Test modules take the fixtures with `pytest_plugins = ["tests.integration.recorder_stub"]`:
- `omics`: (client, stubber); queue the answers on the stubber; every queued answer must be used;
- `invoke`: the recorder's lambda_handler on an SQS event of the given message bodies, with that client
  (and a Lambda context with the whole time budget left, unless one is given);
- `repo`: the provenance repository over the test table, to read what was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import recorder.handler as handler_module
from shared.provenance.repository import ProvenanceRepository
from shared.settings import get_settings
from tests.factories import REGION, FakeLambdaContext, sqs_event


@pytest.fixture
def omics() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("omics", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def invoke(
    table_name: str, omics: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., dict[str, Any]]]:
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    get_settings.cache_clear()
    handler_module._recorder.cache_clear()
    monkeypatch.setattr(handler_module, "omics_client_for", lambda *_a, **_k: omics[0])

    def _invoke(bodies: list[dict[str, Any]], context: FakeLambdaContext | None = None) -> dict[str, Any]:
        return handler_module.lambda_handler(sqs_event(bodies), context or FakeLambdaContext())

    yield _invoke
    handler_module._recorder.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def repo(table_name: str) -> ProvenanceRepository:
    return ProvenanceRepository(table_name, boto3.client("dynamodb"))
