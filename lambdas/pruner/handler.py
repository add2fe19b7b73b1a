"""Run-cache pruner Lambdas.

`lambda_handler`: invoked by EventBridge Scheduler (payload {"mode"?, "cacheIds"?, "scheduledTime"?})
or on demand (CLI / `aws lambda invoke`): starts one pass per cache and fans its work out; with
{"action": "settle", "cacheIds": [id], "passId"} (`autopilot cache settle`) settles that pass instead.
`worker_handler`: the SQS consumer of the fan-out queue: scans one key range per message.
"""

from __future__ import annotations

import shared.coldstart  # noqa: F401  (must stay first: loads the batch utility before pydantic)

# isort: split

from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pruner.config import PrunerConfig, PruneRequest, WorkItem
from pruner.dispatch import SqsDispatcher
from pruner.s3_store import S3_CONFIG, S3_DELETE_CONFIG, S3Store
from pruner.service import Pruner
from shared.consumer import process_sqs_batch
from shared.observability import logger, metrics, tracer
from shared.omics import omics_client_for
from shared.provenance.repository import ProvenanceRepository
from shared.settings import Settings, get_settings

# Stop while this much of the invocation is left: no DeleteObjects is sent from then on (one under throttling
# could outlast the invocation), the report and the checkpoint are written, the next invocation resumes.
SAFETY_SECONDS = 90


def _pruner() -> Pruner:
    settings = get_settings()
    config = PrunerConfig.from_env(default_cache_id=settings.run_cache_id)
    return _build(settings.model_dump_json(), config.model_dump_json())


@lru_cache(maxsize=1)
def _build(settings_json: str, config_json: str) -> Pruner:
    """One pruner (and its clients) per process and configuration."""
    settings = Settings.model_validate_json(settings_json)
    config = PrunerConfig.model_validate_json(config_json)
    if not config.queue_url:
        raise RuntimeError("PRUNE_QUEUE_URL is not set")
    return Pruner(
        ProvenanceRepository(settings.table_name),
        S3Store(boto3.client("s3", config=S3_CONFIG), delete_client=boto3.client("s3", config=S3_DELETE_CONFIG)),
        omics=lambda: omics_client_for(settings.omics_limits),
        config=config,
        send=SqsDispatcher(boto3.client("sqs"), config.queue_url),
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _pruner().handle(PruneRequest.model_validate(event or {}))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def worker_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    pruner = _pruner()

    def should_stop() -> bool:
        return context.get_remaining_time_in_millis() < SAFETY_SECONDS * 1000

    def handle(record: SQSRecord) -> str:
        item = WorkItem.model_validate_json(record.body)
        outcome = pruner.work(item, should_stop, invocation_id=f"{context.aws_request_id}:{record.message_id}")
        logger.info(
            "prune work item",
            extra={
                "cache_id": item.cache_id,
                "pass_id": item.pass_id,
                "item": item.item_id,
                "round": item.round,
                "outcome": outcome,
            },
        )
        return outcome

    return process_sqs_batch(event, handle)
