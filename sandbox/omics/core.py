"""Shared state, ids, the discrete-event scheduler and event emission of the emulator."""

from __future__ import annotations

import heapq
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.omics.caching import CacheStore
from sandbox.omics.clock import VirtualClock
from sandbox.omics.events import EventPublisher, EventSink
from sandbox.omics.faults import FaultPlan
from sandbox.omics.manifests import ManifestWriter
from sandbox.omics.state import Batch, Run, RunCache, Workflow


@dataclass(frozen=True)
class Timings:
    """Virtual seconds spent in each status (task RUNNING time comes from the workflow spec)."""

    run_pending: float = 10.0
    run_starting: float = 60.0
    run_stopping: float = 30.0
    task_pending: float = 1.0
    task_starting: float = 5.0
    task_stopping: float = 2.0
    cache_hit_running: float = 1.0
    batch_creating: float = 1.0
    batch_validating: float = 2.0
    max_concurrent_tasks: int = 25


class EmulatorCore:
    """State and machinery the run, batch and API layers share. All mutation happens under ``lock``."""

    def __init__(
        self,
        *,
        clock: VirtualClock | None,
        s3: Any | None,
        events: Any | None,
        account_id: str,
        region: str,
        seed: int,
        faults: FaultPlan | None,
        timings: Timings | None,
        event_sink: EventSink | None,
        manifest_version: int,
        max_output_body_bytes: int,
        max_runs: int,
        logs: Any | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or VirtualClock()
        self.s3 = s3
        self.account_id = account_id
        self.region = region
        self.faults = faults or FaultPlan()
        self.timings = timings or Timings()
        self.max_runs = max_runs
        self._ids = random.Random(seed)
        self.fault_rng = self.faults.rng(seed)
        self.throttle_rng = random.Random((self.faults.seed if self.faults.seed is not None else seed) + 7)
        self.publisher = EventPublisher(
            events_client=events,
            account_id=account_id,
            region=region,
            rng=random.Random(seed + 1),
            faults=self.faults.events,
            sink=event_sink,
        )
        self.cache_store = CacheStore(
            s3=s3,
            account_id=account_id,
            region=region,
            rng=random.Random(seed + 2),
            manifest_version=manifest_version,
            max_output_body_bytes=max_output_body_bytes,
        )
        self.manifests = ManifestWriter(logs, region, account_id)
        self.calls: Counter[str] = Counter()
        self.workflows: dict[str, Workflow] = {}
        self.runs: dict[str, Run] = {}
        self.run_caches: dict[str, RunCache] = {}
        self.batches: dict[str, Batch] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.request_ids: dict[tuple[str, str], str] = {}  # (kind, requestId) -> resource id
        self.setting_attempts: Counter[str] = Counter()  # runSettingId -> runs created for it
        self._taken: set[str] = set()
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._now = self.clock.now()

    # ---- ids and names -------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            candidate = str(self._ids.randrange(1_000_000, 10_000_000))
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:omics:{self.region}:{self.account_id}:{kind}/{resource_id}"

    # ---- time ----------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The virtual time of the transition being processed (or the clock, between transitions)."""
        return self._now

    def schedule(self, delay_seconds: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self._now + timedelta(seconds=delay_seconds), self._seq, callback))

    def process_until(self, until: datetime) -> None:
        """Run every scheduled transition due at or before ``until``, in time order."""
        with self.lock:
            while self._queue and self._queue[0][0] <= until:
                when, _, callback = heapq.heappop(self._queue)
                self._now = max(self._now, when)
                callback()
            self._now = max(self._now, until)
            self.publisher.flush(self._now)

    def sync(self) -> None:
        """Catch up with the clock (someone may have advanced it directly)."""
        self.process_until(self.clock.now())

    def next_wakeup(self) -> datetime | None:
        times = [
            t for t in (self._queue[0][0] if self._queue else None, self.publisher.next_delayed_time()) if t
        ]
        return min(times) if times else None

    # ---- events --------------------------------------------------------------------------------
    def emit(self, detail_type: str, resource_arn: str, detail: dict[str, Any]) -> None:
        self.publisher.emit(
            detail_type, resource_arn, {k: v for k, v in detail.items() if v is not None}, self._now
        )
