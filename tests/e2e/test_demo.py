"""The demo scenario as a test: a 48-sample cohort through the whole sandboxed system."""

from __future__ import annotations

import json

import pytest

from sandbox import demo


@pytest.mark.slow
def test_demo_cohort_outcome_is_what_the_scenario_expects(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the bundled cohort with injected failures, duplicated and reordered events
    # When the demo plays it through every deployed handler
    exit_code = demo.main([])
    # Then it exits 0, its last line is the JSON summary, and provenance matched HealthOmics
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert exit_code == 0, lines[-30:]
    assert summary["ok"] is True
    assert summary["samples"] == 48
    assert summary["dlq_messages"] == 0
    assert summary["events_delivered"] > summary["events_emitted"]  # duplicates were delivered
    for key in ("runs_total", "runs_completed", "runs_failed_unresolved", "reruns", "cache_hits",
                "cache_entries_pruned", "provenance_items", "events_delivered", "dlq_messages"):
        assert isinstance(summary[key], int), key
    assert summary["runs_completed"] + summary["runs_failed_unresolved"] <= summary["runs_total"]
