"""The reconciler's synthetic events: what the API says, in the guide's event format, at the API's own
time, routed like EventBridge would (pure functions; no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reconciler.logic import Forwarder, Route, batch_event, matches, run_event, run_status_time

from shared.events import RunBatchDetail, RunBatchStatusChange, RunStatusChange, parse_omics_event
from tests.factories import reference_event

ARN = "arn:aws:omics:us-east-1:123456789012:run/1234567"
GET_RUN = {"id": "1234567", "arn": ARN, "status": "COMPLETED", "name": "S-0042", "uuid": "u-1",
           "workflowId": "9876543", "runOutputUri": "s3://out/1234567/u-1",
           "creationTime": datetime(2026, 1, 5, 8, 0, 0, 250000, tzinfo=UTC),
           "startTime": datetime(2026, 1, 5, 8, 1, 10, 999999, tzinfo=UTC),
           "stopTime": datetime(2026, 1, 5, 8, 20, 0, 500000, tzinfo=UTC)}


def test_a_healed_run_event_has_the_guides_shape_and_the_apis_time_to_the_second() -> None:
    guide = reference_event("run-status-change.completed")
    event = run_event(GET_RUN, "COMPLETED", run_status_time(GET_RUN, "COMPLETED", datetime.now(UTC)))
    assert set(guide) <= set(event) and set(event["detail"]) <= set(guide["detail"])
    assert event["id"] == "reconciled-1234567-u-1-COMPLETED"  # a run is (id, uuid)
    assert event["time"] == "2026-01-05T08:20:00Z"  # stopTime, at EventBridge's one-second resolution
    parsed = parse_omics_event(event)
    assert isinstance(parsed, RunStatusChange) and parsed.detail.runId == "1234567"


@pytest.mark.parametrize(("status", "field"), [("PENDING", "creationTime"), ("STARTING", "creationTime"),
                                               ("RUNNING", "startTime"), ("STOPPING", "startTime"),
                                               ("FAILED", "stopTime"), ("CANCELLED", "stopTime")])
def test_each_status_takes_the_api_time_that_belongs_to_it(status: str, field: str) -> None:
    assert run_status_time(GET_RUN, status, datetime(2030, 1, 1, tzinfo=UTC)) == GET_RUN[field]


def test_without_an_api_time_the_sweep_time_is_used() -> None:
    fallback = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert run_status_time({"id": "1"}, "RUNNING", fallback) == fallback
    assert run_status_time(GET_RUN, "DELETED", fallback) == fallback  # GetRun keeps no deletion time


def test_a_healed_batch_event_carries_counts_as_strings_like_the_guide() -> None:
    guide = reference_event("runbatch-status-change.processed")
    get_batch = {"id": "7777777", "arn": "arn:aws:omics:us-east-1:123456789012:runBatch/7777777", "uuid": "b-1",
                 "name": "cohort", "status": "PROCESSED", "totalRuns": 96,
                 "defaultRunSetting": {"workflowId": "9876543", "cacheBehavior": "CACHE_ON_FAILURE"},
                 "submissionSummary": {"successfulStartSubmissionCount": 95, "failedStartSubmissionCount": 1,
                                       "pendingStartSubmissionCount": 0},
                 "runSummary": {"completedRunCount": 90, "failedRunCount": 5, "pendingRunCount": 0},
                 "processedTime": datetime(2026, 1, 6, 3, 0, 1, tzinfo=UTC)}
    event = batch_event(get_batch, "PROCESSED", datetime(2026, 1, 6, 3, 0, 1, tzinfo=UTC))
    assert event["detail"]["totalRuns"] == "96" and event["detail"]["failedRunCount"] == "5"
    # every field is one the guide's example or the documented event model has
    assert set(event["detail"]) <= set(guide["detail"]) | set(RunBatchDetail.model_fields)
    parsed = parse_omics_event(event)
    assert isinstance(parsed, RunBatchStatusChange) and parsed.detail.counts()["successfulStartSubmissionCount"] == 95


def test_forwarding_follows_the_rule_patterns() -> None:
    sent: list[tuple[str, str]] = []
    rerun = Route("https://sqs/rerun", {"source": ["aws.omics"], "detail-type": ["Run Status Change"],
                                        "detail": {"status": ["FAILED"]}})
    launch = Route("https://sqs/launch", {"source": ["aws.omics"], "detail-type": ["RunBatch Status Change"],
                                          "detail": {"status": ["FAILED"]}})
    forwarder = Forwarder([rerun, launch], lambda url, body: sent.append((url, body)))
    failed = run_event({**GET_RUN, "status": "FAILED"}, "FAILED", GET_RUN["stopTime"])
    assert forwarder.forward(failed) == 1 and sent[0][0] == "https://sqs/rerun"
    assert forwarder.forward(run_event(GET_RUN, "COMPLETED", GET_RUN["stopTime"])) == 0
    assert len(sent) == 1


def test_patterns_with_operators_are_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="unsupported pattern operator"):
        matches({"detail": {"status": [{"anything-but": "COMPLETED"}]}}, {"detail": {"status": "FAILED"}})
    assert matches({"source": ["aws.omics"]}, {"source": "aws.omics"})
    assert not matches({"detail": {"status": ["FAILED"]}}, {"detail": {}})
