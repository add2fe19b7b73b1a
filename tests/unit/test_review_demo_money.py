"""The demo's closing JSON line and table show money the same way: a string rounded to cents."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from sandbox import demo


def test_money_is_rounded_to_cents_as_a_string() -> None:
    # Given the sums the cost roll-up returns (Decimal strings with the context's full precision)
    # When they become the demo's money figures
    # Then they are strings with exactly two decimals, rounded half up, and unknown stays None
    assert demo.cents("67.584000000000000000000000") == "67.58"
    assert demo.cents("0.005") == "0.01"
    assert demo.cents("1234.5") == "1234.50"
    assert demo.cents("0") == "0.00"
    assert demo.cents(None) is None


def test_table_shows_the_json_line_figures() -> None:
    # Given a summary whose money is rounded to cents as the JSON line prints it
    summary = {key: 0 for key in ("samples", "runs_total", "runs_completed", "runs_failed_unresolved", "reruns",
                                  "cache_hits", "cache_entries_pruned", "cache_bytes_reclaimed", "events_emitted",
                                  "events_delivered", "provenance_items", "handler_invocations", "omics_calls",
                                  "dlq_messages")}
    summary.update(ok=True, cost_usd=demo.cents("1234.565"), failures_cost_usd=demo.cents("0"),
                   cache_saved_usd=None, price_list="list@2026-01-01")
    # When the closing table is drawn
    table = "\n".join(demo.summary_table(summary, SimpleNamespace(duplicates=0, reordered=0), Counter()))
    # Then each figure is the JSON line's, with a dollar sign and thousands separators
    assert summary["cost_usd"] == "1234.57"
    assert "$1,234.57" in table and "$0.00" in table and "unknown (list@2026-01-01)" in table
