"""A run's cost, from what the recorder already fetched (GetRun + ListRunTasks): zero HealthOmics calls.

Cache hits: a hit task did not run; what it avoided is the cost of the task that produced the entry. Our
re-runs resume from the failed attempt's cache, so the producer is a task that completed in the parent
attempt (or, when that one was itself a hit, the parent's own producer): the one the hit's cacheS3Uri names
(the guide, '실행 캐시의 내용': `s3://{cache.S3location}/{cache.uuid}/runID/taskID/{cacheentry.uuid}/`),
else the parent's task of the same name. Without a recorded producer, the mean cost of the same task name
in the workflow's recent runs stands in, marked `estimated`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from shared.cost.calculator import (
    TASK,
    CostItem,
    RunContext,
    RunTotals,
    avoided_cost,
    region_of,
    storage_cost,
    task_cost,
)
from shared.cost.prices import PriceList, PriceRef, load_snapshot
from shared.provenance.items import RunDetails, TaskDetails

# The price provider the recorder is given: region (None when the run's ARN has none) -> price list.
PriceProvider = Callable[[str | None], PriceList]
_DROPPED = ("kind", "run_id", "entity_id", "name", "instance_type")


@lru_cache(maxsize=1)
def _snapshot() -> PriceList:
    return load_snapshot()


def snapshot_prices(region: str | None) -> PriceList:
    """The default provider: the repository's dated snapshot, one list for every region (read once)."""
    return _snapshot()


@dataclass
class RunCost:
    context: RunContext
    totals: dict[str, Any]
    task_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> {"cost", "avoided"}
    task_means: dict[str, str] = field(default_factory=dict)  # name -> mean priced cost of that name here

    @property
    def usd(self) -> Decimal | None:
        return None if self.totals.get("usd") is None else Decimal(self.totals["usd"])

    @property
    def avoided_usd(self) -> Decimal | None:
        avoided = self.totals.get("avoided_usd")
        return None if avoided is None or not self.totals.get("avoided_items") else Decimal(avoided)

    def line(self, run_uuid: str) -> dict[str, Any]:
        c = self.context
        return {"run_id": c.run_id, "run_uuid": run_uuid, "workflow_id": c.workflow_id, "day": c.day,
                "sample": c.sample, "attempt": c.attempt, "root_run_id": c.root_run_id, "root_batch_id": c.batch_id}


def cost_map(item: CostItem) -> dict[str, Any]:
    """What a task item stores about its cost: usd (absent when unknown), basis, the price list used."""
    return {k: v for k, v in item.record().items() if k not in _DROPPED and v is not None}


def _stored(task: Mapping[str, Any], context: RunContext) -> CostItem | None:
    """The cost a recorded task item produced a cache entry at (its own, or its producer's when a hit)."""
    if task.get("status") not in (None, "COMPLETED"):
        return None  # a failed or cancelled task wrote no cache entry
    cost, avoided = task.get("cost") or {}, task.get("avoided") or {}
    if not task.get("cache_hit") and cost.get("usd") is not None and cost.get("basis") == "priced":
        ref = PriceRef(str(cost.get("price_list_id")), str(cost.get("price_list_date")))
        return CostItem(TASK, context, str(task.get("task_id")), task.get("name"), Decimal(str(cost["usd"])),
                        "priced", ref)
    if task.get("cache_hit") and avoided.get("basis") == "producer" and avoided.get("usd") is not None:
        ref = PriceRef(str(avoided.get("price_list_id")), str(avoided.get("price_list_date")))
        producer = RunContext(run_id=str(avoided.get("producer_run_id")), region=context.region,
                              workflow_id=context.workflow_id)
        return CostItem(TASK, producer, str(avoided.get("producer_task_id")), task.get("name"),
                        Decimal(str(avoided["usd"])), "priced", ref)
    return None


def entry_origin(cache_s3_uri: str | None) -> tuple[str, str] | None:
    """The (run id, task id) that wrote a cache entry, from its location
    `s3://{cache.S3location}/{cache.uuid}/{runId}/{taskId}/{cacheEntryUuid}/` (or its manifest file)."""
    if not cache_s3_uri or not cache_s3_uri.startswith("s3://"):
        return None
    parts = [part for part in cache_s3_uri[len("s3://"):].split("/") if part]
    if parts and parts[-1].endswith(".json"):
        parts.pop()
    if len(parts) < 5:  # bucket, cache uuid, run id, task id, entry uuid at least
        return None
    return parts[-3], parts[-2]


@dataclass
class Producers:
    """The parent attempt's cache entries' costs, by the (run id, task id) that wrote each, and by task
    name (the last of each name) for hits whose location names none of them."""

    by_origin: dict[tuple[str, str], CostItem] = field(default_factory=dict)
    by_name: dict[str, CostItem] = field(default_factory=dict)

    def of(self, hit: TaskDetails) -> CostItem | None:
        origin = entry_origin(hit.cache_s3_uri)
        found = self.by_origin.get(origin) if origin else None
        return found or self.by_name.get(hit.name or "")


def producers(parent_tasks: Iterable[Mapping[str, Any]], parent: RunContext) -> Producers:
    found = Producers()
    for task in parent_tasks:
        item = _stored(task, parent)
        if item is None:
            continue
        # A parent task's own run and id, or (for a parent hit) its producer's: who wrote the entry.
        found.by_origin[(item.run.run_id, item.entity_id)] = item
        if item.name:
            found.by_name[item.name] = item
    return found


def estimates(lines: Iterable[Mapping[str, Any]], workflow_id: str | None) -> list[CostItem]:
    """Same-name task costs of the workflow's recent runs (their cost lines' per-name means)."""
    found = []
    for line in lines:
        cost = line.get("cost") or {}
        ref = PriceRef(str(cost.get("price_list_id")), str(cost.get("price_list_date")))
        context = RunContext(run_id=str(line.get("run_id")), region=None, workflow_id=workflow_id)
        for name, usd in (line.get("task_means") or {}).items():
            found.append(CostItem(TASK, context, "", name, Decimal(str(usd)), "priced", ref))
    return found


class RunPricer:
    """Spent cost (storage + tasks) and avoided cost (hits) of one run, priced a page of tasks at a time:
    it keeps running totals and one sum per task name, never the priced tasks, so its memory does not grow
    with the run's tasks. The two readers are called at most once, and only when the run has cache hits (a
    DynamoDB Query each, no HealthOmics call); `parent_tasks` answers None while the parent attempt's tasks
    are not all recorded. A DYNAMIC run's storage needs its manifest's average use
    (`dynamic_average_gib`): without it, that figure stays unknown."""

    def __init__(self, details: RunDetails, prices: PriceList, *,
                 parent_tasks: Callable[[], Iterable[Mapping[str, Any]] | None],
                 workflow_lines: Callable[[], list[dict[str, Any]]],
                 dynamic_average_gib: float | None = None) -> None:
        self.details, self.prices = details, prices
        self.context = RunContext.of(details)
        self._parent_tasks, self._workflow_lines = parent_tasks, workflow_lines
        self.totals = RunTotals()
        self.totals.add(storage_cost(details, self.context, prices, dynamic_average_gib))
        self._sums: dict[str, tuple[Decimal, int]] = {}  # name -> (sum, count) of its priced tasks
        self._producers: Producers | None = None  # read on the first hit
        self._same_name: list[CostItem] | None = None  # read on the first hit without a producer
        self._pending = False
        self.hits = 0

    def add(self, tasks: Iterable[TaskDetails]) -> dict[str, dict[str, Any]]:
        """Price these tasks: what each task item stores about its cost (task id -> {"cost", "avoided"})."""
        attributes: dict[str, dict[str, Any]] = {}
        for task in tasks:
            item = task_cost(task, self.context, self.prices)
            self.totals.add(item)
            attributes[task.task_id] = {"cost": cost_map(item)}
            if item.basis == "priced" and item.usd is not None and task.name:
                total, count = self._sums.get(task.name, (Decimal(0), 0))
                self._sums[task.name] = (total + item.usd, count + 1)
            if task.cache_hit:
                avoided = self._avoided(task)
                self.totals.add(avoided)
                attributes[task.task_id]["avoided"] = cost_map(avoided)
        return attributes

    def _avoided(self, hit: TaskDetails) -> CostItem:
        self.hits += 1
        details = self.details
        if self._producers is None:
            parent = RunContext(run_id=details.parent_run_id or "", region=self.context.region,
                                workflow_id=details.workflow_id)
            recorded = self._parent_tasks() if details.parent_run_id else ()
            # None: the parent attempt is not (wholly) recorded yet (events reorder, its enrichment may be
            # half done): its enrichment reprices this run. Streamed otherwise: one small item per parent
            # task that wrote an entry is kept.
            self._pending = recorded is None
            self._producers = producers(recorded or (), parent)
        producer = self._producers.of(hit)
        if producer is None and self._same_name is None:
            self._same_name = estimates(self._workflow_lines(), details.workflow_id)
        return avoided_cost(hit, self.context, self.prices, producer=producer, same_name=self._same_name or ())

    def finish(self, task_attributes: dict[str, dict[str, Any]] | None = None) -> RunCost:
        means = {name: str(total / count) for name, (total, count) in self._sums.items()}
        totals = self.totals.record()
        if self.hits and self._pending:
            totals["avoided_pending"] = self.hits
        return RunCost(self.context, totals, task_attributes or {}, means)

    def price_all(self, tasks: Iterable[TaskDetails]) -> RunCost:
        """The run's cost from all its tasks at once, with every task's attributes (a repricing from the
        recorded tasks, where the run is read back whole)."""
        return self.finish(self.add(tasks))


def region(details: RunDetails) -> str | None:
    return region_of(details.arn)
