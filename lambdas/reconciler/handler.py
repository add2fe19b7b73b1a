"""Reconciler Lambda: invoked by EventBridge Scheduler (rate from config `reconcileSchedule`).

Payload: {"scheduledTime": "<aws.scheduler.scheduled-time>"} (optional). The scheduled time is the
sweep's reference "now"; without a usable one, shared.clock's now (the sandbox's virtual clock there).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from reconciler.logic import Forwarder, Reconciler, parse_routes
from shared.clock import utc_now
from shared.errors import RetryableError
from shared.observability import logger, metrics, tracer
from shared.omics import omics_client_for
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from shared.settings import get_settings
from shared.status import from_iso_time

ENV_STALE_MINUTES = "RECONCILE_STALE_MINUTES"
ENV_LIST_RUNS_ABOVE = "RECONCILE_LIST_RUNS_ABOVE"
ENV_FORWARD_ROUTES = "RECONCILE_FORWARD_ROUTES"
SAFETY_SECONDS = 30


def _recorder() -> Recorder:
    """Built per invocation; the HealthOmics client (and its call budget) is the process's."""
    settings = get_settings()
    return Recorder(ProvenanceRepository(settings.table_name), omics=lambda: omics_client_for(settings.omics_limits))


@lru_cache(maxsize=1)
def _sqs() -> Any:
    """One SQS client per process: each sweep reuses its connections (a client per invocation was a new one)."""
    return boto3.client("sqs")


def _forwarder() -> Forwarder | None:
    routes = parse_routes(os.environ.get(ENV_FORWARD_ROUTES))
    if not routes:
        return None
    sqs = _sqs()

    def send(queue_url: str, body: str) -> None:
        try:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        except ClientError as error:
            raise RetryableError(f"forwarding a healed event to {queue_url}: {error}") from error

    return Forwarder(routes, send)


def reference_time(event: dict[str, Any] | None) -> datetime:
    """The scheduler's scheduled time when it was passed (and is a real timestamp), else now (the sandbox
    points shared.clock at its virtual clock while a handler runs)."""
    value = (event or {}).get("scheduledTime")
    if isinstance(value, str):
        try:
            moment = from_iso_time(value)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc_now()


def _gauges(name: str, dimension: str, values: dict[str, int]) -> None:
    """One EMF document per dimension value (the dashboard graphs them by value)."""
    for value, count in sorted(values.items()):
        with single_metric(name=name, unit=MetricUnit.Count, value=count, namespace=metrics.namespace) as metric:
            metric.add_dimension(name=dimension, value=value)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stale = timedelta(minutes=float(os.environ.get(ENV_STALE_MINUTES, "30")))
    recorder = _recorder()
    recorder.time_left = lambda: context.get_remaining_time_in_millis() / 1000
    recorder.repository.time_left = recorder.time_left  # its pauses before resending stop short of the timeout
    reconciler = Reconciler(recorder, stale_after=stale,
                            list_runs_above=int(os.environ.get(ENV_LIST_RUNS_ABOVE, "25")),
                            time_left=recorder.time_left, safety_seconds=SAFETY_SECONDS,
                            forwarder=_forwarder())
    report = reconciler.sweep(reference_time(event))
    metrics.add_metric(name="RecordsHealed", unit=MetricUnit.Count, value=len(report.healed))
    metrics.add_metric(name="ReconcileChecked", unit=MetricUnit.Count,
                       value=report.runs_checked + report.batches_checked)
    metrics.add_metric(name="BatchesInFlight", unit=MetricUnit.Count, value=report.batches_in_flight)
    _gauges("ActiveRuns", "status", report.active_runs_by_status)
    _gauges("UnresolvedFailures", "failure_reason", report.unresolved_by_reason)
    summary = report.summary()
    logger.info("reconcile sweep", extra=summary)
    return summary
