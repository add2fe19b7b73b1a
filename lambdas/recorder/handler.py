"""Provenance recorder Lambda: SQS (EventBridge aws.omics status events) -> provenance table."""

from __future__ import annotations

import shared.coldstart  # noqa: F401  (must stay first: loads the batch utility before pydantic)

# isort: split

from collections import Counter
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import ValidationError

from shared.consumer import body_json, process_sqs_batch
from shared.errors import RetryableError
from shared.events import IgnoredEvent, MalformedEvent, parse_omics_event
from shared.observability import logger, metrics, tracer
from shared.omics import omics_client_for
from shared.provenance.keys import KeyTooLarge
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from shared.rejections import record_rejected_event
from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.cost.prices import PriceList


def _current_prices(region: str | None) -> PriceList:
    """The run's region -> the table's current list (scheduled refresh), else the repository snapshot."""
    # Imported here: only a run's enrichment prices it, and most events are not that (cold start, issue 13).
    from shared.cost.price_source import current_price_list

    return current_price_list(region or "")


@lru_cache(maxsize=1)
def _recorder() -> Recorder:
    settings = get_settings()
    return Recorder(ProvenanceRepository(settings.table_name), omics=lambda: omics_client_for(settings.omics_limits),
                    prices=_current_prices)


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3  # only a continuation needs it

    return boto3.client("sqs")


def _send_continuation(body: str, why: str) -> None:
    """The same event again, as a new message on the recorder's own queue: recorded again, it resumes from the
    cursor its page loop saved. A new message has a receive count of its own, so progress never counts towards
    the DLQ; a record that makes none fails and is redelivered as before."""
    queue_url = get_settings().continuation_queue_url
    if not queue_url:  # nowhere to continue (a deployment without it): SQS redelivers this message instead
        raise RetryableError(why)
    try:
        _sqs().send_message(QueueUrl=queue_url, MessageBody=body)
    except ClientError as error:  # the cursor is saved: the redelivery resumes from it
        raise RetryableError(f"{why}; continuation not sent: {error.response.get('Error', {}).get('Code')}") from error


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    recorder = _recorder()
    recorder.begin_invocation(lambda: context.get_remaining_time_in_millis() / 1000)
    recorder.repository.time_left = recorder.time_left  # its pauses before resending stop short of the timeout
    counts: Counter[str] = Counter()  # one metric value per batch, not one per record
    dollars: dict[str, Decimal] = {}  # RunCostUSD / CacheAvoidedCostUSD: only figures that are known

    def handle(record: SQSRecord) -> list[dict[str, Any]]:
        raw = body_json(record)
        try:
            event_model = parse_omics_event(raw)
        except IgnoredEvent as ignored:
            counts["IgnoredEvents"] += 1
            logger.info("ignored event", extra={"detail_type": ignored.detail_type, "source": ignored.source})
            return []
        except (ValidationError, MalformedEvent) as error:
            record_rejected_event(recorder.repository, raw, str(error))
            counts["RejectedEvents"] += 1
            return []
        try:
            outcome = recorder.record(event_model)
        except KeyTooLarge as error:  # checked before any write: one bad record never sinks the batch
            record_rejected_event(recorder.repository, raw, str(error))
            counts["RejectedEvents"] += 1
            return []
        if outcome.continuation:
            _send_continuation(record.body, outcome.continuation)
            counts["Continuations"] += 1
            logger.info("continuation sent", extra={"kind": outcome.kind, "entity_id": outcome.entity_id})
        counts[f"{outcome.kind.title()}Events"] += 1
        counts["RunsEnriched"] += int(outcome.enriched)
        if outcome.cost is not None:
            for name, usd in (("RunCostUSD", outcome.cost.usd), ("CacheAvoidedCostUSD", outcome.cost.avoided_usd)):
                if usd is not None:
                    dollars[name] = dollars.get(name, Decimal(0)) + usd
        return outcome.history

    def flush(histories: dict[str, list[dict[str, Any]]]) -> set[str]:
        owner = {(item["pk"], item["sk"]): mid for mid, items in histories.items() for item in items}
        failed = recorder.repository.put_items([item for items in histories.values() for item in items])
        return {owner[(item["pk"], item["sk"])] for item in failed}

    response = process_sqs_batch(event, handle, flush)
    for name, value in counts.items():
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for name, usd in dollars.items():
        metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=float(usd))
    return response
