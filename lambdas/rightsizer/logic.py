"""Right-sizing of one COMPLETED run from its manifest, read once, streamed; and a FAILED DYNAMIC run's
storage use from its manifest (HealthOmics writes it for failed runs too).

Off the recorder's hot path (its own queue). Zero HealthOmics calls: the run's batch comes from what the
recorder stored (its GetRun enrichment), the tasks and their use from the manifest stream. Memory is bounded
by one log page plus one aggregate per task name. Nothing is written until the whole stream is read, so a
read cut short (time, throttling) writes nothing and the record is retried.

Duplicates and reordering: a run whose marker says DONE is skipped (one BatchGetItem reads its marker and
summary); otherwise everything is
recomputed from the manifest and written as full puts, so two concurrent deliveries write the same items.
A DYNAMIC run's storage cost needs the manifest's average use: after the marker, the run's stored totals are
completed with it (a duplicate does it again: the same values).

A FAILED run (the guide, 'CloudWatch의 로그': every workflow log, the run manifest included, is written for
failed runs as for successful ones) is read only for that storage figure: its peaks are those of a partial
run, so it gets no task-name advice, no storage recommendation, and its marker stays out of the batch's
right-sizing (which counts sized, complete runs). A failed run that never started, or on STATIC storage (priced
from GetRun alone), is not read at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rightsizer.dal import ManifestLogs, ManifestMissing
from rightsizer.settings import COMPLETED, FAILED
from shared.clock import utc_now
from shared.cost.instances import by_name
from shared.cost.prices import PriceList
from shared.cost.rightsizing import RunNameAggregate, RunRightsizing, manifest_stream, needed_units
from shared.errors import RetryableError
from shared.provenance.cost_repository import CostRepository
from shared.provenance.rightsizing_repository import DONE, MANIFEST_MISSING, RightsizingRepository
from shared.status import iso_time

# Seconds kept in hand after the last page for the writes (one BatchWriteItem per 25 task names).
WRITE_BUDGET_SECONDS = 15.0


@dataclass(frozen=True)
class Config:
    headroom: float
    manifest_attempts: int


@dataclass
class Outcome:
    kind: str  # SIZED | DUPLICATE | MISSING | SKIPPED
    tasks: int = 0
    names: int = 0
    pages: int = 0


class ManifestConsumer:
    def __init__(self, repository: RightsizingRepository, logs: ManifestLogs, prices: Callable[[], PriceList],
                 config: Config, now: Callable[[], datetime] = utc_now,
                 time_left: Callable[[], float] = lambda: float("inf")) -> None:
        self.repository, self.logs, self.prices, self.config = repository, logs, prices, config
        self.now, self.time_left = now, time_left
        self.costs = CostRepository(repository.base)

    def handle(self, run_id: str, run_uuid: str, receive_count: int = 1, run_status: str = COMPLETED) -> Outcome:
        marker, recorded = self.repository.marker_and_summary(run_id, run_uuid)
        if marker and marker.get("status") == DONE:
            # A retry after the marker was written: the run's dynamic storage cost may still be unwritten.
            self._price_dynamic_storage(run_id, run_uuid, marker.get("storage_type"),
                                        marker.get("storage_average_gib"), self.prices)
            return Outcome("DUPLICATE")
        last_chance = receive_count >= self.config.manifest_attempts
        summary = recorded or {}
        if "details_recorded_at" not in summary and not last_chance:
            # The recorder enriches the same terminal event; its batch lineage indexes our items. Without it
            # by the last attempt the run is still sized, only outside any batch.
            raise RetryableError(f"run {run_id}: details not recorded yet; retried")
        failed = run_status == FAILED
        if failed and "details_recorded_at" in summary and not _storage_use_unpriced(summary):
            return Outcome("SKIPPED")
        # A failed run's marker is kept out of the batch's right-sizing advice (only its storage use is read).
        root_batch_id = None if failed else summary.get("root_batch_id")
        prices = self.prices()
        sizing = RunRightsizing(prices, self.config.headroom)
        pages_before = self.logs.pages_read
        try:
            sizing.add_events(self.logs.events(manifest_stream(run_id, run_uuid),
                                               stop=lambda: self.time_left() < WRITE_BUDGET_SECONDS))
        except ManifestMissing:
            if not last_chance:
                raise RetryableError(f"run {run_id}: manifest stream not written yet; retried") from None
            self.repository.write_run([], self.repository.marker_item(run_id, run_uuid, root_batch_id, {
                "status": MANIFEST_MISSING, "reason": f"no stream {manifest_stream(run_id, run_uuid)} after "
                f"{receive_count} receives", "recorded_at": iso_time(self.now())}))
            return Outcome("MISSING", pages=self.logs.pages_read - pages_before)
        pages = self.logs.pages_read - pages_before
        # A stream can exist before all its events are visible (CloudWatch Logs shows them seconds after
        # PutLogEvents; a big manifest takes several calls): complete means its run record and as many task
        # records as the recorder listed (ListRunTasks, written before `details_recorded_at`).
        listed = self._listed_tasks(run_id, run_uuid) if "details_recorded_at" in summary else 0
        complete = sizing.run_record is not None and sizing.tasks >= listed
        if not complete and not last_chance:
            raise RetryableError(f"run {run_id}: manifest incomplete so far ({sizing.tasks} of {listed} tasks"
                                 f"{', no run record' if sizing.run_record is None else ''}); retried")
        recorded_at = iso_time(self.now())
        common = {"headroom": self.config.headroom, "price_list_id": prices.list_id, "price_date": prices.date,
                  "recorded_at": recorded_at}
        names = [] if failed else [
            self.repository.name_item(run_id, run_uuid, root_batch_id, {**self._name_fields(sizing, agg), **common})
            for agg in sizing.by_name.values()]
        storage_fields = self._storage_use_fields(sizing) if failed else self._storage_fields(sizing)
        self.repository.write_run(names, self.repository.marker_item(run_id, run_uuid, root_batch_id, {
            "status": DONE, "run_status": run_status, "tasks": sizing.tasks, "manifest_complete": complete,
            "names": len(names), "log_pages": pages, "workflow_id": summary.get("workflow_id"), **storage_fields,
            **common}))
        storage = sizing.storage()
        self._price_dynamic_storage(run_id, run_uuid, storage.storage_type if storage else None,
                                    sizing.storage_average_gib(), lambda: prices)
        return Outcome("SIZED", tasks=sizing.tasks, names=len(names), pages=pages)

    def _listed_tasks(self, run_id: str, run_uuid: str) -> int:
        """How many tasks the recorder stored from ListRunTasks (counted by the Query: none is read)."""
        return self.costs.count_run_tasks(run_id, run_uuid)

    def _price_dynamic_storage(self, run_id: str, run_uuid: str, storage_type: str | None, average_gib: Any,
                               prices: Callable[[], PriceList]) -> None:
        """A DYNAMIC run is billed on its average used storage, which only the manifest has: after the marker
        (which the recorder reads when it prices later), complete the totals the recorder already stored."""
        if storage_type == "DYNAMIC" and average_gib is not None:
            self.costs.record_dynamic_storage(run_id, run_uuid, float(average_gib), prices())

    def _name_fields(self, sizing: RunRightsizing, agg: RunNameAggregate) -> dict[str, Any]:
        target = sizing.name_recommendation(agg)
        fields: dict[str, Any] = {
            "task_name": agg.name, "region": agg.region, "tasks": agg.tasks, "measured_tasks": agg.measured,
            "gpu_tasks": agg.gpu_tasks, "cpus_peak": agg.cpus_peak, "memory_peak_gib": agg.memory_peak_gib,
            "seconds_by_type": {t: s for t, s in agg.seconds_by_type.items()},
            "task_recommendations": dict(agg.recommended_by_task), "recommended_type": target,
            "current_usd": agg.current_usd, "recommended_usd": agg.recommended_usd, "saving_usd": agg.saving_usd,
        }
        if target and agg.cpus_peak is not None and agg.memory_peak_gib is not None:
            fields["request_cpus"] = needed_units(agg.cpus_peak, sizing.headroom)
            fields["request_memory_gib"] = needed_units(agg.memory_peak_gib, sizing.headroom)
            fitted = by_name(target)
            fields["recommended_vcpus"], fields["recommended_memory_gib"] = (
                (fitted.vcpus, fitted.memory_gib) if fitted else (None, None))
        return fields

    @staticmethod
    def _storage_use_fields(sizing: RunRightsizing) -> dict[str, Any]:
        """What a failed run's manifest says it used (what its storage is priced on), no recommendation."""
        storage = sizing.storage()
        if storage is None:
            return {}
        return {"storage_type": storage.storage_type, "storage_capacity_gib": storage.current_gib,
                "storage_average_gib": sizing.storage_average_gib(),
                "storage_maximum_gib": sizing.storage_maximum_gib()}

    @classmethod
    def _storage_fields(cls, sizing: RunRightsizing) -> dict[str, Any]:
        """What a completed run's manifest says it used, and the storage it should have had."""
        storage = sizing.storage()
        if storage is None:
            return {}
        return {**cls._storage_use_fields(sizing), "storage_recommended_gib": storage.recommended_gib,
                "storage_current_usd": storage.current_usd, "storage_recommended_usd": storage.recommended_usd}


def _storage_use_unpriced(summary: dict[str, Any]) -> bool:
    """Whether a recorded failed run's storage needs its manifest: it ran (a start time) on DYNAMIC storage,
    billed on the average use only the manifest has (STATIC is priced from GetRun's capacity)."""
    return summary.get("storage_type") == "DYNAMIC" and summary.get("start_time") is not None
