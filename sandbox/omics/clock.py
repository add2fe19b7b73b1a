"""Virtual clock shared by the emulator and the sandbox wiring."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """A monotonic clock that only moves when told to.

    ``now()`` returns an aware UTC datetime. The emulator reads it on every call and catches up on
    every scheduled transition that became due, so advancing the clock directly (instead of through
    ``OmicsEmulator.advance``) is allowed.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the virtual clock never goes back")
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> datetime:
        """Move forward to ``when`` (never backwards)."""
        with self._lock:
            when = when.astimezone(UTC)
            if when > self._now:
                self._now = when
            return self._now
