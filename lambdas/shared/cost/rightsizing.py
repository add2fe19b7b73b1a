"""Right-sizing from a run manifest, streamed (pure: the caller reads the log events).

The manifest is the CloudWatch Logs stream `manifest/run/<run id>/<run uuid>` in `/aws/omics/WorkflowLog`,
written when a run completes (the guide, 'Run manifest' / 'CloudWatch Logs'): one JSON record per log
event, the run (arn `...:run/<id>`) and each task (arn `...:task/<id>`: name, cpus, memory, gpus,
instanceType, startTime, stopTime). Its utilisation statistics (the guide lists cpusAverage,
cpusMaximum, cpusReserved, gpusReserved, memoryAverageGiB, memoryMaximumGiB, memoryReservedGiB,
runningSeconds) sit under `metrics` as the Run Analyzer reads them; top-level figures are accepted too.

Recommendation (as the Run Analyzer's `add_metrics`): the smallest omics type that fits
ceil(peak x (1 + headroom)) vCPUs and GiB; GPU tasks keep their type; the saving is priced over the same
billed seconds (60-second minimum). Memory is bounded: records are consumed one at a time and a batch
keeps one small aggregate per task name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.cost.calculator import SECONDS_PER_HOUR, billed_seconds, elapsed_seconds, region_of, static_capacity_gib
from shared.cost.instances import smallest_fitting
from shared.cost.prices import PriceList, PriceRef

LOG_GROUP = "/aws/omics/WorkflowLog"
# The guide (run optimisation): include at least 5 % headroom for background OS processes.
DEFAULT_HEADROOM = 0.05
# The guide ('필요한 정적 실행 스토리지 계산'): the static file system's own installation takes 7 % of its
# capacity, so only 93 % of a static size holds the run's data (as a fraction: exact integer arithmetic).
STATIC_USABLE_PERCENT = 93


def manifest_stream(run_id: str, run_uuid: str) -> str:
    return f"manifest/run/{run_id}/{run_uuid}"


def manifest_records(events: Iterable[str | Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """JSON records from log events (GetLogEvents/FilterLogEvents events, or their messages). Lines
    that are not JSON objects are skipped, as the Run Analyzer does."""
    for event in events:
        message = event.get("message") if isinstance(event, Mapping) else event
        try:
            record = json.loads(message) if isinstance(message, str) else None
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("arn"), str):
            yield record


def _kind(record: Mapping[str, Any]) -> str:
    parts = record["arn"].split(":")
    return parts[-1].split("/")[0] if parts else ""


def _metric(record: Mapping[str, Any], name: str) -> float | None:
    value = (record.get("metrics") or {}).get(name, record.get(name))
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class TaskUsage:
    arn: str
    name: str
    region: str | None
    instance_type: str | None
    gpus: int
    cpus_maximum: float | None
    memory_maximum_gib: float | None
    billed_seconds: Decimal | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> TaskUsage:
        gpus = int(_metric(record, "gpusReserved") or record.get("gpus") or 0)
        instance = record.get("instanceType") or _metric_str(record, "omicsInstanceTypeReserved")
        if not instance:  # the service's own choice for what the task asked
            chosen = smallest_fitting(record.get("cpus"), record.get("memory"), gpus, region=region_of(record["arn"]))
            instance = chosen.name if chosen else None
        return cls(arn=record["arn"], name=str(record.get("name") or record["arn"]), region=region_of(record["arn"]),
                   instance_type=instance, gpus=gpus, cpus_maximum=_metric(record, "cpusMaximum"),
                   memory_maximum_gib=_metric(record, "memoryMaximumGiB"),
                   billed_seconds=billed_seconds(record.get("startTime"), record.get("stopTime")))


def _metric_str(record: Mapping[str, Any], name: str) -> str | None:
    value = (record.get("metrics") or {}).get(name)
    return value if isinstance(value, str) else None


def task_usages(events: Iterable[str | Mapping[str, Any]]) -> Iterator[TaskUsage]:
    for record in manifest_records(events):
        if _kind(record) == "task":
            yield TaskUsage.of(record)


def _price(prices: PriceList, instance: str | None, region: str | None, seconds: Decimal | None) -> Decimal | None:
    hourly = prices.instance_hourly(instance, region)
    return None if hourly is None or seconds is None else hourly * seconds / SECONDS_PER_HOUR


def fitting_type(cpus_peak: float, memory_peak_gib: float, headroom: float, region: str | None) -> str | None:
    need_cpu = max(1, math.ceil(cpus_peak * (1 + headroom)))
    need_mem = max(1, math.ceil(memory_peak_gib * (1 + headroom)))
    chosen = smallest_fitting(need_cpu, need_mem, 0, region=region)
    return chosen.name if chosen else None


class _Saving:
    """Current minus recommended cost; unknown when either is."""

    current_usd: Decimal | None
    recommended_usd: Decimal | None

    @property
    def saving_usd(self) -> Decimal | None:
        if self.current_usd is None or self.recommended_usd is None:
            return None
        return self.current_usd - self.recommended_usd


@dataclass(frozen=True)
class Recommendation(_Saving):
    name: str
    arn: str
    current_type: str | None
    recommended_type: str | None  # None: no utilisation figures, or nothing fits
    billed_seconds: Decimal | None
    current_usd: Decimal | None
    recommended_usd: Decimal | None
    price: PriceRef


def recommend(usage: TaskUsage, prices: PriceList, headroom: float = DEFAULT_HEADROOM) -> Recommendation:
    if usage.gpus or usage.cpus_maximum is None or usage.memory_maximum_gib is None:
        target = usage.instance_type if usage.gpus else None
    else:
        target = fitting_type(usage.cpus_maximum, usage.memory_maximum_gib, headroom, usage.region)
    return Recommendation(
        name=usage.name, arn=usage.arn, current_type=usage.instance_type, recommended_type=target,
        billed_seconds=usage.billed_seconds,
        current_usd=_price(prices, usage.instance_type, usage.region, usage.billed_seconds),
        recommended_usd=_price(prices, target, usage.region, usage.billed_seconds) if target else None,
        price=prices.ref)


def recommendations(events: Iterable[str | Mapping[str, Any]], prices: PriceList,
                    headroom: float = DEFAULT_HEADROOM) -> Iterator[Recommendation]:
    """Per task of one run's manifest, streamed."""
    for usage in task_usages(events):
        yield recommend(usage, prices, headroom)


@dataclass(frozen=True)
class StorageRecommendation:
    storage_type: str
    current_gib: int | None  # static: the provisioned (rounded) capacity
    recommended_gib: int | None  # static size whose usable 93 % holds peak + headroom (rounded as the service)
    seconds: Decimal | None
    current_usd: Decimal | None
    recommended_usd: Decimal | None
    price: PriceRef


def static_size_for_peak(peak_gib: float, headroom: float) -> int:
    """The smallest static size S the service provisions with S - 0.07 x S >= peak x (1 + headroom)."""
    needed = needed_units(peak_gib, headroom)
    return static_capacity_gib(-(-needed * 100 // STATIC_USABLE_PERCENT))  # ceil(needed / 0.93)


def recommend_storage(run_record: Mapping[str, Any], prices: PriceList,
                      headroom: float = DEFAULT_HEADROOM) -> StorageRecommendation:
    """Static storage sized to the run's storageMaximumGiB (plus headroom and the file system's 7 %), priced
    for the run's duration."""
    storage_type = str(run_record.get("storageType") or "STATIC")
    region = region_of(run_record.get("arn"))
    seconds = elapsed_seconds(run_record.get("startTime"), run_record.get("stopTime"))
    rate = prices.storage_gib_hourly("STATIC", region)
    peak = _metric(run_record, "storageMaximumGiB")
    current = static_capacity_gib(run_record.get("storageCapacity")) if storage_type == "STATIC" else None
    recommended = static_size_for_peak(peak, headroom) if peak is not None else None

    def cost(gib: int | None) -> Decimal | None:
        return None if gib is None or rate is None or seconds is None else rate * gib * seconds / SECONDS_PER_HOUR

    return StorageRecommendation(storage_type, current, recommended, seconds, cost(current), cost(recommended),
                                 prices.ref)


@dataclass
class NameAggregate:
    """One task name across a batch: peaks, billed time per current type, and what it cost."""

    tasks: int = 0
    cpus_peak: float | None = None
    memory_peak_gib: float | None = None
    seconds_by_type: dict[tuple[str | None, str | None], Decimal] = field(default_factory=dict)

    def add(self, usage: TaskUsage) -> None:
        self.tasks += 1
        if usage.cpus_maximum is not None:
            self.cpus_peak = max(self.cpus_peak or 0.0, usage.cpus_maximum)
        if usage.memory_maximum_gib is not None:
            self.memory_peak_gib = max(self.memory_peak_gib or 0.0, usage.memory_maximum_gib)
        if usage.billed_seconds is not None:
            key = (usage.instance_type, usage.region)
            self.seconds_by_type[key] = self.seconds_by_type.get(key, Decimal(0)) + usage.billed_seconds


@dataclass(frozen=True)
class NameRecommendation(_Saving):
    name: str
    tasks: int
    current_types: tuple[str, ...]
    recommended_type: str | None
    current_usd: Decimal | None
    recommended_usd: Decimal | None
    price: PriceRef


class BatchRightsizing:
    """Aggregate task usage by name across the runs of a batch; memory grows with distinct names only.
    The batch recommendation fits the batch-wide peak (the Run Analyzer's --batch mode: the maximum
    needed to handle the outliers of the data set)."""

    def __init__(self, prices: PriceList, headroom: float = DEFAULT_HEADROOM) -> None:
        self.prices, self.headroom = prices, headroom
        self.by_name: dict[str, NameAggregate] = {}

    def add_manifest(self, events: Iterable[str | Mapping[str, Any]]) -> None:
        for usage in task_usages(events):
            self.add(usage)

    def add(self, usage: TaskUsage) -> None:
        if not usage.gpus:  # GPU tasks keep their accelerator type
            self.by_name.setdefault(usage.name, NameAggregate()).add(usage)

    def merge(self, name: str, part: NameAggregate) -> None:
        """One run's stored aggregate of a task name (what the manifest consumer wrote)."""
        agg = self.by_name.setdefault(name, NameAggregate())
        agg.tasks += part.tasks
        for peak in ("cpus_peak", "memory_peak_gib"):
            mine, theirs = getattr(agg, peak), getattr(part, peak)
            if theirs is not None:
                setattr(agg, peak, max(mine or 0.0, theirs))
        for key, seconds in part.seconds_by_type.items():
            agg.seconds_by_type[key] = agg.seconds_by_type.get(key, Decimal(0)) + seconds

    def results(self) -> Iterator[NameRecommendation]:
        for name in sorted(self.by_name):
            agg = self.by_name[name]
            regions = {region for _, region in agg.seconds_by_type}
            target = None
            if agg.cpus_peak is not None and agg.memory_peak_gib is not None:
                # One type for every region the name ran in: fit it where the fewest types are offered.
                fits = {fitting_type(agg.cpus_peak, agg.memory_peak_gib, self.headroom, r) for r in regions or {None}}
                target = fits.pop() if len(fits) == 1 else None
            current: Decimal | None = Decimal(0)
            recommended: Decimal | None = Decimal(0) if target else None
            for (instance, region), seconds in agg.seconds_by_type.items():
                now = _price(self.prices, instance, region, seconds)
                current = None if current is None or now is None else current + now
                if recommended is not None:
                    then = _price(self.prices, target, region, seconds)
                    recommended = None if then is None else recommended + then
            yield NameRecommendation(name, agg.tasks, tuple(sorted(i for i, _ in agg.seconds_by_type if i)),
                                     target, current, recommended, self.prices.ref)


def needed_units(peak: float, headroom: float) -> int:
    """What to request for a peak plus headroom (whole vCPUs / GiB, at least 1)."""
    return max(1, math.ceil(peak * (1 + headroom)))


@dataclass
class RunNameAggregate:
    """One task name within one run: what the consumer stores (bounded by task names, not tasks)."""

    name: str
    region: str | None = None
    tasks: int = 0
    measured: int = 0  # tasks with utilisation figures
    gpu_tasks: int = 0
    cpus_peak: float | None = None
    memory_peak_gib: float | None = None
    seconds_by_type: dict[str, Decimal] = field(default_factory=dict)  # current type -> billed seconds
    current_usd: Decimal | None = Decimal(0)
    recommended_usd: Decimal | None = Decimal(0)  # sum of each task's own recommendation
    recommended_by_task: dict[str, int] = field(default_factory=dict)  # recommended type -> tasks

    def add(self, usage: TaskUsage, rec: Recommendation) -> None:
        """Costs and billed seconds count the tasks the advice covers (measured, or GPU: kept as they are);
        a task without utilisation figures (a cache hit ran nothing) is only counted."""
        self.tasks += 1
        self.region = self.region or usage.region
        if usage.gpus:
            self.gpu_tasks += 1
        if usage.cpus_maximum is not None and usage.memory_maximum_gib is not None:
            self.measured += 1
            self.cpus_peak = max(self.cpus_peak or 0.0, usage.cpus_maximum)
            self.memory_peak_gib = max(self.memory_peak_gib or 0.0, usage.memory_maximum_gib)
        if rec.recommended_type is None:
            return
        if usage.billed_seconds is not None and usage.instance_type:
            self.seconds_by_type[usage.instance_type] = (self.seconds_by_type.get(usage.instance_type, Decimal(0))
                                                         + usage.billed_seconds)
        self.current_usd = None if self.current_usd is None or rec.current_usd is None else \
            self.current_usd + rec.current_usd
        self.recommended_usd = None if self.recommended_usd is None or rec.recommended_usd is None else \
            self.recommended_usd + rec.recommended_usd
        if rec.recommended_type:
            self.recommended_by_task[rec.recommended_type] = self.recommended_by_task.get(rec.recommended_type, 0) + 1

    @property
    def saving_usd(self) -> Decimal | None:
        if self.current_usd is None or self.recommended_usd is None:
            return None
        return self.current_usd - self.recommended_usd

    def as_name_aggregate(self) -> NameAggregate:
        """For a batch: this run's share of the task name's batch-wide aggregate."""
        agg = NameAggregate(tasks=self.tasks - self.gpu_tasks, cpus_peak=self.cpus_peak,
                            memory_peak_gib=self.memory_peak_gib)
        agg.seconds_by_type = {(t, self.region): s for t, s in self.seconds_by_type.items()}
        return agg


@dataclass
class RunRightsizing:
    """One run's manifest, consumed record by record: per task name aggregates and the run record."""

    prices: PriceList
    headroom: float = DEFAULT_HEADROOM
    by_name: dict[str, RunNameAggregate] = field(default_factory=dict)
    run_record: dict[str, Any] | None = None
    tasks: int = 0

    def add_events(self, events: Iterable[str | Mapping[str, Any]]) -> None:
        for record in manifest_records(events):
            kind = _kind(record)
            if kind == "run":
                # Kept without its parameters and digests: only the figures storage needs.
                self.run_record = {k: record.get(k) for k in ("arn", "storageType", "storageCapacity",
                                                               "startTime", "stopTime", "metrics") if k in record}
            elif kind == "task":
                usage = TaskUsage.of(record)
                self.tasks += 1
                self.by_name.setdefault(usage.name, RunNameAggregate(usage.name)).add(
                    usage, recommend(usage, self.prices, self.headroom))

    def name_recommendation(self, agg: RunNameAggregate) -> str | None:
        """One type for the task name in this run: fits its peak (GPU names keep theirs: not advised)."""
        if agg.gpu_tasks or agg.cpus_peak is None or agg.memory_peak_gib is None:
            return None
        return fitting_type(agg.cpus_peak, agg.memory_peak_gib, self.headroom, agg.region)

    def storage(self) -> StorageRecommendation | None:
        return recommend_storage(self.run_record, self.prices, self.headroom) if self.run_record else None

    def storage_average_gib(self) -> float | None:
        return _metric(self.run_record, "storageAverageGiB") if self.run_record else None

    def storage_maximum_gib(self) -> float | None:
        return _metric(self.run_record, "storageMaximumGiB") if self.run_record else None
