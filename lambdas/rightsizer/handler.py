"""Right-sizing Lambda: SQS (Run Status Change COMPLETED, or FAILED for its storage use) -> the run's
manifest -> provenance."""

from __future__ import annotations

import shared.coldstart  # noqa: F401  (must stay first: loads the batch utility before pydantic)

# isort: split

import os
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from rightsizer.dal import RETRY_CONFIG, ManifestLogs
from rightsizer.logic import Config, ManifestConsumer
from rightsizer.settings import SIZED_STATUSES, RightsizingSettings
from shared.consumer import body_json, process_sqs_batch
from shared.events import IgnoredEvent, MalformedEvent, RunStatusChange, parse_omics_event
from shared.observability import logger, metrics, tracer
from shared.provenance.keys import KeyTooLarge
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.rightsizing_repository import RightsizingRepository
from shared.rejections import record_rejected_event
from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.cost.prices import PriceList


def _prices() -> PriceList:
    """This region's current price list (the scheduled refresh's, cached per process), else the repository's
    dated snapshot: every figure names the list it used."""
    # Imported here: only a run still to right-size prices it, not an ignored, rejected or duplicate event
    # (cold start, issue 13).
    from shared.cost.price_source import current_price_list

    return current_price_list(os.environ.get("AWS_REGION", ""))


@lru_cache(maxsize=1)
def _logs_client() -> Any:
    """One CloudWatch Logs client per process (adaptive retries: GetLogEvents is an account-wide quota)."""
    return boto3.client("logs", config=RETRY_CONFIG)


def _consumer() -> ManifestConsumer:
    """Built per invocation from the environment (nothing at import time)."""
    settings, own = get_settings(), RightsizingSettings.from_env()
    repository = RightsizingRepository(ProvenanceRepository(settings.table_name))
    logs = ManifestLogs(_logs_client)
    return ManifestConsumer(repository, logs, _prices, Config(own.headroom, own.manifest_attempts))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    consumer = _consumer()
    consumer.time_left = lambda: context.get_remaining_time_in_millis() / 1000
    counts: Counter[str] = Counter()

    def handle(record: SQSRecord) -> None:
        raw = body_json(record)
        try:
            parsed = parse_omics_event(raw)
        except IgnoredEvent:
            counts["IgnoredEvents"] += 1
            return
        except (ValidationError, MalformedEvent) as error:
            record_rejected_event(consumer.repository.base, raw, str(error))
            counts["RejectedEvents"] += 1
            return
        if not isinstance(parsed, RunStatusChange) or parsed.detail.status not in SIZED_STATUSES:
            counts["IgnoredEvents"] += 1  # the rule routes only COMPLETED and FAILED runs; nothing else is ours
            return
        receives = int(record.attributes.approximate_receive_count or 1)
        try:
            outcome = consumer.handle(parsed.detail.run_id, parsed.detail.uuid, receives, parsed.detail.status)
        except KeyTooLarge as error:
            record_rejected_event(consumer.repository.base, raw, str(error))
            counts["RejectedEvents"] += 1
            return
        counts[f"Runs{outcome.kind.title()}"] += 1
        counts["ManifestTasks"] += outcome.tasks
        counts["ManifestLogPages"] += outcome.pages
        # Run id and counts only: task names and sample ids stay in the table.
        logger.info("run right-sized", extra={"run_id": parsed.detail.run_id, "outcome": outcome.kind,
                                              "tasks": outcome.tasks, "names": outcome.names,
                                              "log_pages": outcome.pages})

    response = process_sqs_batch(event, handle)
    for name, value in counts.items():
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return response
