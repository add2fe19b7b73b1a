"""Re-runner Lambda: SQS (Run FAILED / RunBatch PROCESSED events, its own delayed or released work)
-> a re-run from the run cache when the policy says so. Direct invocation for operators:
{"action": "release-brake", "workflowId": "..."} and {"action": "brake-status", "workflowId": "..."}."""

from __future__ import annotations

import shared.coldstart  # noqa: F401  (must stay first: loads the batch utility before pydantic)

# isort: split

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from rerunner.dal import AwsAccess
from rerunner.logic import Config, Rerunner
from rerunner.settings import RerunnerSettings
from rerunner.work import NotOurs, parse_work
from shared.consumer import body_json, process_sqs_batch
from shared.errors import PermanentError
from shared.observability import log_error, logger, metrics, tracer
from shared.omics import omics_client_for
from shared.provenance.repository import ProvenanceRepository
from shared.rejections import record_rejected_event
from shared.settings import get_settings


def _rerunner() -> Rerunner:
    """Built per invocation from the environment (nothing at import time); the HealthOmics client, and so
    its StartRun/StartRunBatch budget, is the process's (shared.omics.omics_client_for)."""
    settings, own = get_settings(), RerunnerSettings.from_env()
    config = Config(
        policy=own.policy,
        run_cache_id=settings.run_cache_id,
        omics_role_arn=settings.omics_role_arn,
        queue_url=own.queue_url,
        queue_arn=own.queue_arn,
        scheduler_role_arn=own.scheduler_role_arn,
        schedule_group=own.schedule_group,
        settings_bucket=own.settings_bucket,
        dead_letter_arn=own.dead_letter_arn,
        rerun_foreign_runs=own.rerun_foreign_runs,
        stack_id=own.stack_id,
    )
    aws = AwsAccess(omics=lambda: omics_client_for(settings.omics_limits))
    return Rerunner(ProvenanceRepository(settings.table_name), aws, config)


def _operator(event: dict[str, Any]) -> dict[str, Any]:
    action, workflow_id = event.get("action"), event.get("workflowId")
    if not isinstance(workflow_id, str) or not workflow_id:
        return {"error": "workflowId is required"}
    rerunner = _rerunner()
    if action == "release-brake":
        result = rerunner.release_brake(workflow_id, str(event.get("releasedBy") or "operator"))
        logger.info("brake released", extra=result)
        return result
    if action == "brake-status":
        return rerunner.brake_status(workflow_id)
    return {"error": f"unknown action {action!r}: release-brake | brake-status"}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "action" in event:
        return _operator(event)
    rerunner = _rerunner()
    # Its long loops (a follow-up batch's members re-filed under their root) stop short of the timeout.
    rerunner.repository.time_left = lambda: context.get_remaining_time_in_millis() / 1000

    def handle(record: SQSRecord) -> None:
        raw = body_json(record)
        try:
            work = parse_work(raw)
        except NotOurs as ignored:
            metrics.add_metric(name="IgnoredEvents", unit=MetricUnit.Count, value=1)
            logger.info("not re-run work", extra={"why": str(ignored)})
            return
        except ValidationError as error:
            record_rejected_event(rerunner.repository, raw, str(error))
            metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
            return
        try:
            outcome = rerunner.handle(work)
        except PermanentError as error:
            # Never succeeds on a retry (a deleted run, a misconfiguration): recorded and alarmed, not retried.
            record_rejected_event(rerunner.repository, raw, f"{type(error).__name__}: {error}")
            metrics.add_metric(name="RerunPermanentErrors", unit=MetricUnit.Count, value=1)
            log_error("error", "re-run work cannot succeed", error, {"kind": work.kind, "id": work.id})
            return
        for decision, count in outcome.decisions.items():
            metrics.add_metric(name=f"Rerun{decision.title()}", unit=MetricUnit.Count, value=count)
        if outcome.brake_engaged:
            metrics.add_metric(name="RerunBrakeEngaged", unit=MetricUnit.Count, value=1)
        logger.info(
            "re-run work handled",
            extra={
                "kind": work.kind,
                "id": work.id,
                "origin": work.origin,
                "decisions": dict(outcome.decisions),
                "started": outcome.started,
                "skipped": outcome.skipped,
            },
        )

    return process_sqs_batch(event, handle)
