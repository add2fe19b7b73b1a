"""The deploy-time price refresh (issue 14): CloudFormation's custom resource request, handled by the price
refresh itself, loads AWS's list when the stack is deployed instead of at the first scheduled refresh.

Oracles: the request and response fields of CloudFormation's custom resource reference (RequestType,
ResponseURL, StackId, RequestId, LogicalResourceId, PhysicalResourceId; a response of at most 4,096 bytes
PUT to the presigned URL); botocore's Stubber over a real `pricing` client validates each GetProducts
request and response against the Price List Service model. Prices are TEST FIGURES, not AWS prices."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

import pricing.handler as handler_module
from pricing.logic import FAILED, REFRESHED
from shared.cost.price_source import PriceStore
from shared.errors import HandlerFailed, RetryableError
from shared.provenance.repository import ProvenanceRepository
from shared.settings import get_settings
from tests.factories import FakeLambdaContext
from tests.unit.test_cost_prices import product
from tests.unit.test_price_refresh import REGION, stubbed

STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/omics-autopilot/5b6d2f40-0000-0000-0000-000000000000"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned?X-Amz-Signature=x"


def request(kind: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": kind, "ServiceToken": f"arn:aws:lambda:{REGION}:123456789012:function:refresh",
            "ResponseURL": RESPONSE_URL, "StackId": STACK_ID, "RequestId": f"{kind}-request-1",
            "LogicalResourceId": "PricingRefreshOnDeploy", "ResourceType": "Custom::PriceRefresh",
            "ResourceProperties": {"ServiceToken": "...", "Code": "abc.zip"}, **extra}


@pytest.fixture
def happened(table_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What the handler did, in order: ("answer", the PUT request) and ("GetProducts", params)."""
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setenv("PRICE_REGION", REGION)
    get_settings.cache_clear()
    log: list[Any] = []

    class Answered:
        def __enter__(self) -> Answered:
            return self

        def __exit__(self, *_: Any) -> None:
            return None

        def read(self) -> bytes:
            return b""

    def urlopen(req: urllib.request.Request, timeout: float) -> Answered:
        log.append(("answer", req))
        return Answered()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    yield log
    get_settings.cache_clear()


def use_client(monkeypatch: pytest.MonkeyPatch, happened: list[Any], **stub: Any) -> Any:
    client, stubber = stubbed(**stub)
    client.meta.events.register("provide-client-params.pricing.GetProducts",
                                lambda params, **_: happened.append(("GetProducts", params)))
    monkeypatch.setattr(handler_module, "pricing_client", lambda endpoint: client)
    return stubber


def answer_of(entry: tuple[str, Any]) -> dict[str, Any]:
    kind, req = entry
    assert kind == "answer" and req.get_method() == "PUT" and req.full_url == RESPONSE_URL
    assert req.get_header("Content-type") == "" and len(req.data) <= 4096
    return json.loads(req.data)  # type: ignore[no-any-return]


def store_of(table_name: str) -> PriceStore:
    return PriceStore(ProvenanceRepository(table_name, boto3.client("dynamodb")))


def emitted(out: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in out.splitlines():
        if '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                found.update({m["Name"]: document[m["Name"]] for m in directive["Metrics"]})
    return found


def test_a_new_stack_gets_awss_prices_at_deploy_answered_before_the_refresh(happened, table_name,
                                                                           monkeypatch) -> None:
    # Given a fresh stack: no price list in the table (costs would be unknown until the first schedule),
    store = store_of(table_name)
    assert store.current(REGION) is None
    stubber = use_client(monkeypatch, happened, pages=[[product("omics.m.xlarge", REGION, "0.2500000000")]])
    # When CloudFormation sends the custom resource's Create request,
    summary = handler_module.lambda_handler(request("Create"), FakeLambdaContext())
    stubber.assert_no_pending_responses()
    # then CloudFormation is answered SUCCESS first, with the request's identity copied verbatim,
    assert [kind for kind, _ in happened] == ["answer", "GetProducts"]
    body = answer_of(happened[0])
    assert body["Status"] == "SUCCESS"
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        STACK_ID, "Create-request-1", "PricingRefreshOnDeploy")
    assert body["PhysicalResourceId"] == f"{STACK_ID}/PricingRefreshOnDeploy"
    # and the region's current list is AWS's (read from the Price List API), not the empty snapshot.
    current = store.current(REGION)
    assert summary["outcome"] == REFRESHED and current is not None and current.list_id == summary["list_id"]
    assert current.instance_hourly("omics.m.xlarge", REGION) == Decimal("0.2500000000")


def test_an_update_keeps_the_physical_id_and_refreshes_again(happened, monkeypatch) -> None:
    # Given the function changed (its code or configuration: the resource's properties), When Update arrives,
    stubber = use_client(monkeypatch, happened, pages=[[product("omics.m.xlarge", REGION, "0.2500000000")]])
    handler_module.lambda_handler(request("Update", PhysicalResourceId="kept-id"), FakeLambdaContext())
    stubber.assert_no_pending_responses()
    # then the same physical id is answered (no replacement) and the prices are read again.
    assert [kind for kind, _ in happened] == ["answer", "GetProducts"]
    assert answer_of(happened[0])["PhysicalResourceId"] == "kept-id"


def test_a_delete_is_answered_and_reads_or_removes_nothing(happened, table_name, monkeypatch) -> None:
    use_client(monkeypatch, happened)  # no response stubbed: a GetProducts call would fail the test
    assert handler_module.lambda_handler(request("Delete", PhysicalResourceId="kept-id"),
                                         FakeLambdaContext()) == {"request": "Delete"}
    assert [kind for kind, _ in happened] == ["answer"] and answer_of(happened[0])["Status"] == "SUCCESS"
    assert store_of(table_name).refreshes(REGION) == []


def test_a_refused_price_list_api_does_not_fail_the_deployment_and_alarms(happened, table_name, monkeypatch,
                                                                         capsys) -> None:
    # Given a Price List API that refuses (AccessDenied: not worth retrying),
    use_client(monkeypatch, happened, error="AccessDeniedException")
    # When the deployment's request arrives,
    summary = handler_module.lambda_handler(request("Create"), FakeLambdaContext())
    # then the deployment was answered SUCCESS, the refresh is recorded FAILED (the snapshot stays in use:
    # costs unknown, never 0), and the PriceRefreshUnusable metric is 1 (its alarm notifies).
    assert answer_of(happened[0])["Status"] == "SUCCESS"
    assert summary["outcome"] == FAILED and "AccessDeniedException" in summary["error"]
    assert [r["outcome"] for r in store_of(table_name).refreshes(REGION)] == [FAILED]
    assert store_of(table_name).current(REGION) is None
    assert emitted(capsys.readouterr().out)["PriceRefreshUnusable"] == [1.0]


def test_a_throttled_refresh_is_answered_then_retried_by_lambda(happened, table_name, monkeypatch) -> None:
    # Given a throttled Price List API, When the deployment's request arrives, then CloudFormation is answered
    # SUCCESS and the invocation fails with the retryable error: Lambda's asynchronous retries, then the
    # schedule's alarmed dead-letter queue (the function's on-failure destination), take over.
    use_client(monkeypatch, happened, error="ThrottlingException")
    with pytest.raises(HandlerFailed, match="error_type=RetryableError, error_code=ThrottlingException") as raised:
        handler_module.lambda_handler(request("Create"), FakeLambdaContext())
    assert isinstance(raised.value.error, RetryableError)
    assert answer_of(happened[0])["Status"] == "SUCCESS"
    assert [r["outcome"] for r in store_of(table_name).refreshes(REGION)] == [FAILED]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://example.org/answer"])
def test_only_an_https_response_url_is_answered(happened, url) -> None:
    with pytest.raises(HandlerFailed, match="error_type=ValueError") as raised:
        handler_module.lambda_handler(request("Create", ResponseURL=url), FakeLambdaContext())
    assert "https" in str(raised.value.error)
    assert happened == []


def test_a_scheduled_event_is_not_a_deploy_request(happened, monkeypatch) -> None:
    stubber = use_client(monkeypatch, happened, pages=[[product("omics.m.xlarge", REGION, "0.2500000000")]])
    handler_module.lambda_handler({"scheduledTime": "2026-12-02T03:00:00Z"}, FakeLambdaContext())
    stubber.assert_no_pending_responses()
    assert [kind for kind, _ in happened] == ["GetProducts"]
