"""A follow-up batch whose LINK is missing when its own PROCESSED event is handled (the re-runner that
started it stopped between StartRunBatch and the link, or the event came first) still knows its root and
attempt: from its recorded request (BATCH#<id>/REQUEST), so a further follow-up neither restarts the count
at attempt 1 nor files itself under the wrong root. moto + emulator + real recorder and re-runner."""

from __future__ import annotations

from typing import Any

from rerunner.logic import batch_request_id
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_follow_up_without_its_link_keeps_its_root_and_attempt(make, monkeypatch) -> None:
    # Given s1 fails with SERVICE_ERROR on every attempt, and no follow-up's LINK is ever written
    faults = FaultPlan(
        runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1", first_attempt_only=False)]
    )
    h = make(faults=faults)
    lost: list[str] = []

    def lose_link(batch_id: str, *_: Any, **__: Any) -> int:
        lost.append(batch_id)
        return 0

    monkeypatch.setattr(h.repository, "put_batch_link", lose_link)
    root = h.start_batch(["s1", "s2"])
    # When the account runs until quiet
    h.run()
    chain = [root]
    while nxt := h.follow_ups(chain[-1]):
        assert len(nxt) == 1
        chain.append(nxt[0].id)
    # Then the chain stops at the policy's last attempt, as it does with links
    assert lost == chain[1:]
    assert len(chain) == 4  # root + attempts 1, 2, 3
    # and every follow-up names the root batch and its own attempt
    batches = [h.emulator.batches[b] for b in chain[1:]]
    assert [(b.tags["autopilot:root-batch"], b.tags["autopilot:attempt"]) for b in batches] == [
        (root, "1"), (root, "2"), (root, "3")
    ]
    assert [b.request_id for b in batches] == [
        batch_request_id(parent, attempt, "same") for attempt, parent in enumerate(chain[:-1], start=1)
    ]
    recorded = [h.repository.get_batch_request(b) for b in chain[1:]]
    assert [(r["root_batch_id"], int(r["attempt"])) for r in recorded] == [(root, 1), (root, 2), (root, 3)]


def test_a_follow_up_without_its_link_and_request_takes_its_root_and_attempt_from_its_tags(make, monkeypatch) -> None:
    # Given s1 fails on every attempt, and no follow-up's LINK nor recorded request is ever written (both
    # writes lost after StartRunBatch returned): only the batch's own tags still say where it belongs
    faults = FaultPlan(
        runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1", first_attempt_only=False)]
    )
    h = make(faults=faults)
    monkeypatch.setattr(h.repository, "put_batch_link", lambda *_, **__: 0)
    put_request = h.repository.put_batch_request

    def lose_follow_up_requests(batch_id: str, request: Any, origin: str, *args: Any, **kwargs: Any) -> Any:
        return None if origin == "rerunner" else put_request(batch_id, request, origin, *args, **kwargs)

    monkeypatch.setattr(h.repository, "put_batch_request", lose_follow_up_requests)
    root = h.start_batch(["s1", "s2"])
    # When the account runs for a day
    h.run(seconds=86400)
    chain = [root]
    while nxt := h.follow_ups(chain[-1]):
        chain.append(nxt[0].id)
    # Then the chain still stops at the policy's last attempt (found by a reviewer: each follow-up counted
    # as its own root at attempt 0, so the attempt limit never came), every follow-up under the root
    assert len(chain) == 4
    assert [(h.emulator.batches[b].tags["autopilot:root-batch"], h.emulator.batches[b].tags["autopilot:attempt"])
            for b in chain[1:]] == [(root, "1"), (root, "2"), (root, "3")]
