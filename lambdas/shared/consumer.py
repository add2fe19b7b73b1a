"""SQS consumption shared by every queue-fed function: Powertools batch processing with partial
batch responses, plus a flush step for writes that are cheaper in bulk than per record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.observability import logger


def process_sqs_batch(
    event: dict[str, Any],
    handle: Callable[[SQSRecord], Any],
    flush: Callable[[dict[str, Any]], set[str]] | None = None,
) -> dict[str, Any]:
    """Run `handle` on each record; then `flush` the per-record results in bulk.

    `flush` gets {message_id: result} of the records that succeeded and returns the message ids whose
    deferred writes failed; those are reported as failures too, so SQS redelivers only them.
    """
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    results: dict[str, Any] = {}

    def record_handler(record: SQSRecord) -> None:
        results[record.message_id] = handle(record)

    with processor(records=event.get("Records", []), handler=record_handler):
        processor.process()
    response: dict[str, Any] = dict(processor.response())
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    if flush:
        pending = {mid: result for mid, result in results.items() if mid not in failed}
        for message_id in sorted(flush(pending) - failed):
            response["batchItemFailures"].append({"itemIdentifier": message_id})
    if response["batchItemFailures"]:
        logger.warning("partial batch failure", extra={"failed": len(response["batchItemFailures"]),
                                                        "records": len(event.get("Records", []))})
    return response


def body_json(record: SQSRecord) -> Any:
    return json.loads(record.body)
