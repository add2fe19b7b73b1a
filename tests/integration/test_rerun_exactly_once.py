"""Exactly once: duplicated and shuffled events, redelivery after a crash, and throttled starts lead to
exactly one re-run per (failed run, attempt) and one follow-up batch per (batch, attempt, group)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from rerunner.logic import Decided
from rerunner.work import Work
from sandbox.omics import FaultPlan, RunFault
from shared.errors import RetryableError
from shared.lineage import Lineage, lineage_tags
from shared.provenance import keys
from tests.integration.rerun_harness import BUCKET, ROLE, one_failed_run

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_times_duplicated_and_shuffled_events_start_exactly_one_rerun_each(make, seed: int) -> None:
    # Given three standalone runs and a batch with two failing members, all failing once
    faults = FaultPlan(
        runs=[
            RunFault(
                reason="SERVICE_ERROR",
                at_task="call",
                predicate=lambda r: (r.name or "").startswith(("a", "c")) or r.run_setting_id in ("s1", "s3"),
            )
        ]
    )
    h = make(faults=faults)
    standalone = [h.start_run(name) for name in ("a1", "b1", "c1")]
    batch_id = h.start_batch(["s1", "s2", "s3"])
    h.emulator.run_until_idle()
    events = list(h.events)
    del h.events[:]
    # When every event arrives three times, in a random order, to the recorder and the re-runner
    stream = events * 3
    random.Random(seed).shuffle(stream)
    h.deliver(stream)
    h.run()
    # Then each failed run got exactly one re-run and the batch exactly one follow-up
    assert [len(h.reruns_of(r)) for r in standalone] == [1, 0, 1]
    (follow_up,) = h.follow_ups(batch_id)
    assert sorted(e.run_setting_id for e in follow_up.entries) == ["s1", "s3"]
    assert all(r.status == "COMPLETED" for r in h.runs().values() if r.source_run_id or r.batch_id == follow_up.id)
    # and the service saw one StartRun per re-run (duplicates stopped at the claim, not at the service)
    assert h.emulator.calls["StartRunBatch"] == 2  # the launch + one follow-up
    assert h.emulator.calls["StartRun"] == 3 + 2  # three launches + two re-runs
    skipped = [o.skipped for o in h.outcomes if o.skipped and o.skipped.startswith("duplicate")]
    assert len(skipped) >= 2 * 3  # every duplicate of a handled failure was recognised


def test_redelivery_after_a_crash_between_start_and_record_starts_nothing_twice(make) -> None:
    h, failed = one_failed_run(make)
    h.deliver(rerun=False)
    real_start = h.access.start_run
    crashes = {"left": 1}

    def start_then_time_out(request: dict[str, Any], **kwargs: Any) -> str:
        run_id = real_start(request, **kwargs)  # the service started the run...
        if crashes["left"]:
            crashes["left"] -= 1
            raise RetryableError("the function timed out before it recorded the result")  # ...we never knew
        return run_id

    h.access.start_run = start_then_time_out  # type: ignore[method-assign]
    work = Work(kind="run", id=failed)
    with pytest.raises(RetryableError):
        h.handle(work)
    # the message comes back (SQS redelivery): the claim is taken but has no result -> same requestId again
    outcome = h.handle(work)
    assert outcome.decisions == {Decided.STARTED: 1}
    assert len(h.reruns_of(failed)) == 1
    # and a third delivery is a recognised duplicate that calls nothing
    calls = h.emulator.calls["StartRun"]
    assert h.handle(work).skipped.startswith("duplicate") and h.emulator.calls["StartRun"] == calls


def test_concurrent_handlers_of_the_same_failure_start_one_run(make) -> None:
    from rerunner.dal import AwsAccess
    from rerunner.logic import Rerunner

    # Given two Lambda instances handling the same failure at the same moment
    h, failed = one_failed_run(make)
    work = Work(kind="run", id=failed)
    other = Rerunner(h.repository, AwsAccess(omics=lambda: h.omics), h.config, now=h.clock.now)
    seen_by_other: list[Any] = []
    real_start = h.access.start_run

    def interleaved(request: dict[str, Any], **kwargs: Any) -> str:
        # instance A holds the claim and is about to call StartRun; instance B runs to completion now
        seen_by_other.append(other.handle_run(work))
        return real_start(request, **kwargs)

    h.access.start_run = interleaved  # type: ignore[method-assign]
    mine = h.handle(work)
    # Then both report the same run, and only one exists
    (rerun,) = h.reruns_of(failed)
    assert mine.started == [rerun.id] and seen_by_other[0].started == [rerun.id]


def test_a_later_successful_attempt_supersedes_the_failure(make) -> None:
    # Given a failed run that the re-runner re-ran successfully (proven ours: the failure is superseded)
    h, failed = one_failed_run(make)
    failure = [e for e in h.events if e["detail"].get("status") == "FAILED" and e["detail-type"] == "Run Status Change"]
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert rerun.status == "COMPLETED"
    # and its claim gone (its TTL expired: CLAIM_TTL_DAYS)
    uuid = h.runs()[failed].uuid
    h.repository.delete_item(keys.run_pk(failed), keys.run_sk(uuid, keys.rerun_sk(1) + keys.RERUN_CLAIM))
    # When the failure event arrives again (an archive replay)
    outcomes = h.deliver(failure)
    # Then nothing is started: the chain's later attempt, proven ours, already succeeded
    assert [o.decisions for o in outcomes] == [{Decided.SUPERSEDED: 1}]
    assert h.reruns_of(failed) == [rerun]


def test_a_person_s_successful_rerun_by_hand_supersedes_the_failure(make) -> None:
    # Given a failed run that a person re-ran by hand (a copy of it: StartRun runId, GetRun.runId names it) and
    # that completed before its failure event got to us
    h, failed = one_failed_run(make)
    events = list(h.events)
    del h.events[:]
    h.deliver(events, rerun=False)
    tags = lineage_tags(Lineage(root_run_id=failed, parent_run_id=failed, attempt=1))
    h.omics.start_run(runId=failed, roleArn=ROLE, outputUri=f"s3://{BUCKET}/out", requestId="manual", tags=tags)
    h.run()  # the manual re-run completes and is recorded
    # When the failure event arrives (late)
    outcomes = h.deliver(
        [e for e in events if e["detail"].get("status") == "FAILED" and e["detail-type"] == "Run Status Change"]
    )
    # Then nothing is started (the service says the copy re-ran it) and the decision says why
    assert [o.decisions for o in outcomes] == [{Decided.SUPERSEDED: 1}]
    assert len(h.reruns_of(failed)) == 1
    assert "already succeeded" in h.decisions(failed)[0]["why"]


def test_throttled_start_run_is_retried_none_lost_none_doubled(make) -> None:
    faults = FaultPlan(
        runs=[RunFault(reason="SERVICE_ERROR", at_task="call", predicate=lambda r: True)],
        throttle={"StartRun": 0.7},
        seed=11,
    )
    h = make(faults=faults)
    failed = []
    for i in range(8):
        while True:  # the launches themselves are throttled too
            try:
                failed.append(h.start_run(f"s{i}"))
                break
            except Exception:
                continue
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    redeliveries = 0
    for run_id in failed:
        work = Work(kind="run", id=run_id)
        for _ in range(50):  # SQS redelivers a failed record until it succeeds
            try:
                h.handle(work)
                break
            except RetryableError:
                redeliveries += 1
    assert redeliveries > 0  # throttling really happened beyond the in-call retries
    assert [len(h.reruns_of(r)) for r in failed] == [1] * 8
    assert h.emulator.calls["StartRun"] > 16  # throttled calls were made and retried


def test_throttled_start_run_batch_is_retried_none_lost_none_doubled(make) -> None:
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s2")])
    h = make(faults=faults)
    batch_id = h.start_batch(["s1", "s2"])
    h.emulator.run_until_idle()
    h.deliver(rerun=False)
    faults.throttle["StartRunBatch"] = 0.8
    work = Work(kind="batch", id=batch_id)
    redeliveries = 0
    for _ in range(100):
        try:
            outcome = h.handle(work)
            break
        except RetryableError:
            redeliveries += 1
    assert redeliveries > 0 and outcome.started
    faults.throttle.clear()
    for _ in range(3):
        assert h.handle(work).skipped.startswith("duplicate")
    assert len(h.follow_ups(batch_id)) == 1
