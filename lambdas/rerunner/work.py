"""What arrives on the re-run queue, mapped to one work model.

Three message kinds share the queue:
- EventBridge events routed by the stack's rule: `Run Status Change` FAILED (a standalone run) and
  `RunBatch Status Change` PROCESSED (a batch whose failed members become one follow-up batch);
- work the re-runner sent itself: a delayed re-run waking up (SQS DelaySeconds or a one-time
  Scheduler schedule) or work held by the brake and released by an operator.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.events import IgnoredEvent, RunBatchStatusChange, RunStatusChange, parse_omics_event
from shared.status import BatchStatus, RunStatus

WORK_MARKER = "autopilotRerun"
WORK_VERSION = 1


class Work(BaseModel):
    """One unit of re-run work: a failed standalone run, or a processed batch."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["run", "batch"]
    id: str
    uuid: str | None = None  # a run's uuid: with its id, the run's identity (ids of deleted runs are reused)
    origin: Literal["event", "wake", "release"] = "event"
    event_id: str | None = None

    def message(self, origin: Literal["wake", "release"]) -> dict[str, Any]:
        """The queue message that brings this work back."""
        identity = {"uuid": self.uuid} if self.uuid else {}
        return {WORK_MARKER: WORK_VERSION, "kind": self.kind, "id": self.id, **identity, "origin": origin}


class NotOurs(Exception):
    """A message this consumer does not act on (other status, other detail-type): counted, not an error."""


def parse_work(raw: Any) -> Work:
    """Map one queue message body to work. Raises NotOurs for what is not re-run work and
    pydantic.ValidationError / IgnoredEvent for malformed input."""
    if isinstance(raw, dict) and raw.get(WORK_MARKER) == WORK_VERSION:
        return Work.model_validate({k: v for k, v in raw.items() if k != WORK_MARKER})
    if not isinstance(raw, dict):
        raise NotOurs(f"not an event: {type(raw).__name__}")
    try:
        event = parse_omics_event(raw)
    except IgnoredEvent as ignored:
        raise NotOurs(str(ignored)) from None
    if isinstance(event, RunStatusChange):
        if event.detail.status != RunStatus.FAILED:  # CANCELLED is a person's decision: never re-run
            raise NotOurs(f"run status {event.detail.status}")
        return Work(kind="run", id=event.detail.run_id, uuid=event.detail.uuid, event_id=event.id)
    if isinstance(event, RunBatchStatusChange):
        if event.detail.status != BatchStatus.PROCESSED:
            raise NotOurs(f"batch status {event.detail.status}")
        return Work(kind="batch", id=event.detail.batch_id, event_id=event.id)
    raise NotOurs(f"detail-type {event.detail_type}")
