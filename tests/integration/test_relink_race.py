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
from typing import Any

import pytest

from rerunner.work import Work, parse_work
from sandbox.omics import FaultPlan, RunFault
from shared.errors import RetryableError
from shared.provenance import keys
from shared.provenance.views import batch_view
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
