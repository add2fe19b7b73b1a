"""Relative times as documented (README "Operations", docs/OPERATIONS.md: `-2h`/`-30m`/`-7d`) reach every
option that takes a time: argparse alone reads `-24h` after `--from` as an unknown option (exit 2)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autopilot_cli.app import build_parser, main


@pytest.mark.parametrize("argv", [
    ["--table", "t", "replay", "--from", "-24h", "--to", "now"],
    ["--table", "t", "replay", "--from", "-7d", "--to", "-30m"],
    ["replay", "--to", "-2h", "--from", "-3h", "--json"],
    ["--table", "t", "replay", "--from=-24h"],
])
def test_replay_takes_relative_times(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.start.startswith("-") and args.start[-1] in "mhd"


def test_reconcile_at_takes_a_relative_time_and_sends_the_moment_it_names() -> None:
    class Target:
        description = "fake"
        payloads: list[Any] = []

        def invoke(self, capability: str, payload: Any) -> Any:
            self.payloads.append((capability, payload))
            return {"checked": 0}

        def settle(self) -> None:
            return None

        def now(self) -> datetime:
            return datetime.now(UTC)

    target = Target()
    stdout, stderr = io.StringIO(), io.StringIO()
    before = datetime.now(UTC)
    code = main(["--json", "reconcile", "--at", "-2h"], target=target, stdout=stdout, stderr=stderr)
    assert code == 0, stderr.getvalue()
    capability, payload = target.payloads[-1]
    at = datetime.fromisoformat(payload["scheduledTime"].replace("Z", "+00:00"))
    assert capability == "reconciler"
    assert before - timedelta(hours=2, seconds=5) <= at <= datetime.now(UTC) - timedelta(hours=2)


def test_reconcile_at_refuses_what_is_not_a_time() -> None:
    stderr = io.StringIO()
    code = main(["reconcile", "--at", "yesterday"], target=object(), stdout=io.StringIO(), stderr=stderr)
    assert code == 2 and "not a time" in stderr.getvalue()


def test_a_relative_time_is_still_refused_where_no_option_takes_it() -> None:
    stderr = io.StringIO()
    code = main(["--table", "t", "failures", "-24h"], stdout=io.StringIO(), stderr=stderr)
    assert code == 2
