"""The demo scenario as a test: a 48-sample cohort through the whole sandboxed system."""

from __future__ import annotations

import json
import re
from decimal import Decimal

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
    for key in ("cost_usd", "failures_cost_usd", "cache_saved_usd"):  # money: a string in cents, as in the table
        assert re.fullmatch(r"\d+\.\d{2}", summary[key]), (key, summary[key])
        assert any(line.endswith(f"${Decimal(summary[key]):,.2f}") for line in lines[:-1]), key
    # And the story was told while it happened (issue 12): every injected fault by its reason, the re-run
    # decisions, the cache hits, the absorbed duplicates and reorderings, a closing table without reprs
    story = lines[:-1]
    for failure in demo.SCENARIO_FAILURES:
        assert any(" fault " in line and f"{failure.sample}:" in line and failure.reason in line for line in story), \
            failure
    assert any(" re-run " in line and "STARTED" in line for line in story)
    assert any(" re-run " in line and "NEVER" in line and "OUT_OF_MEMORY_ERROR" in line for line in story)
    assert any(" cache " in line and "from the run cache" in line for line in story)
    assert sum(" run " in line and "virtual +" in line for line in story) >= 2  # progress, not silence
    assert summary["events_duplicated"] == summary["events_delivered"] - summary["events_emitted"]  # none dropped
    assert any(line.startswith("provenance matches HealthOmics") and line.endswith("yes") for line in story)
    assert not any("{'" in line or "quiet=" in line or "Counter(" in line for line in story)
