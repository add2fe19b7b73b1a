"""A second terminal event of a run that is already recorded and enriched (the reconciler healed it at GetRun's
stopTime, then the real event arrived seconds later with a later time: all terminal statuses share one rank,
so the later one is applied) must not enrich the run again: no second GetRun/ListRunTasks, no second cost
metric, and the run does not stay in the reconciler's active index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import parse_omics_event
from shared.provenance.repository import ProvenanceRepository
from shared.recorder import Recorder
from tests.factories import get_run_response, run_event

T0 = datetime(2026, 2, 1, tzinfo=UTC)


class _Omics:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_run(self, id: str) -> dict[str, Any]:
        self.calls.append("GetRun")
        return get_run_response(id, "COMPLETED", uuid="u1", creationTime=T0)

    def get_paginator(self, operation: str) -> Any:
        calls = self.calls

        class _Pages:
            def paginate(self, **_: Any) -> Any:
                calls.append("ListRunTasks")
                yield {"items": [{"taskId": "t1", "name": "align", "status": "COMPLETED"}]}

        return _Pages()


def _completed(at: datetime) -> Any:
    event = run_event("1", "COMPLETED", at)
    event["detail"]["uuid"] = "u1"
    return parse_omics_event(event)


def test_a_later_terminal_event_of_an_enriched_run_does_not_enrich_it_again(table_name: str) -> None:
    repository = ProvenanceRepository(table_name)
    omics = _Omics()
    recorder = Recorder(repository, omics=lambda: omics)

    first = recorder.record(_completed(T0))
    second = recorder.record(_completed(T0 + timedelta(seconds=4)))

    assert second.advanced  # the later time is applied (same rank, later event)
    assert first.enriched and not second.enriched
    assert omics.calls == ["GetRun", "ListRunTasks"]
    summary = repository.run_summary("1", "u1")
    assert summary is not None and "active_pk" not in summary
