"""Launcher Lambda.

Two ways in:
- SQS (the launch queue): EventBridge events, either S3 `Object Created` under `submissions/` (a sheet was
  uploaded) or aws.omics `RunBatch Status Change` FAILED (a batch failed as a whole);
- direct invocation (the CLI's `submit`): {"sheet": <CSV/JSON text or JSON sheet object>, "name": <str>,
  "format": "csv" | "json" (optional), "dryRun": <bool>} -> the outcome as a dict.
"""

from __future__ import annotations

import shared.coldstart  # noqa: F401  (must stay first: loads the batch utility before pydantic)

# isort: split

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from launcher.config import LauncherConfig
from launcher.events import ObjectCreated
from launcher.logic import Launcher
from launcher.store import LauncherStore
from shared.consumer import body_json, process_sqs_batch
from shared.errors import PermanentError, RetryableError
from shared.events import IgnoredEvent, RunBatchStatusChange, parse_omics_event
from shared.observability import log_error, logger, metrics, tracer
from shared.omics import omics_client_for
from shared.provenance.repository import ProvenanceRepository
from shared.rejections import record_rejected_event
from shared.settings import Settings


def _count(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


_launchers: dict[str, Launcher] = {}


def _launcher() -> Launcher:
    """One Launcher per configuration (reused across warm invocations; rebuilt when the environment
    changes, as in the sandbox where several stacks share one process)."""
    settings = Settings.from_env()
    config = LauncherConfig.from_env()
    key = settings.model_dump_json() + config.model_dump_json()
    if key not in _launchers:
        _launchers.clear()
        _launchers[key] = Launcher(ProvenanceRepository(settings.table_name), LauncherStore(),
                                   omics=lambda: omics_client_for(settings.omics_limits), config=config,
                                   alarm_topic_arn=settings.alarm_topic_arn, metric=_count)
    return _launchers[key]


def handle_event(launcher: Launcher, raw: dict[str, Any]) -> dict[str, Any] | None:
    """One EventBridge event from the launch queue."""
    if raw.get("source") == "aws.s3":
        event = ObjectCreated.model_validate(raw)
        obj = event.detail.object
        outcome = launcher.launch_object(event.detail.bucket.name, obj.key, obj.version_id)
        return outcome.as_dict() if outcome else None
    parsed = parse_omics_event(raw)
    if not isinstance(parsed, RunBatchStatusChange):
        raise IgnoredEvent(raw.get("source"), raw.get("detail-type"))
    result = launcher.on_batch_failed(parsed)
    return {"batch_id": result.batch_id, "kind": result.kind, "action": result.action,
            "new_batch_id": result.new_batch_id}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    launcher = _launcher()
    launcher.owner = context.aws_request_id
    # Its long loops (a resubmitted batch's members re-filed) and pauses stop short of the timeout.
    launcher.repository.time_left = lambda: context.get_remaining_time_in_millis() / 1000
    if "sheet" in event:
        try:
            outcome = launcher.launch_document(event["sheet"], name=event.get("name"), fmt=event.get("format"),
                                               dry_run=bool(event.get("dryRun", False)))
        except (RetryableError, PermanentError) as error:  # the caller sees why, and whether to try again
            log_error("warning", "direct submission not completed", error)  # the caller gets the text
            return {"error": str(error), "retryable": isinstance(error, RetryableError)}
        return outcome.as_dict()

    def handle(record: SQSRecord) -> dict[str, Any] | None:
        raw = body_json(record)
        try:
            return handle_event(launcher, raw)
        except IgnoredEvent as ignored:
            _count("IgnoredEvents", 1)
            logger.info("ignored event", extra={"detail_type": ignored.detail_type, "source": ignored.source})
        except (ValidationError, PermanentError) as error:
            record_rejected_event(launcher.repository, raw, str(error))
            _count("RejectedEvents", 1)
        return None

    return process_sqs_batch(event, handle)
