"""GetRun lags the event (issue 10, item 8): a FAILED event whose GetRun still answers STOPPING is retried
through the queue, never decided on and dropped.

Guide (EventBridge events): events are delivered best effort and the API is eventually consistent; the
recorder already retries the same lag (tests/integration/test_recorder_handler.py)."""

from __future__ import annotations

from typing import Any

import pytest

from rerunner import handler as handler_module
from rerunner.logic import Decided
from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault
from shared.errors import RetryableError
from tests.factories import FakeLambdaContext, sqs_event

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _failed(event: dict[str, Any]) -> bool:
    return event["detail-type"] == "Run Status Change" and event["detail"]["status"] == "FAILED"


def test_a_failed_run_whose_getrun_still_says_stopping_comes_back_and_is_rerun(make) -> None:
    # Given a run that fails, and its FAILED event reaching the re-runner before the recorder saw it,
    # while GetRun still answers STOPPING
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    work = parse_work(h.advance_until_event(_failed))
    h.lagging[failed] = 1
    # When the re-runner handles it, the work fails (the SQS record is not deleted) and nothing is decided
    with pytest.raises(RetryableError, match="STOPPING"):
        h.handle(work)
    assert h.reruns_of(failed) == [] and h.decisions(failed) == []
    # Then the redelivered message, once GetRun caught up, starts the re-run
    outcome = h.handle(work)
    assert len(outcome.started) == 1
    (decision,) = h.decisions(failed)
    assert decision["decision"] == Decided.STARTED and decision["failure_reason"] == "SERVICE_ERROR"


def test_the_handler_reports_the_lagging_record_as_failed_for_redelivery(make, monkeypatch) -> None:
    # Given the deployed handler over the same account, and GetRun lagging behind the FAILED event
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1")]))
    failed = h.start_run("s1")
    event = h.advance_until_event(_failed)
    h.lagging[failed] = 1
    monkeypatch.setattr(handler_module, "_rerunner", lambda: h.rerunner)
    # When the SQS record is processed, it is reported as a batch item failure (it comes back, bounded
    # by the queue's redrive policy, then the alarmed DLQ), and nothing is recorded as decided
    result = handler_module.lambda_handler(sqs_event([event]), FakeLambdaContext())
    assert len(result["batchItemFailures"]) == 1
    assert h.decisions(failed) == []
    # Then the redelivery re-runs it
    assert handler_module.lambda_handler(sqs_event([event]), FakeLambdaContext()) == {"batchItemFailures": []}
    assert len(h.reruns_of(failed)) == 1


def test_a_batch_member_whose_getrun_lags_holds_the_follow_up_until_it_caught_up(make) -> None:
    # Given a processed batch whose member events were all lost (nothing recorded): the re-runner finds
    # the failed member with ListRuns, and its GetRun still answers STOPPING
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1")]))
    batch_id = h.start_batch(["s0", "s1", "s2"])
    h.emulator.run_until_idle()
    (member,) = [r.id for r in h.emulator.batch_runs(h.emulator.batches[batch_id]) if r.status == "FAILED"]
    h.lagging[member] = 1
    # When the PROCESSED batch is handled, the work fails as a whole: no follow-up, no member decided
    # NEVER for want of a failure reason
    with pytest.raises(RetryableError, match="STOPPING"):
        h.handle(Work(kind="batch", id=batch_id))
    assert h.follow_ups(batch_id) == [] and h.decisions(member) == []
    # Then its redelivery starts the follow-up with the failed member
    assert h.handle(Work(kind="batch", id=batch_id)).started
    h.emulator.run_until_idle()
    (follow_up,) = h.follow_ups(batch_id)
    assert [e.run_setting_id for e in follow_up.entries] == ["s1"]
