"""A re-run or follow-up batch started just before the workflow's brake engaged (its re-runner stopped after
the start, and its work came back after the brake): it is already running, so it is recorded and linked,
not held until a release (which would rely on the service still honouring its requestId to not start it
twice). moto + emulator + the real recorder and re-runner (tests/integration/rerun_harness.py)."""

from __future__ import annotations

from typing import Any

import pytest

from rerunner.logic import Decided, brake_pk
from rerunner.work import Work
from shared.errors import RetryableError
from shared.provenance import keys
from tests.integration.rerun_harness import Harness, one_failed_run
from tests.integration.test_relink_race import _link_write_failed_once

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def _brake_engaged(h: Harness) -> None:
    h.repository.put_record({keys.PK: brake_pk(h.workflow_id), keys.SK: "STATE", "entity": "RERUN_BRAKE",
                             "workflow_id": h.workflow_id, "status": "PAUSED", "paused_until": None})


def test_a_rerun_started_before_the_brake_engaged_is_recorded_when_its_work_comes_back(make) -> None:
    # Given a re-runner that started a re-run and stopped before recording it, and the brake engaged meanwhile
    h, failed = one_failed_run(make)
    h.deliver(rerun=False)
    start = h.access.start_run

    def started_then_stopped(request: dict[str, Any], **kwargs: Any) -> Any:
        start(request, **kwargs)
        raise RetryableError("the function timed out before it recorded the result")

    h.access.start_run = started_then_stopped  # type: ignore[method-assign]
    work = Work(kind="run", id=failed)
    with pytest.raises(RetryableError):
        h.handle(work)
    h.access.start_run = start  # type: ignore[method-assign]
    _brake_engaged(h)
    # When its work comes back
    outcome = h.handle(work)
    # Then the re-run already running is recorded as started (one run), not held as BRAKED
    assert outcome.decisions == {Decided.STARTED: 1}
    assert len(h.reruns_of(failed)) == 1


def test_a_follow_up_started_before_the_brake_engaged_is_linked_when_its_work_comes_back(make, monkeypatch) -> None:
    # Given a re-runner that started a follow-up batch and stopped before linking it (its work comes back),
    # and the workflow's brake engaged meanwhile (a failure storm elsewhere)
    h, root, work = _link_write_failed_once(make, monkeypatch)
    _brake_engaged(h)
    # When its work comes back
    outcome = h.handle(work)
    # Then the batch already running is linked and its members decided STARTED, not held as BRAKED until a
    # release (found by a reviewer: held, it stayed unlinked, and the release would have relied on the
    # service still honouring the requestId to not start its members twice)
    (follow_up,) = h.follow_ups(root)
    assert outcome.started == [follow_up.id]
    assert h.repository.get_batch_link(follow_up.id) is not None
    assert Decided.BRAKED not in outcome.decisions
