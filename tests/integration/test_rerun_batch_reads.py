"""What the re-runner reads of a failed batch's own records while it decides its follow-ups: its recorded
request (which can hold 100 members' inline settings, up to 400 KB: 100 read units a strongly consistent
read) and its LINK, once each per work, however many follow-up groups it starts. moto + emulator + the
real recorder and re-runner (tests/integration/rerun_harness.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sandbox.omics import FaultPlan, RunFault
from shared.provenance import keys
from tests.integration.rerun_harness import ONE_TASK

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_failed_batch_s_request_and_link_are_read_once_for_all_its_follow_ups(
        make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch of 4 where s1 fails with a service error and s2 runs out of space: two follow-up groups
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="s1"),
                             RunFault(reason="FILE_SYSTEM_OUT_OF_SPACE", at_task="call", run_setting_id="s2")])
    h = make(faults=faults, tasks=ONE_TASK)
    batch_id = h.start_batch(["s1", "s2", "s3", "s4"], storageType="STATIC", storageCapacity=1200)
    reads: list[Counter[str]] = []  # per work the re-runner handles for the batch
    get_item, handle = h.repository.get_item, h.rerunner.handle
    handling: list[str] = []  # the work the re-runner is handling (the recorder reads the LINK too)

    def counted(pk: str, sk: str) -> Any:
        if handling == [batch_id] and pk == keys.batch_pk(batch_id) and sk in ("REQUEST", "LINK"):
            reads[-1][sk] += 1
        return get_item(pk, sk)

    def handled(work: Any) -> Any:
        handling.append(work.id)
        if work.id == batch_id:
            reads.append(Counter())
        try:
            return handle(work)
        finally:
            handling.pop()

    monkeypatch.setattr(h.repository, "get_item", counted)
    monkeypatch.setattr(h.rerunner, "handle", handled)
    # When the account runs until quiet (the re-runner handles the batch's PROCESSED event)
    h.run()
    # Then it started both follow-ups, each handling of the batch reading its request and its LINK once
    assert len(h.follow_ups(batch_id)) == 2
    assert reads and all(counts == {"REQUEST": 1, "LINK": 1} for counts in reads), reads
