"""Run / Task / RunBatch Status Change events, in the guide's format, with delivery faults."""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.omics.faults import EventFaults

OMICS_VERSION = "1.0.0"
PUT_EVENTS_CHUNK = 10  # PutEvents accepts at most 10 entries per call

EventSink = Callable[[list[dict[str, Any]]], None]


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class EventPublisher:
    """Builds events, applies the delivery faults, and puts them on the default bus.

    ``emitted`` is every event the service produced (one per transition, unique ids, in order);
    ``delivered`` is what actually went to the bus, after drops, duplicates, delays and reordering.
    """

    def __init__(
        self,
        *,
        events_client: Any | None,
        account_id: str,
        region: str,
        rng: random.Random,
        faults: EventFaults,
        sink: EventSink | None = None,
        bus_name: str = "default",
    ) -> None:
        self._client = events_client
        self._account = account_id
        self._region = region
        self._rng = rng
        self._faults = faults
        self._sink = sink
        self._bus = bus_name
        self.emitted: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.failed_puts: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._delayed: list[tuple[datetime, int, dict[str, Any]]] = []
        self._seq = 0

    def emit(self, detail_type: str, resource_arn: str, detail: dict[str, Any], when: datetime) -> None:
        event = {
            "version": "0",
            "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "detail-type": detail_type,
            "source": "aws.omics",
            "account": self._account,
            "time": iso(when),
            "region": self._region,
            "resources": [resource_arn],
            "detail": {"omicsVersion": OMICS_VERSION, **detail},
        }
        self.emitted.append(event)
        f = self._faults
        if f.drop and self._rng.random() < f.drop:
            self.dropped.append(event)
            return
        copies = 2 if f.duplicate and self._rng.random() < f.duplicate else 1
        for _ in range(copies):
            if f.delay and self._rng.random() < f.delay:
                self._seq += 1
                heapq.heappush(self._delayed, (when + timedelta(seconds=f.delay_seconds), self._seq, event))
            else:
                self._outbox.append(event)

    @property
    def pending_delayed(self) -> int:
        return len(self._delayed)

    def next_delayed_time(self) -> datetime | None:
        return self._delayed[0][0] if self._delayed else None

    def flush(self, now: datetime) -> None:
        """Deliver what is due at ``now``: the outbox (possibly reordered) and due delayed events."""
        while self._delayed and self._delayed[0][0] <= now:
            self._outbox.append(heapq.heappop(self._delayed)[2])
        if not self._outbox:
            return
        batch, self._outbox = self._outbox, []
        f = self._faults
        if f.reorder and len(batch) > 1:
            window = max(2, f.reorder_window)
            for i in range(len(batch) - 1):
                if self._rng.random() < f.reorder:
                    j = self._rng.randrange(i + 1, min(len(batch), i + window))
                    batch[i], batch[j] = batch[j], batch[i]
        self._deliver(batch)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        if self._sink is not None:
            self._sink(batch)
        if self._client is None:
            self.delivered.extend(batch)
            return
        for start in range(0, len(batch), PUT_EVENTS_CHUNK):
            chunk = batch[start : start + PUT_EVENTS_CHUNK]
            entries = [
                {
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Detail": json.dumps(e["detail"]),
                    "Resources": e["resources"],
                    "Time": datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                    "EventBusName": self._bus,
                }
                for e in chunk
            ]
            response = self._client.put_events(Entries=entries)
            for event, result in zip(chunk, response.get("Entries", []), strict=False):
                if result.get("EventId"):
                    self.delivered.append(event)
                else:
                    self.failed_puts.append(event)
