"""Price refresh Lambda: invoked by EventBridge Scheduler (config `priceRefreshSchedule`) or on demand
(`autopilot prices refresh`).

Payload: {"scheduledTime": "<aws.scheduler.scheduled-time>"} (optional): the refresh's date; or a
CloudFormation custom resource request (the deploy-time refresh, pricing/deploy.py), answered first. Reads the
prices of the function's own region (PRICE_REGION) from the Price List API endpoint botocore's data
gives for it (or PRICE_LIST_ENDPOINT_REGION), and stores them as a dated list in the provenance table.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from pricing.config import ENV_PRICE_LIST_ENDPOINT, ENV_PRICE_REGION, LINES_METRIC, UNUSABLE_METRIC
from pricing.deploy import answer_deploy_request, is_deploy_request
from pricing.logic import fetch_pages, refresh
from shared.clock import utc_now
from shared.cost.price_source import PriceStore
from shared.cost.prices import price_list_endpoint
from shared.observability import logger, metrics, tracer
from shared.provenance.repository import ProvenanceRepository
from shared.settings import get_settings
from shared.status import from_iso_time

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30)


def pricing_client(endpoint_region: str) -> Any:
    return boto3.client("pricing", region_name=endpoint_region, config=RETRY_CONFIG)


def refresh_time(event: dict[str, Any] | None) -> datetime:
    value = (event or {}).get("scheduledTime")
    if isinstance(value, str):
        try:
            moment = from_iso_time(value)
        except ValueError:
            return utc_now()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc_now()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_deploy_request(event) and not answer_deploy_request(event):
        return {"request": event["RequestType"]}  # a Delete: price lists are kept
    region = os.environ.get(ENV_PRICE_REGION) or boto3.session.Session().region_name
    endpoint = price_list_endpoint(region, os.environ.get(ENV_PRICE_LIST_ENDPOINT) or None)
    store = PriceStore(ProvenanceRepository(get_settings().table_name))
    report = refresh(fetch_pages(pricing_client(endpoint), region), region=region, endpoint=endpoint,
                     store=store, now=refresh_time(event))
    metrics.add_metric(name=UNUSABLE_METRIC, unit=MetricUnit.Count, value=0 if report.usable else 1)
    metrics.add_metric(name=LINES_METRIC, unit=MetricUnit.Count, value=report.line_count)
    summary = report.summary()
    (logger.info if report.usable else logger.error)("price refresh", extra=summary)
    return summary
