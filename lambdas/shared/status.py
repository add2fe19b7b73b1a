"""Status ordering for runs, tasks and batches.

Events are best effort: duplicated, missing, out of order. Every write is ordered by
(status rank, event time, status) so any permutation of the same events converges. The event id is
deliberately not part of the order: a duplicate may reach us under a new id (a re-put or replayed
copy), and it is still the same observation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    DELETED = "DELETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


class BatchStatus(StrEnum):
    CREATING = "CREATING"
    PENDING = "PENDING"
    SUBMITTING = "SUBMITTING"
    INPROGRESS = "INPROGRESS"
    STOPPING = "STOPPING"
    CANCELLED = "CANCELLED"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"
    RUNS_DELETING = "RUNS_DELETING"
    RUNS_DELETED = "RUNS_DELETED"
    RUNS_DELETE_FAILED = "RUNS_DELETE_FAILED"  # the service model's; not in the guide's event list


# Runs and tasks share one lifecycle. DELETED follows a terminal state (metadata removed later).
RUN_RANK: dict[str, int] = {
    RunStatus.PENDING: 1,
    RunStatus.STARTING: 2,
    RunStatus.RUNNING: 3,
    RunStatus.STOPPING: 4,
    RunStatus.COMPLETED: 5,
    RunStatus.FAILED: 5,
    RunStatus.CANCELLED: 5,
    RunStatus.DELETED: 6,
}
RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})

BATCH_RANK: dict[str, int] = {
    BatchStatus.CREATING: 1,
    BatchStatus.PENDING: 2,
    BatchStatus.SUBMITTING: 3,
    BatchStatus.INPROGRESS: 4,
    BatchStatus.STOPPING: 5,
    BatchStatus.PROCESSED: 6,
    BatchStatus.FAILED: 6,
    BatchStatus.CANCELLED: 6,
    BatchStatus.RUNS_DELETING: 7,
    BatchStatus.RUNS_DELETED: 8,
    BatchStatus.RUNS_DELETE_FAILED: 8,  # the other outcome of RUNS_DELETING
}
BATCH_TERMINAL = frozenset({BatchStatus.PROCESSED, BatchStatus.FAILED, BatchStatus.CANCELLED})
# No longer in flight, no members to record (FAILED created no run): out of the reconciler's `active` index at once.
BATCH_SETTLED = frozenset({BatchStatus.FAILED})
# Every run ended, or was cancelled (a batch cancelled while submitting may never have reached INPROGRESS, and its
# runs cost what they ran), or its runs are being (were) deleted (DeleteRunBatch: on PROCESSED or CANCELLED only):
# not in flight, but in the `active` index until the members are recorded, whichever of these comes first
# (and, for a transitional one, until the status that follows it is recorded: BATCH_TRANSITIONAL).
BATCH_ENDED = frozenset({BatchStatus.PROCESSED, BatchStatus.CANCELLED, BatchStatus.RUNS_DELETING,
                         BatchStatus.RUNS_DELETED, BatchStatus.RUNS_DELETE_FAILED})
# Ended, yet a later status is certain: DeleteRunBatch's deletion of the runs ends RUNS_DELETED (or
# RUNS_DELETE_FAILED). Such a batch stays in the `active` index, members recorded or not, until that status is
# recorded or GetBatch no longer knows it (DeleteBatch), so the reconciler heals the status if its event is lost.
BATCH_TRANSITIONAL = frozenset({BatchStatus.RUNS_DELETING})
# Once every submission was attempted, ListRunsInBatch holds the complete runSettingId -> runId map; deleting
# the runs keeps their entries (submissionStatus DELETE_SUCCESS | DELETE_FAILED); DeleteBatch removes them.
BATCH_MEMBERS_KNOWN = frozenset({BatchStatus.INPROGRESS}) | BATCH_ENDED

UNKNOWN_RANK = 0


def run_rank(status: str) -> int:
    return RUN_RANK.get(status, UNKNOWN_RANK)


def batch_rank(status: str) -> int:
    return BATCH_RANK.get(status, UNKNOWN_RANK)


def iso_time(moment: datetime) -> str:
    """Fixed-width UTC timestamp, so lexical order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso_time(text: str) -> datetime:
    """An ISO 8601 timestamp (ours, `iso_time`, or an AWS one ending in Z) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def order_key(rank: int, moment: datetime, status: str) -> str:
    """Total order of status observations: rank first, then event time, then status name (tie-break)."""
    return f"{rank:02d}#{iso_time(moment)}#{status}"
