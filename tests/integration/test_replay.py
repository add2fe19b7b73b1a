"""Replay: every archived aws.omics event replayed into the system leaves provenance exactly as it was.

The cohort runs with best-effort delivery (duplicates, reordering, delays, drops), the reconciler heals
what was lost, then the operator replays the whole archive through the CLI (EventBridge StartReplay of
the stack's archive; moto re-delivers archived events to every rule of the bus, with a replay-name). A
full table scan before and after must be identical, item for item, attribute for attribute: no timestamp
is exempt, because no recorded value may depend on when (or how often) an event is processed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from autopilot_cli.app import main
from autopilot_cli.target import SandboxTarget
from sandbox.local import LocalAccount
from sandbox.omics import EventFaults, FaultPlan
from tests.operations_scenario import CONTEXT, failing_faults, later, play_cohort, scan

pytestmark = pytest.mark.slow
Items = dict[tuple[str, str], dict[str, Any]]


@dataclass
class Replayed:
    before: Items
    after: Items
    exit_code: int
    output: dict[str, Any]
    archived: int
    redelivered: int
    dead_letters: int

    def changed(self, entity_filter: Any) -> dict[tuple[str, str], tuple[Any, Any]]:
        return {k: (self.before[k], self.after.get(k)) for k in self.before
                if entity_filter(self.before[k].get("entity")) and self.before[k] != self.after.get(k)}


@pytest.fixture(scope="module")
def replayed() -> Iterator[Replayed]:
    # Given a cohort recorded from imperfect delivery and healed by the reconciler
    faults = FaultPlan(runs=failing_faults(), events=EventFaults(duplicate=0.1, reorder=0.2, delay=0.05,
                                                                 drop=0.05))
    with LocalAccount(CONTEXT, seed=11, faults=faults) as account:
        play_cohort(account, samples=6, batch_size=8)
        account.invoke("reconciler", {"scheduledTime": later(account, 31)})
        account.deliver()
        before = scan(account)
        archive_arn, _ = SandboxTarget(account).archive()
        archived = account.events.describe_archive(ArchiveName=archive_arn.rsplit("/", 1)[-1])["EventCount"]
        handled_before = sum(account.stats.records.values())

        # When the operator replays the whole archive
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(["--json", "replay", "--from", "2026-01-01T00:00:00Z", "--to", "now", "--poll-seconds", "0"],
                    target=SandboxTarget(account), stdout=stdout, stderr=stderr)
        assert code == 0, stderr.getvalue()
        yield Replayed(before, scan(account), code, json.loads(stdout.getvalue()), archived,
                       sum(account.stats.records.values()) - handled_before, account.dlq_messages())


def test_the_whole_archive_was_replayed_through_the_system(replayed: Replayed) -> None:
    assert replayed.output["state"] == "COMPLETED"
    assert replayed.archived > 100
    assert replayed.redelivered >= replayed.archived  # every archived event reached the recorder again
    assert replayed.dead_letters == 0


def test_replay_changes_no_provenance_item(replayed: Replayed) -> None:
    # Then every item the recorder, the reconciler and the launcher wrote is exactly as it was
    assert replayed.after.keys() == replayed.before.keys()
    assert replayed.changed(lambda entity: entity != "RERUN_DECISION") == {}


def test_replay_changes_no_rerun_decision(replayed: Replayed) -> None:
    # A redelivered FAILED event reaches the re-runner again: its decision record keeps its first time.
    assert replayed.changed(lambda entity: entity == "RERUN_DECISION") == {}
