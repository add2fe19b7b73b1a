"""Found by review: a standalone re-run that was STARTED was recorded GONE.

What the user saw: s1 failed (SERVICE_ERROR); the re-runner claimed attempt 1 and StartRun(runId=s1) started its
re-run, then stopped before it recorded anything (its claim's completion throttled: SQS redelivers the event). The
user then deleted the failed run s1 (cleaning up failures that are being re-run, or REMOVE retention). On the retry
the one-GetRun check before StartRun (standalone.py `_gone`) ran although the attempt was already claimed: GetRun(s1)
was NotFound, so s1's attempt 1 was decided GONE ("deleted before its re-run could start") while its re-run was
running and billed; the claim was never completed and no STARTED decision named the re-run, so the run paid for was
not linked to s1. It rests on HEALTHOMICS.md section 2 and botocore's StartRun model: requestId is an idempotency
token (a duplicate starts nothing new), so a claimed attempt sends StartRun again with the same requestId, which
returns the run already started (the emulator checks the requestId before the runId). When the earlier try had
started nothing, the deleted run's StartRun is refused and the decision is GONE; when the id now names another run,
StartRun is not sent (were ours never started, it would copy that run): GONE as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rerunner.logic import Decided
from rerunner.work import Work
from shared.errors import RetryableError
from tests.integration.rerun_harness import one_failed_run

pytest_plugins = ["tests.integration.rerun_harness"]


def test_a_claimed_and_started_rerun_is_not_decided_gone(make: Callable[..., Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    h, s1 = one_failed_run(make)
    s1_uuid = h.runs()[s1].uuid
    h.deliver(rerun=False)  # recorded (FAILED, enriched): the re-runner reads the recorded summary
    complete = h.repository.complete_claim
    stops: list[Any] = []

    def stop_once(*args: Any, **kwargs: Any) -> None:
        if not stops:
            stops.append(args)
            raise RetryableError("update_item: ThrottlingException")
        complete(*args, **kwargs)

    monkeypatch.setattr(h.repository, "complete_claim", stop_once)
    work = Work(kind="run", id=s1, uuid=s1_uuid)
    with pytest.raises(RetryableError):
        h.handle(work)
    (rerun,) = h.reruns_of(s1)  # StartRun happened: the re-run exists and runs
    # the user deletes the failed run s1 (its re-run is on its way)
    h.omics.delete_run(id=s1)
    # SQS redelivers the FAILED event
    h.handle(work)
    decisions = [i for i in h.repository.run_items(s1, s1_uuid) if i["sk"].startswith("RERUN#")]
    assert [d["decision"] for d in decisions] == [Decided.STARTED], (
        f"s1's attempt 1 was decided {[(d['decision'], d.get('why')) for d in decisions]} while its re-run "
        f"{rerun.id} ({rerun.status}) was started by the claimed attempt")


def _claim_then_stop_before_start_run(h: Any, work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    """An earlier try claims the attempt and stops before StartRun reaches HealthOmics (throttled)."""
    def throttled(request: dict[str, Any]) -> tuple[str, str]:
        raise RetryableError("StartRun ThrottlingException after 3 attempts")

    with monkeypatch.context() as patch:
        patch.setattr(h.rerunner.aws, "start_run", throttled)
        with pytest.raises(RetryableError):
            h.handle(work)


def test_a_claimed_attempt_that_started_nothing_is_gone_once_its_run_is_deleted(
        make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    h, s1 = one_failed_run(make)
    s1_uuid = h.runs()[s1].uuid
    h.deliver(rerun=False)
    work = Work(kind="run", id=s1, uuid=s1_uuid)
    _claim_then_stop_before_start_run(h, work, monkeypatch)
    h.omics.delete_run(id=s1)
    h.handle(work)
    decisions = [i for i in h.repository.run_items(s1, s1_uuid) if i["sk"].startswith("RERUN#")]
    assert ([d["decision"] for d in decisions], h.reruns_of(s1)) == ([Decided.GONE], [])
    assert "was deleted" in decisions[0]["why"]


def test_a_claimed_attempt_is_not_re_run_as_the_run_that_took_its_id(
        make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    h, s1 = one_failed_run(make)
    h.emulator.reuse_deleted_run_ids = True
    s1_uuid = h.runs()[s1].uuid
    h.deliver(rerun=False)
    work = Work(kind="run", id=s1, uuid=s1_uuid)
    _claim_then_stop_before_start_run(h, work, monkeypatch)
    h.omics.delete_run(id=s1)
    s2 = h.start_run("s2")
    assert s2 == s1 and h.runs()[s2].uuid != s1_uuid  # s2 took s1's id
    h.handle(work)
    copies = [r.id for r in h.emulator.runs.values() if r.source_run_id == s1]
    decisions = [i for i in h.repository.run_items(s1, s1_uuid) if i["sk"].startswith("RERUN#")]
    assert ([d["decision"] for d in decisions], copies) == ([Decided.GONE], [])
    assert h.runs()[s2].uuid in decisions[0]["why"]
