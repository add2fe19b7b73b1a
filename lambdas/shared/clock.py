"""The one wall clock of the Lambda code.

Real UTC time in AWS. The local sandbox points it at its virtual clock while a handler runs, so
delays, ages and schedules computed by the code agree with the simulated HealthOmics account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def utc_now() -> datetime:
    return _source()


@contextmanager
def use_clock(source: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, utc_now() answers from `source` (the sandbox's virtual clock)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
