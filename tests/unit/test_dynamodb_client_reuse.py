"""Functions built per invocation (re-runner, right-sizer, reconciler, pricing) share one DynamoDB client per
process: a warm invocation reuses its connections and its retry state instead of a new client (and a new
TLS connection) each time, as Lambda's guidance for SDK clients says; a client for another region or
endpoint is another client."""

from __future__ import annotations

import pytest

from shared.provenance.repository import ProvenanceRepository


def test_repositories_of_one_process_share_their_dynamodb_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    first, second = ProvenanceRepository("table-a"), ProvenanceRepository("table-b")
    assert first.client is second.client

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    other_region = ProvenanceRepository("table-a")
    assert other_region.client is not first.client
    assert other_region.client.meta.region_name == "eu-west-1"

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4566")
    assert ProvenanceRepository("table-a").client is not other_region.client
