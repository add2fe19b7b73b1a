"""Wire models: the guide's example events parse as they are; other detail-types are ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import (
    IgnoredEvent,
    RunBatchStatusChange,
    RunStatusChange,
    TaskStatusChange,
    parse_omics_event,
    resource_id,
)
from tests.factories import batch_event, reference_event


def test_guide_run_event_parses_as_is() -> None:
    event = parse_omics_event(reference_event("run-status-change.completed"))
    assert isinstance(event, RunStatusChange)
    assert event.detail.status == "COMPLETED"
    assert event.detail.run_id == "1234567"  # the detail's runId wins over the ARN's id
    assert event.detail.workflowName == "workflow name"


def test_guide_task_event_takes_task_id_from_arn() -> None:
    event = parse_omics_event(reference_event("task-status-change.completed"))
    assert isinstance(event, TaskStatusChange)
    assert event.detail.task_id == "8888888"
    assert event.detail.run_id == "1234567"


def test_guide_processed_batch_event_counts_are_ints() -> None:
    event = parse_omics_event(reference_event("runbatch-status-change.processed"))
    assert isinstance(event, RunBatchStatusChange)
    assert event.detail.counts() == {
        "totalRuns": 96, "successfulStartSubmissionCount": 94, "failedStartSubmissionCount": 2,
        "pendingStartSubmissionCount": 0, "completedRunCount": 90, "failedRunCount": 4, "cancelledRunCount": 0,
    }


def test_guide_failed_batch_event_keeps_failure_reason() -> None:
    event = parse_omics_event(reference_event("runbatch-status-change.failed"))
    assert isinstance(event, RunBatchStatusChange)
    assert event.detail.failureReason == "VALIDATION_EXCEPTION"
    assert event.detail.failureMessage == "Expected 100 unique runSettingIds but there were 99"
    assert event.detail.counts() == {}


def test_unknown_fields_are_tolerated() -> None:
    raw = reference_event("run-status-change.completed")
    raw["detail"]["someFutureField"] = {"x": 1}
    raw["new-top-level"] = True
    assert parse_omics_event(raw).detail.status == "COMPLETED"


@pytest.mark.parametrize(("source", "detail_type"), [
    ("aws.omics", "Read Set Import Job Status Change"),
    ("aws.omics", "Workflow Status Change"),
    ("aws.s3", "Run Status Change"),
])
def test_other_events_are_ignored(source: str, detail_type: str) -> None:
    raw = reference_event("run-status-change.completed")
    raw["source"], raw["detail-type"] = source, detail_type
    with pytest.raises(IgnoredEvent):
        parse_omics_event(raw)


def test_malformed_consumed_event_is_a_validation_error() -> None:
    raw = reference_event("run-status-change.completed")
    del raw["detail"]["status"]
    with pytest.raises(ValidationError):
        parse_omics_event(raw)


def test_count_strings_blank_and_negative() -> None:
    from datetime import UTC, datetime
    raw = batch_event("1", "INPROGRESS", datetime(2026, 1, 1, tzinfo=UTC), counts={"totalRuns": 5})
    raw["detail"]["failedRunCount"] = ""
    assert parse_omics_event(raw).detail.counts() == {"totalRuns": 5}
    raw["detail"]["failedRunCount"] = "-1"
    with pytest.raises(ValidationError):
        parse_omics_event(raw)


def test_resource_id() -> None:
    assert resource_id("arn:aws:omics:us-west-2:123456789012:runBatch/7123456") == "7123456"
