"""OmicsEmulator: the public face of the emulator (state + clock + faults + wire dispatch)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sandbox.omics.api import HANDLERS
from sandbox.omics.batches import BatchesMixin
from sandbox.omics.caching import split_s3_uri
from sandbox.omics.clock import VirtualClock
from sandbox.omics.core import Timings
from sandbox.omics.errors import (
    NotImplementedByEmulator,
    ServiceQuotaExceededException,
    ThrottlingException,
    ValidationException,
)
from sandbox.omics.events import EventSink
from sandbox.omics.faults import FaultPlan
from sandbox.omics.specs import WorkflowSpec, definition_zip
from sandbox.omics.state import RUN_TERMINAL, RunCache, Workflow
from sandbox.omics.wire import WireResponse, handle_http


class OmicsEmulator(BatchesMixin):
    """A stateful, time-driven HealthOmics account. Thread-safe: one lock around all state."""

    def __init__(
        self,
        clock: VirtualClock | None = None,
        s3: Any | None = None,
        events: Any | None = None,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        seed: int = 0,
        faults: FaultPlan | None = None,
        *,
        timings: Timings | None = None,
        event_sink: EventSink | None = None,
        manifest_version: int = 1,
        max_output_body_bytes: int = 64 * 1024,
        max_runs: int = 100_000,
        logs: Any | None = None,
    ) -> None:
        """`logs`: a CloudWatch Logs client (moto) for run manifests; without one none are written."""
        super().__init__(
            clock=clock,
            s3=s3,
            events=events,
            account_id=account_id,
            region=region,
            seed=seed,
            faults=faults,
            timings=timings,
            event_sink=event_sink,
            manifest_version=manifest_version,
            max_output_body_bytes=max_output_body_bytes,
            max_runs=max_runs,
            logs=logs,
        )

    # ---- wire ----------------------------------------------------------------------------------
    def handle_http(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> WireResponse:
        return handle_http(method, url, headers, body, self.dispatch)

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Serve one parsed operation (what both transports call)."""
        with self.lock:
            self.calls[operation] += 1
            self.sync()
            if self.faults.should_throttle(operation, self.throttle_rng):
                raise ThrottlingException("Rate exceeded")
            handler = HANDLERS.get(operation)
            if handler is None:
                raise NotImplementedByEmulator(f"{operation} is not implemented by the sandbox emulator")
            result = handler(self, params)
            self.publisher.flush(self.now())
            return result

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(HANDLERS)

    # ---- time ----------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward, running every transition on the way (in time order)."""
        with self.lock:
            self.clock.advance(seconds)
            self.sync()

    def run_until_idle(self, max_seconds: float = 7 * 24 * 3600.0) -> bool:
        """Advance until no transition is scheduled and no delayed event is held back.

        Returns True when idle, False when ``max_seconds`` of virtual time ran out first.
        """
        with self.lock:
            self.sync()
            deadline = self.clock.now() + timedelta(seconds=max_seconds)
            while True:
                wake = self.next_wakeup()
                if wake is None:
                    return True
                if wake > deadline:
                    self.clock.set(deadline)
                    self.sync()
                    return False
                self.clock.set(wake)
                self.sync()

    def is_idle(self) -> bool:
        with self.lock:
            return self.next_wakeup() is None

    # ---- caching -------------------------------------------------------------------------------
    def bump_manifest_version(self) -> int:
        """A service update: the manifest version goes up by one; older entries are misses from now on."""
        with self.lock:
            return self.cache_store.bump()

    @property
    def manifest_version(self) -> int:
        return self.cache_store.manifest_version

    # ---- observation ---------------------------------------------------------------------------
    @property
    def emitted_events(self) -> list[dict[str, Any]]:
        return self.publisher.emitted

    @property
    def delivered_events(self) -> list[dict[str, Any]]:
        return self.publisher.delivered

    def active_runs(self) -> int:
        with self.lock:
            return sum(1 for r in self.runs.values() if r.status not in RUN_TERMINAL)

    # ---- resources -----------------------------------------------------------------------------
    def register_workflow(
        self,
        name: str,
        tasks: Sequence[Any] | None = None,
        *,
        engine: str = "WDL",
        storage_type: str | None = None,
        storage_capacity: int | None = None,
        parameter_template: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Convenience over CreateWorkflow (the same code path the API uses). Returns the workflow id."""
        with self.lock:
            spec = WorkflowSpec(tuple(tasks)) if tasks else WorkflowSpec()
            zipped = definition_zip(spec.tasks)
            wf = self.add_workflow(
                name=name,
                description=None,
                engine=engine,
                main="main.wdl",
                spec=spec,
                parameter_template=parameter_template,
                storage_type=storage_type,
                storage_capacity=storage_capacity,
                request_id=f"register-{name}-{self.new_uuid()}",
                digest_source=zipped,
                tags=tags or {},
            )
            return wf.id

    def add_workflow(
        self,
        *,
        name: str | None,
        description: str | None,
        engine: str,
        main: str | None,
        spec: WorkflowSpec | None,
        parameter_template: dict[str, Any] | None,
        storage_type: str | None,
        storage_capacity: int | None,
        request_id: str,
        digest_source: bytes,
        tags: dict[str, str],
    ) -> Workflow:
        wf_id = self.new_id()
        wf = Workflow(
            id=wf_id,
            arn=self.arn("workflow", wf_id),
            uuid=self.new_uuid(),
            name=name,
            description=description,
            engine=engine,
            main=main,
            digest="sha256:" + hashlib.sha256(digest_source or wf_id.encode()).hexdigest(),
            spec=spec or WorkflowSpec(),
            parameter_template=parameter_template,
            storage_type=storage_type,
            storage_capacity=storage_capacity,
            creation_time=self.now(),
            request_id=request_id,
        )
        self.workflows[wf_id] = wf
        self.request_ids[("workflow", request_id)] = wf_id
        self.tags[wf.arn] = dict(tags)
        return wf

    def add_run_cache(self, p: dict[str, Any]) -> RunCache:
        location = p["cacheS3Location"]
        try:
            split_s3_uri(location)
        except ValueError as exc:
            raise ValidationException(f"cacheS3Location must be an s3:// URI: {location}") from exc
        if sum(1 for c in self.run_caches.values() if c.status != "DELETED") >= 1000:
            raise ServiceQuotaExceededException("The account has reached its maximum of 1,000 run caches")
        cache_id = self.new_id()
        cache = RunCache(
            id=cache_id,
            arn=self.arn("runCache", cache_id),
            uuid=self.new_uuid(),
            name=p.get("name"),
            description=p.get("description"),
            cache_s3_location=location,
            cache_behavior=p.get("cacheBehavior") or "CACHE_ON_FAILURE",
            cache_bucket_owner_id=p.get("cacheBucketOwnerId"),
            creation_time=self.now(),
            request_id=p["requestId"],
        )
        self.run_caches[cache_id] = cache
        self.request_ids[("runCache", cache.request_id)] = cache_id
        self.tags[cache.arn] = dict(p.get("tags") or {})
        return cache
