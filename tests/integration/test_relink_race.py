"""A follow-up batch's members recorded before its LINK: they end up under the root batch all the same.

The re-runner writes a follow-up batch's LINK (its root batch and attempt) after StartRunBatch returns. When
it is slow, throttled, or stops between the two (its redelivered work then writes the link), the follow-up's
INPROGRESS event can reach the recorder first: the recorder finds no link and files the members under the
follow-up itself. Whichever of the two writes lands second re-files them (the recorder reads the link
again after marking its members, the link's writer sees the mark), so the root batch's view is whole in
every order. moto + emulator + the real recorder and re-runner (tests/integration/rerun_harness.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault
from shared.errors import RetryableError
from shared.events import parse_omics_event
from shared.provenance import batches as provenance_batches
from shared.provenance import keys
from shared.provenance.items import BatchMember
from shared.provenance.repository import ProvenanceError, ProvenanceRepository
from shared.provenance.views import batch_view
from shared.recorder import Recorder, RecordOutcome
from tests.factories import batch_event
from tests.integration.rerun_harness import Harness

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture

SAMPLES = ["s1", "s2", "s3"]


def _batch_event(batch_id: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        detail = event["detail"]
        return event["detail-type"] == "RunBatch Status Change" and (detail.get("batchId"), detail.get("status")) == (
            batch_id, status)
    return match


def _members_under(h: Harness, root: str) -> list[tuple[str, int, str]]:
    """The MEMBER items the batch index files under `root`: (runSettingId, attempt, batch id)."""
    return sorted((i["run_setting_id"], int(i["attempt"]), i["batch_id"])
                  for i in h.repository.batch_view(root) if i.get("entity") == "MEMBER")


def _follow_up_started_then_stopped(h: Harness, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Work]:
    """A root batch of three where s2 fails a task; the re-runner, handling its PROCESSED event, starts the
    follow-up batch and stops before writing anything else (the message comes back). Returns the root
    batch and the re-runner's work, to deliver again."""
    root = h.start_batch(SAMPLES)
    processed = h.advance_until_event(_batch_event(root, "PROCESSED"))
    h.deliver(rerun=False)
    work = parse_work(processed)
    start = h.access.start_batch

    def started_then_stopped(*args: Any, **kwargs: Any) -> str:
        start(*args, **kwargs)
        raise RetryableError("the re-runner stopped after StartRunBatch (timeout, throttled write)")

    monkeypatch.setattr(h.access, "start_batch", started_then_stopped)
    with pytest.raises(RetryableError):
        h.handle(work)
    monkeypatch.setattr(h.access, "start_batch", start)
    return root, work


def _interleave(h: Harness, monkeypatch: pytest.MonkeyPatch, method: str, batch_id: str,
                then: Callable[[], Any], before: bool = False) -> None:
    """Run `then` once, right after (or before) the repository's `method` for `batch_id` (the recorder's)."""
    real = getattr(h.repository, method)
    done: list[bool] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        mine = args[0] == batch_id and not done
        if mine and before:
            done.append(True)
            then()
        result = real(*args, **kwargs)
        if mine and not done:
            done.append(True)
            then()
        return result

    monkeypatch.setattr(h.repository, method, hooked)


# How the re-runner's redelivered work (StartRunBatch again, same requestId: the same batch; then the LINK)
# interleaves with the recorder recording the follow-up's members:
ORDERS = {
    # the recorder finished (read no link, filed and marked the members) before the link was written
    "link_after_members": None,
    # the link was written between the recorder's read of it and its member writes
    "link_between_read_and_members": ("get_batch_link", False),
    # the link was written between the recorder's mark and its second read of the link: both re-file
    "link_between_mark_and_reread": ("mark_batch_members_recorded", False),
    # the usual order: the link first (nothing to re-file)
    "link_first": ("get_batch_link", True),
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_follow_up_members_land_under_the_root_batch_in_every_order(make, monkeypatch, order: str) -> None:
    # Given a follow-up batch started by a re-runner that stopped before writing its link
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    root, work = _follow_up_started_then_stopped(h, monkeypatch)
    (follow_up,) = h.follow_ups(root)
    assert h.repository.get_batch_link(follow_up.id) is None
    redelivered: list[Any] = []
    hook = ORDERS[order]
    if hook is not None:
        method, before = hook
        _interleave(h, monkeypatch, method, follow_up.id, lambda: redelivered.append(h.handle(work)), before)
    # When the follow-up's INPROGRESS event (its members are known) reaches the recorder, and the
    # re-runner's work comes back (while the follow-up runs) at the moment the order says
    inprogress = h.advance_until_event(_batch_event(follow_up.id, "INPROGRESS"))
    h.deliver(rerun=False)
    if hook is None:
        redelivered.append(h.handle(work))
    monkeypatch.undo()
    h.run()
    # Then the redelivered work started no second batch and wrote the link
    assert [o.started for o in redelivered] == [[follow_up.id]]
    assert h.follow_ups(root) == [follow_up]
    link = h.repository.get_batch_link(follow_up.id)
    assert link is not None and (link["root_batch_id"], link["attempt"]) == (root, 1)
    # and every member is filed under the root batch with its attempt, none under the follow-up
    expected = [("s1", 0, root), ("s2", 0, root), ("s2", 1, follow_up.id), ("s3", 0, root)]
    assert _members_under(h, root) == expected
    assert _members_under(h, follow_up.id) == []
    summary = h.repository.get_item(keys.batch_pk(follow_up.id), keys.SUMMARY) or {}
    assert (summary["root_batch_id"], summary["attempt"], summary["batch_pk"]) == (root, 1, keys.batch_pk(root))
    assert summary["batch_sk"] == f"BATCH#0001#{follow_up.id}" and summary["members_recorded"] == 1
    assert "members_refiling" not in summary
    # and the root batch's view (`autopilot batch show`) has every sample's attempts and final outcome
    view = batch_view(h.repository, root)
    assert [(a.attempt, a.batch_id, a.status) for a in view.samples["s2"].attempts] == [
        (0, root, "FAILED"), (1, follow_up.id, "COMPLETED")]
    assert {s: o.final.status for s, o in view.samples.items()} == dict.fromkeys(SAMPLES, "COMPLETED")
    assert [b["batch_id"] for b in view.batches] == [root, follow_up.id]
    # and a duplicate of the link and of the INPROGRESS event changes nothing
    before = h.repository.batch_items(follow_up.id)
    h.repository.put_batch_link(follow_up.id, root, root, 1, {"group": link["group"], "origin": "rerunner"})
    h.deliver([inprogress], rerun=False)
    assert h.repository.batch_items(follow_up.id) == before


def _expect_members_under_root(h: Harness, root: str, follow_up: str) -> None:
    assert _members_under(h, root) == [("s1", 0, root), ("s2", 0, root), ("s2", 1, follow_up), ("s3", 0, root)]
    assert _members_under(h, follow_up) == []
    summary = h.repository.get_item(keys.batch_pk(follow_up), keys.SUMMARY) or {}
    assert (summary["root_batch_id"], summary["attempt"], "members_refiling" in summary) == (root, 1, False)


def _link_write_failed_once(make: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> tuple[Harness, str, Work]:
    """A root batch of three where s2 fails; the re-runner started its follow-up, and its link write failed
    once right after StartRunBatch (the work comes back). Returns the harness, the root batch and the work."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    root = h.start_batch(SAMPLES)
    work = parse_work(h.advance_until_event(_batch_event(root, "PROCESSED")))
    h.deliver(rerun=False)
    put_link = h.repository.put_batch_link
    monkeypatch.setattr(h.repository, "put_batch_link", _fails_once(put_link, "throttled link write"))
    with pytest.raises(RetryableError):
        h.handle(work)
    return h, root, work


def test_a_rerunner_stopped_between_the_link_and_its_claim_writes_the_link_on_retry(make, monkeypatch) -> None:
    # Given a re-runner whose link write fails once, right after StartRunBatch
    h, root, work = _link_write_failed_once(make, monkeypatch)
    # When its work comes back
    outcome = h.handle(work)
    h.run()
    # Then it found the batch it had started (same requestId) and linked it: the claim did not skip it
    (follow_up,) = h.follow_ups(root)
    assert outcome.started == [follow_up.id]
    link = h.repository.get_batch_link(follow_up.id)
    assert link is not None and (link["root_batch_id"], link["attempt"]) == (root, 1)
    _expect_members_under_root(h, root, follow_up.id)


def test_a_recorder_stopped_before_reading_the_link_again_refiles_on_redelivery(make, monkeypatch) -> None:
    # Given members recorded under the follow-up itself while its link was written (after the recorder's
    # read, before its mark: the link's writer saw no members), and the recorder stopping before its
    # second read of the link
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    root, work = _follow_up_started_then_stopped(h, monkeypatch)
    (follow_up,) = h.follow_ups(root)
    read_link = h.repository.get_batch_link
    reads: list[str] = []

    def link_lands_then_recorder_stops(batch_id: str) -> Any:
        if batch_id != follow_up.id:
            return read_link(batch_id)
        reads.append(batch_id)
        if len(reads) == 2:
            raise RetryableError("the recorder stopped before reading the link again")
        found = read_link(batch_id)
        h.handle(work)
        return found

    monkeypatch.setattr(h.repository, "get_batch_link", link_lands_then_recorder_stops)
    inprogress = h.advance_until_event(_batch_event(follow_up.id, "INPROGRESS"))
    with pytest.raises(RetryableError):
        h.deliver(rerun=False)
    monkeypatch.undo()
    assert _members_under(h, follow_up.id) != []  # the defect's state, before the redelivery
    # When the INPROGRESS event is delivered again (SQS: the record failed)
    outcome = h.recorder.record(parse_omics_event(inprogress))
    # Then the redelivery re-filed the members
    assert (outcome.advanced, outcome.members_refiled) == (False, 1)
    h.run()
    _expect_members_under_root(h, root, follow_up.id)


@pytest.mark.parametrize("finisher", ["rerunner", "recorder"])
def test_a_refile_stopped_half_way_is_finished_by_the_next_one(make, monkeypatch, finisher: str) -> None:
    # Given members recorded under the follow-up before its link, and the link writer's re-file failing
    # once after the summary was marked
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    root, work = _follow_up_started_then_stopped(h, monkeypatch)
    (follow_up,) = h.follow_ups(root)
    inprogress = h.advance_until_event(_batch_event(follow_up.id, "INPROGRESS"))
    h.deliver(rerun=False)
    put_items = h.repository.put_items
    # a table that stays throttled for the member writes
    monkeypatch.setattr(h.repository, "put_items", lambda items: [i for i in items if i.get("entity") == "MEMBER"]
                        or put_items(items))
    with pytest.raises(ProvenanceError):
        h.handle(work)
    monkeypatch.setattr(h.repository, "put_items", put_items)
    summary = h.repository.get_item(keys.batch_pk(follow_up.id), keys.SUMMARY) or {}
    assert summary["members_refiling"] == root and summary["root_batch_id"] == follow_up.id
    # When the re-runner's work comes back, or the recorder gets the INPROGRESS event again
    if finisher == "recorder":
        assert h.recorder.record(parse_omics_event(inprogress)).members_refiled == 1
    outcome = h.handle(work)
    h.run()
    # Then the re-file is finished, and the one batch is linked
    assert outcome.started == [follow_up.id]
    _expect_members_under_root(h, root, follow_up.id)


def _fails_once(real: Callable[..., Any], why: str) -> Callable[..., Any]:
    calls: list[bool] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        if not calls:
            calls.append(True)
            raise RetryableError(why)
        return real(*args, **kwargs)

    return failing


def test_a_rerunner_whose_work_comes_back_after_the_follow_up_finished_still_links_it(make, monkeypatch) -> None:
    # Given a follow-up batch started by a re-runner that stopped before writing its link, whose runs all
    # completed (superseding the root's failed member) before the work came back
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    root, work = _follow_up_started_then_stopped(h, monkeypatch)
    (follow_up,) = h.follow_ups(root)
    h.advance_until_event(_batch_event(follow_up.id, "PROCESSED"))
    h.deliver(rerun=False)
    # When the work comes back
    outcome = h.handle(work)
    h.run()
    # Then it found the batch it had started (no second one) and linked it under the root
    assert outcome.started == [follow_up.id] and h.follow_ups(root) == [follow_up]
    _expect_members_under_root(h, root, follow_up.id)
    view = batch_view(h.repository, root)
    assert [(a.attempt, a.status) for a in view.samples["s2"].attempts] == [(0, "FAILED"), (1, "COMPLETED")]


class _TwoPages:
    """ListRunsInBatch of a batch too large for one invocation: two pages (s1, then s2)."""

    def list_runs_in_batch(self, batchId: str, maxItems: int, startingToken: str | None = None) -> dict[str, Any]:
        if startingToken is None:
            return {"runs": [{"runSettingId": "s1", "runId": "1", "submissionStatus": "SUCCESS"}], "nextToken": "p2"}
        return {"runs": [{"runSettingId": "s2", "runId": "2", "submissionStatus": "SUCCESS"}]}


def test_members_recorded_across_invocations_around_the_link_all_land_under_the_root(table_name: str) -> None:
    # Given a follow-up batch whose members' first page was recorded (under itself: no link yet) when the
    # invocation ran out of time, and its link written before the retry
    repository = ProvenanceRepository(table_name)
    seconds_left = [5.0]
    recorder = Recorder(repository, omics=_TwoPages, time_left=lambda: seconds_left[0])
    event = parse_omics_event(batch_event("fu", "INPROGRESS", datetime(2026, 3, 1, tzinfo=UTC)))
    assert "resumes" in str(recorder.record(event).continuation)  # its cursor saved, a continuation to send
    assert _filed(repository, "fu") == [("s1", 0)]
    assert repository.put_batch_link("fu", "root", "root", 1) == 0  # nothing marked recorded yet
    # When the event comes back with time to finish
    seconds_left[0] = float("inf")
    outcome = recorder.record(event)
    # Then the second page went under the root, and the first was re-filed there
    assert outcome.members_recorded == 2
    assert _filed(repository, "root") == [("s1", 1), ("s2", 1)] and _filed(repository, "fu") == []


def _filed(repository: ProvenanceRepository, root: str) -> list[tuple[str, int]]:
    return sorted((i["run_setting_id"], int(i["attempt"])) for i in repository.batch_view(root)
                  if i.get("entity") == "MEMBER")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Re-files move 10 members a chunk (1,000 deployed): 25 members show what 2,500 would."""
    monkeypatch.setattr(provenance_batches, "REFILE_CHUNK", 10)
    return 10


def test_a_large_refile_stops_before_the_invocation_ends_and_the_next_one_finishes_it(
        table_name: str, monkeypatch: pytest.MonkeyPatch, small_chunks: int) -> None:
    # Given a follow-up batch of 2.5 chunks of members recorded under itself before its link (a 100,000-member
    # batch re-filed in one go would hold every member in memory and run into the Lambda timeout, which fails
    # every record of the SQS batch, not this one alone)
    repository = ProvenanceRepository(table_name)
    members = [BatchMember(batch_id="fu", run_setting_id=f"s{i:05d}", run_id=f"{1000000 + i}")
               for i in range(small_chunks * 5 // 2)]
    assert repository.put_batch_members("fu", 0, members, "2026-03-01T00:00:00Z") == []
    repository.mark_batch_members_recorded("fu", "fu", 0, len(members), "2026-03-01T00:00:00Z")
    written: list[int] = []
    put_items = repository.put_items
    monkeypatch.setattr(repository, "put_items", lambda items: written.append(
        sum(item.get("entity") == "MEMBER" for item in items)) or put_items(items))
    # When its re-file finds the invocation's time running out after its first writes
    repository.time_left = lambda: 60.0 if not any(written) else 1.0
    with pytest.raises(ProvenanceError) as stopped:
        repository.put_batch_link("fu", "root", "root", 1)
    # Then it stops with a retryable error, some members moved and the summary still marked half re-filed
    assert stopped.value.retryable
    moved = len(_filed(repository, "root"))
    assert 0 < moved < len(members) and moved == sum(written)
    assert repository.get_item(keys.batch_pk("fu"), keys.SUMMARY)["members_refiling"] == "root"
    # And the next try (the re-runner's redelivered work, or the recorder's) finishes it, a bounded page of
    # members at a time
    repository.time_left = lambda: float("inf")
    assert repository.put_batch_link("fu", "root", "root", 1) == len(members) - moved
    assert len(_filed(repository, "root")) == len(members) and _filed(repository, "fu") == []
    assert "members_refiling" not in repository.get_item(keys.batch_pk("fu"), keys.SUMMARY)
    assert max(written) <= small_chunks


def _recorded_before_link(repository: ProvenanceRepository, n: int) -> None:
    members = [BatchMember(batch_id="fu", run_setting_id=f"s{i:05d}", run_id=f"{1000000 + i}") for i in range(n)]
    assert repository.put_batch_members("fu", 0, members, "2026-03-01T00:00:00Z") == []
    repository.mark_batch_members_recorded("fu", "fu", 0, n, "2026-03-01T00:00:00Z")


def test_a_refile_that_moved_every_member_moves_the_summary_however_little_time_is_left(table_name: str) -> None:
    # Given 5 members recorded under their follow-up batch before its link, and 9 s left (under the reserve)
    repository = ProvenanceRepository(table_name, time_left=lambda: 9.0)
    _recorded_before_link(repository, 5)
    # When the link's writer re-files them: one chunk, nothing after it
    assert repository.put_batch_link("fu", "root", "root", 1) == 5
    # Then the summary moved too: no retry is left with nothing but the summary to move (found by a reviewer)
    summary = repository.get_item(keys.batch_pk("fu"), keys.SUMMARY)
    assert "members_refiling" not in summary and summary["batch_pk"] == keys.batch_pk("root")


def test_tries_that_start_short_of_time_still_move_members_each_time(table_name: str, small_chunks: int) -> None:
    # Given 2.5 chunks of members to re-file, and tries that each start with less than the reserve left
    repository = ProvenanceRepository(table_name, time_left=lambda: 9.0)
    _recorded_before_link(repository, small_chunks * 5 // 2)
    # When the link's writer and its retries re-file them
    for _ in range(2):
        with pytest.raises(ProvenanceError):
            repository.put_batch_link("fu", "root", "root", 1)
    # Then each try moved a chunk (the members moved by earlier tries are skipped, not a chunk's work each:
    # found by a reviewer, every try re-read and stopped on the same first chunk), and the third finishes
    assert len(_filed(repository, "root")) == 2 * small_chunks
    assert repository.put_batch_link("fu", "root", "root", 1) == small_chunks // 2
    assert _filed(repository, "fu") == []


class _FourMembers:
    """ListRunsInBatch of a 4-member batch, 2 a page; `hooks[(call, token)]` runs before answering that call."""

    def __init__(self) -> None:
        self.hooks: dict[tuple[int, str | None], Callable[[], Any]] = {}
        self.calls = 0

    def list_runs_in_batch(self, batchId: str, maxItems: int, startingToken: str | None = None) -> dict[str, Any]:
        self.calls += 1
        hook = self.hooks.pop((self.calls, startingToken), None)
        if hook:
            hook()
        start = int(startingToken or 0)
        runs = [{"runSettingId": f"s{i}", "runId": f"{100 + i}", "submissionStatus": "SUCCESS"}
                for i in range(start, min(start + 2, 4))]
        return {"runs": runs, **({"nextToken": str(start + 2)} if start + 2 < 4 else {})}


def test_a_chain_without_the_link_that_stops_for_time_after_another_recorded_the_members_refiles_them(
        table_name: str) -> None:
    # Given two recorder invocations recording the same follow-up batch's members (its INPROGRESS event
    # delivered twice), the first having read no LINK, the LINK written and the second recording every
    # member under the root while the first waits for its ListRunsInBatch page
    repository = ProvenanceRepository(table_name)
    pages = _FourMembers()
    first = Recorder(repository, omics=lambda: pages, time_left=lambda: 5.0)  # near its end: checkpoints
    second = Recorder(repository, omics=lambda: pages)

    def summary() -> dict[str, Any]:
        return repository.get_item(keys.batch_pk("fu"), keys.SUMMARY) or {"batch_id": "fu"}

    def link_then_the_second_records_all() -> None:
        assert repository.put_batch_link("fu", "root", "root", 1) == 0
        second.finish_batch("INPROGRESS", summary(), RecordOutcome("BATCH", "fu", "INPROGRESS", advanced=True))

    pages.hooks[(1, None)] = link_then_the_second_records_all
    # When the first writes its page under the batch itself and stops for time, then comes back
    with pytest.raises(RetryableError):
        first.finish_batch("INPROGRESS", summary(), RecordOutcome("BATCH", "fu", "INPROGRESS", advanced=True))
    first.time_left = lambda: 60.0
    first.finish_batch("INPROGRESS", summary(), RecordOutcome("BATCH", "fu", "INPROGRESS", advanced=False))
    # Then every member is under the root (found by a reviewer: the first page stayed under the batch for good)
    assert _filed(repository, "root") == [("s0", 1), ("s1", 1), ("s2", 1), ("s3", 1)]
    assert _filed(repository, "fu") == []

