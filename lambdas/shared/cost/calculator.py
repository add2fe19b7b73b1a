"""Pure cost arithmetic over what the recorder already stores (RunDetails from GetRun, TaskDetails from
ListRunTasks): no AWS calls here.

Billing rules, as the HealthOmics Run Analyzer applies them (awslabs/amazon-omics-tools,
omics/cli/run_analyzer/__main__.py, `add_metrics`):
- a task: its instance type's hourly price x max(60, stopTime - startTime) seconds / 3600;
- static run storage: the provisioned capacity (minimum 1,200 GiB, then multiples of 2,400 GiB, rounded
  up: the guide, 'Run storage types') x the run's startTime..stopTime hours;
- dynamic run storage: the run's average used GiB (the run manifest's storageAverageGiB) x the same hours.
The 60-second minimum was added to the Run Analyzer by awslabs/aws-healthomics-tools issue #60 ("tasks
that run for < 1 minute are billed for 1 whole minute", PR #62). Its issue #84 (the run's estimatedUSD
differs from the sum of its tasks: the run row is storage only) is why a run's cost here is its storage
item plus its task items, each kept separately.
A missing price or duration makes that item unknown (usd None), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.cost.prices import PriceList, PriceRef
from shared.provenance.items import RunDetails, TaskDetails
from shared.status import from_iso_time

MINIMUM_BILLED_SECONDS = 60
STATIC_MINIMUM_GIB = 1200
STATIC_INCREMENT_GIB = 2400
SECONDS_PER_HOUR = Decimal(3600)

TASK, RUN_STORAGE, AVOIDED = "task", "run_storage", "avoided"
SPENT_KINDS = (TASK, RUN_STORAGE)


def static_capacity_gib(requested: int | None) -> int:
    """What static run storage provisions for a requested capacity (guide: 1,000 -> 1,200;
    5,000 -> 7,200; 42,000 -> 43,200; default 1,200)."""
    if not requested or requested <= STATIC_MINIMUM_GIB:
        return STATIC_MINIMUM_GIB
    return math.ceil(requested / STATIC_INCREMENT_GIB) * STATIC_INCREMENT_GIB


def _parse(moment: str | None) -> datetime | None:
    return from_iso_time(moment) if moment else None


def elapsed_seconds(start: str | None, stop: str | None) -> Decimal | None:
    begin, end = _parse(start), _parse(stop)
    if begin is None or end is None:
        return None
    return max(Decimal(0), Decimal(str((end - begin).total_seconds())))


def billed_seconds(start: str | None, stop: str | None) -> Decimal | None:
    """Per second with the 60-second minimum; None when the task's times are not both known."""
    seconds = elapsed_seconds(start, stop)
    return None if seconds is None else max(Decimal(MINIMUM_BILLED_SECONDS), seconds)


def region_of(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


@dataclass(frozen=True)
class RunContext:
    """The dimensions every cost item of a run carries, so each roll-up is one grouping."""

    run_id: str
    region: str | None
    workflow_id: str | None = None
    root_run_id: str | None = None
    attempt: int = 0
    sample: str | None = None
    batch_id: str | None = None  # the root batch: follow-up batches roll up into their first
    day: str | None = None  # the run's start day (UTC), for per-workflow-per-day roll-ups

    @classmethod
    def of(cls, run: RunDetails, region: str | None = None) -> RunContext:
        return cls(run_id=run.run_id, region=region or region_of(run.arn), workflow_id=run.workflow_id,
                   root_run_id=run.root_run_id, attempt=run.attempt, sample=run.sample,
                   batch_id=run.root_batch_id or run.batch_id,
                   day=(run.start_time or run.creation_time or "")[:10] or None)


@dataclass(frozen=True)
class CostItem:
    kind: str  # TASK | RUN_STORAGE | AVOIDED
    run: RunContext
    entity_id: str  # the task id, or the run id for storage
    name: str | None
    usd: Decimal | None  # None: unknown (a price or a duration is missing)
    basis: str  # priced | price_unknown | duration_unknown | never_started | cache_hit | producer | estimated | unknown
    price: PriceRef
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def estimated(self) -> bool:
        return self.basis == "estimated"

    def record(self) -> dict[str, Any]:
        """A flat, JSON/DynamoDB-safe form (money as strings) for provenance and exports."""
        return {
            "kind": self.kind, "run_id": self.run.run_id, "entity_id": self.entity_id, "name": self.name,
            "usd": None if self.usd is None else str(self.usd), "basis": self.basis,
            "price_list_id": self.price.list_id, "price_list_date": self.price.date,
            **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.detail.items()},
        }


NEVER_STARTED_OUTCOMES = frozenset({"FAILED", "CANCELLED"})  # ends a run or a task can reach without starting


def task_cost(task: TaskDetails, run: RunContext, prices: PriceList) -> CostItem:
    """One task's compute cost. A cache hit did not run on an instance: it costs nothing here, its
    avoided cost is `avoided_cost`. Nor did a task that ended without a startTime."""
    def item(usd: Decimal | None, basis: str, **detail: Any) -> CostItem:
        return CostItem(TASK, run, task.task_id, task.name, usd, basis, prices.ref,
                        {"instance_type": task.instance_type, **detail})

    if task.cache_hit:
        return item(Decimal(0), "cache_hit")
    if task.start_time is None and task.status in NEVER_STARTED_OUTCOMES:
        # The guide ('실행 상태의 요금 영향'): only running tasks are billed; a task cancelled while PENDING
        # or STARTING (its run failed or was cancelled first) never ran on an instance.
        return item(Decimal(0), "never_started")
    seconds = billed_seconds(task.start_time, task.stop_time)
    if seconds is None:
        return item(None, "duration_unknown")
    hourly = prices.instance_hourly(task.instance_type, run.region)
    if hourly is None:
        return item(None, "price_unknown", billed_seconds=seconds)
    return item(hourly * seconds / SECONDS_PER_HOUR, "priced", billed_seconds=seconds, usd_per_hour=hourly)


def storage_cost(run: RunDetails, context: RunContext, prices: PriceList,
                 dynamic_average_gib: float | None = None) -> CostItem:
    """The run's storage for its startTime..stopTime. Dynamic storage needs the manifest's average use."""
    storage_type = run.storage_type or "STATIC"

    def item(usd: Decimal | None, basis: str, **detail: Any) -> CostItem:
        return CostItem(RUN_STORAGE, context, run.run_id, storage_type, usd, basis, prices.ref,
                        {"storage_type": storage_type, **detail})

    if run.start_time is None and run.status in NEVER_STARTED_OUTCOMES:
        # Storage exists from the run's start (startTime) until it stops: a run that ended before it
        # started had none (the Run Analyzer, too, counts 0 running seconds without a startTime).
        return item(Decimal(0), "never_started")
    seconds = elapsed_seconds(run.start_time, run.stop_time)
    if storage_type == "DYNAMIC":
        gib = None if dynamic_average_gib is None else Decimal(str(dynamic_average_gib))
    else:
        gib = Decimal(static_capacity_gib(run.storage_capacity))
    if seconds is None or gib is None:
        return item(None, "duration_unknown" if seconds is None else "usage_unknown", charged_gib=gib)
    rate = prices.storage_gib_hourly(storage_type, context.region)
    if rate is None:
        return item(None, "price_unknown", charged_gib=gib, seconds=seconds)
    return item(rate * gib * seconds / SECONDS_PER_HOUR, "priced", charged_gib=gib, seconds=seconds,
                usd_per_gib_hour=rate)


def run_cost_items(run: RunDetails, tasks: Iterable[TaskDetails], prices: PriceList, *,
                   region: str | None = None, dynamic_average_gib: float | None = None) -> Iterator[CostItem]:
    """Every spent-cost item of one run: its storage, then one per task (streamed, tasks not held)."""
    context = RunContext.of(run, region)
    yield storage_cost(run, context, prices, dynamic_average_gib)
    for task in tasks:
        yield task_cost(task, context, prices)


def avoided_cost(hit: TaskDetails, run: RunContext, prices: PriceList, producer: CostItem | None = None,
                 same_name: Iterable[CostItem] = ()) -> CostItem:
    """What a cache hit saved: the producer task's cost when known, else the mean known cost of tasks of
    the same name in the same workflow (marked estimated), else unknown."""
    if producer is not None and producer.usd is not None:
        return CostItem(AVOIDED, run, hit.task_id, hit.name, producer.usd, "producer", producer.price,
                        {"producer_run_id": producer.run.run_id, "producer_task_id": producer.entity_id})
    known = [c.usd for c in same_name if c.kind == TASK and c.basis == "priced" and c.name == hit.name
             and c.run.workflow_id == run.workflow_id and c.usd is not None]
    if known:
        return CostItem(AVOIDED, run, hit.task_id, hit.name, sum(known, Decimal(0)) / len(known), "estimated",
                        prices.ref, {"estimated_from": len(known)})
    return CostItem(AVOIDED, run, hit.task_id, hit.name, None, "unknown", prices.ref)


@dataclass
class Total:
    """A roll-up: the sum of known figures, and how many were unknown or estimated (never hidden)."""

    usd: Decimal = Decimal(0)
    items: int = 0
    unknown: int = 0
    estimated: int = 0
    price_lists: set[PriceRef] = field(default_factory=set)

    def add(self, item: CostItem) -> None:
        self.items += 1
        self.price_lists.add(item.price)
        if item.usd is None:
            self.unknown += 1
        else:
            self.usd += item.usd
            self.estimated += item.estimated

    @property
    def complete(self) -> bool:
        return self.unknown == 0

    def record(self) -> dict[str, Any]:
        return {"usd": str(self.usd), "items": self.items, "unknown": self.unknown, "estimated": self.estimated,
                "complete": self.complete,
                "price_lists": sorted(f"{p.list_id}@{p.date}" for p in self.price_lists)}


def roll_up(items: Iterable[CostItem], key: Callable[[CostItem], Any],
            kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    """Group items of the given kinds by key (items whose key is None are left out); one pass."""
    totals: dict[Any, Total] = {}
    for item in items:
        if item.kind not in kinds:
            continue
        group = key(item)
        if group is not None:
            totals.setdefault(group, Total()).add(item)
    return totals


def per_run(items: Iterable[CostItem], kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    return roll_up(items, lambda c: c.run.run_id, kinds)


def per_attempt_chain(items: Iterable[CostItem], kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    """A sample's failed attempts and their re-runs share the root run id."""
    return roll_up(items, lambda c: c.run.root_run_id or c.run.run_id, kinds)


def per_sample(items: Iterable[CostItem], kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    return roll_up(items, lambda c: c.run.sample, kinds)


def per_batch(items: Iterable[CostItem], kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    return roll_up(items, lambda c: c.run.batch_id, kinds)


def per_workflow_day(items: Iterable[CostItem], kinds: tuple[str, ...] = SPENT_KINDS) -> dict[Any, Total]:
    return roll_up(items, lambda c: (c.run.workflow_id, c.run.day) if c.run.workflow_id else None, kinds)


# ---------------------------------------------------------------- stored figures (provenance)
# A run's totals are stored as one small map (money as strings, unknown as absent), so roll-ups over many
# runs read those maps, never the runs' tasks.

def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class RunTotals:
    """One run's stored cost, added up item by item (a run's tasks can be priced page by page, never all
    held): what it spent (storage + tasks) and what its cache hits avoided."""

    def __init__(self) -> None:
        self.spent, self.avoided = Total(), Total()
        self.storage_items: list[CostItem] = []

    def add(self, item: CostItem) -> None:
        if item.kind == AVOIDED:
            self.avoided.add(item)
        elif item.kind == RUN_STORAGE:
            self.storage_items.append(item)
        else:
            self.spent.add(item)

    def record(self) -> dict[str, Any]:
        """`usd` is present only when every item is known; `known_usd` is the sum of what is known."""
        spent, avoided, storage = replace(self.spent, price_lists=set(self.spent.price_lists)), self.avoided, Total()
        storage_items = self.storage_items
        for item in storage_items:  # added last, as `with_storage` adds it: either order stores the same sum
            spent.add(item)
            storage.add(item)
        refs = sorted(spent.price_lists | avoided.price_lists, key=lambda p: (p.date, p.list_id))
        latest = refs[-1] if refs else None
        return {
            "usd": _money(spent.usd if spent.complete else None), "known_usd": str(spent.usd),
            "items": spent.items, "unknown": spent.unknown,
            "storage_usd": _money(storage.usd if storage.items and storage.complete else None),
            **({"storage": stored_figure(storage_items[0])} if len(storage_items) == 1 else {}),
            "avoided_usd": _money(avoided.usd if avoided.complete else None), "avoided_known_usd": str(avoided.usd),
            "avoided_items": avoided.items, "avoided_unknown": avoided.unknown,
            "avoided_estimated": avoided.estimated,
            "price_list_id": latest.list_id if latest else None, "price_list_date": latest.date if latest else None,
        }


def run_totals(items: Iterable[CostItem]) -> dict[str, Any]:
    """One run's stored cost from all its items (`RunTotals`, in one pass)."""
    totals = RunTotals()
    for item in items:
        totals.add(item)
    return totals.record()


def stored_figure(item: CostItem) -> dict[str, Any]:
    """One item as a run's totals keep it: usd (absent when unknown), basis, the price list used, detail."""
    return {k: v for k, v in item.record().items() if k not in ("kind", "run_id", "entity_id", "name")
            and v is not None}


def with_storage(totals: Mapping[str, Any], storage: CostItem) -> dict[str, Any]:
    """A run's stored totals with its storage figure replaced by `storage`: how a DYNAMIC run's storage,
    unknown until the manifest's average use is read, completes totals priced before. From the same run
    totals and the same storage item, the result equals `run_totals` over all the run's items."""
    figure = stored_figure(storage)
    if totals.get("storage") == figure:
        return dict(totals)
    old_usd = _decimal_or_none(totals.get("storage_usd"))  # present only when the old figure was known
    known = Decimal(str(totals.get("known_usd") or 0)) - (old_usd or Decimal(0))
    if storage.usd is not None:
        known += storage.usd
    unknown = int(totals.get("unknown") or 0) - (old_usd is None) + (storage.usd is None)
    refs = [storage.price] + ([PriceRef(str(totals["price_list_id"]), str(totals.get("price_list_date")))]
                              if totals.get("price_list_id") else [])
    latest = max(refs, key=lambda p: (p.date, p.list_id))
    return {**totals, "usd": _money(known if unknown == 0 else None), "known_usd": str(known),
            "unknown": unknown, "storage_usd": _money(storage.usd), "storage": figure,
            "price_list_id": latest.list_id, "price_list_date": latest.date}


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def combine(totals: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Sum stored run totals (a roll-up). A run with no stored cost (not enriched yet, or gone) counts in
    `runs_without_cost` and makes the total unknown, as an unknown item does."""
    runs = without = items = unknown = avoided_items = avoided_unknown = avoided_estimated = 0
    known, avoided_known = Decimal(0), Decimal(0)
    lists: set[str] = set()
    for total in totals:
        runs += 1
        if not total:
            without += 1
            continue
        known += _decimal_or_none(total.get("known_usd")) or Decimal(0)
        avoided_known += _decimal_or_none(total.get("avoided_known_usd")) or Decimal(0)
        items += int(total.get("items") or 0)
        unknown += int(total.get("unknown") or 0)
        avoided_items += int(total.get("avoided_items") or 0)
        avoided_unknown += int(total.get("avoided_unknown") or 0)
        avoided_estimated += int(total.get("avoided_estimated") or 0)
        if total.get("price_list_id"):
            lists.add(f"{total['price_list_id']}@{total.get('price_list_date')}")
    complete = runs > 0 and without == 0 and unknown == 0
    return {
        "runs": runs, "runs_without_cost": without, "usd": _money(known if complete else None),
        "known_usd": str(known), "items": items, "unknown": unknown,
        "avoided_usd": _money(avoided_known if runs and without == 0 and avoided_unknown == 0 else None),
        "avoided_known_usd": str(avoided_known), "avoided_items": avoided_items,
        "avoided_unknown": avoided_unknown, "avoided_estimated": avoided_estimated,
        "price_lists": sorted(lists),
    }
