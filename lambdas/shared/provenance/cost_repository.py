"""Cost data access (issue 14): where a run's cost lives in the provenance table, and the roll-ups.

Layout (keys.py): a run's totals are the `cost` map of its run summary; each task item carries `cost` (and a
cache hit `avoided`); one COST#WORKFLOW line per run under its workflow and start day. So:
- per run: the run summary (one GetItem, or the run's one Query for its tasks too);
- per attempt chain, per sample, per batch (with its follow-ups): the lineage, sample and batch indexes,
  which already hold every run summary (projection ALL): one Query each;
- per workflow per day: one Query of the workflow's cost lines for that day.
A 10,000-task run writes no extra task item (its task items carry their cost) and 1 cost line.
Every write is a fact recomputed from the same inputs: re-recording a run rewrites the same values.
A DYNAMIC run's storage is billed on the manifest's average use, which the right-sizer reads: the recorder
prices with the average from its marker when there, else the right-sizer completes the stored totals
(`record_dynamic_storage`); whichever comes last writes the full figure, both the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shared.cost.calculator import RunContext, combine, storage_cost, with_storage
from shared.cost.prices import PriceList
from shared.provenance import keys
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceError, ProvenanceRepository, _Update, deserialize, serialize
from shared.provenance.rightsizing_repository import rightsize_sk

# Recent runs of a workflow read to estimate a cache hit whose producer is unknown.
ESTIMATE_RUNS = 20
# Per-task-name means kept on a run's cost line (for those estimates), bounded for the 400 KB item limit.
MAX_NAMES_PER_LINE = 2000
# Read-and-write rounds of a run's totals when another writer changes them in between.
STORAGE_WRITE_ATTEMPTS = 3


class CostRepository:
    def __init__(self, repository: ProvenanceRepository) -> None:
        self.repository = repository

    # ------------------------------------------------------------------ writes (the recorder)
    def record_run_cost(self, run: Mapping[str, Any], totals: Mapping[str, Any],
                        task_means: Mapping[str, str]) -> None:
        """A run's totals on its summary and its line under its workflow's day. `run` holds run_id,
        run_uuid, workflow_id, day, sample, attempt, root_run_id (the dimensions shown with the line)."""
        run_id, run_uuid = str(run["run_id"]), str(run["run_uuid"])
        self.repository._update(ProvenanceRepository.run_summary_key(run_id, run_uuid),
                                _Update(sets={"cost": dict(totals)}), returns="NONE")
        self.record_cost_line(run, totals, task_means)

    def record_cost_line(self, run: Mapping[str, Any], totals: Mapping[str, Any],
                         task_means: Mapping[str, str]) -> None:
        """A run's line under its workflow's day (nothing without a workflow or a day); its summary's totals
        are written by `record_run_cost`, or with its details (`record_run_details(cost=...)`)."""
        line = self.cost_line_item(run, totals, task_means)
        if line is not None:
            self.repository.put_record(line)

    @staticmethod
    def cost_line_item(run: Mapping[str, Any], totals: Mapping[str, Any],
                       task_means: Mapping[str, str]) -> dict[str, Any] | None:
        """The item `record_cost_line` writes (None without a workflow or a day): the recorder writes it with a
        run's last task items, in their request."""
        if not (run.get("workflow_id") and run.get("day")):
            return None
        run_id, run_uuid = str(run["run_id"]), str(run["run_uuid"])
        names = dict(sorted(task_means.items())[:MAX_NAMES_PER_LINE])
        return {
            keys.PK: keys.cost_workflow_pk(str(run["workflow_id"])),
            keys.SK: keys.cost_workflow_sk(str(run["day"]), run_id, run_uuid),
            "entity": "COST_LINE", **{k: v for k, v in run.items() if v is not None},
            "cost": dict(totals), "task_means": names, "task_means_truncated": len(task_means) > len(names),
        }

    def record_dynamic_storage(self, run_id: str, run_uuid: str, average_gib: float | None,
                               prices: PriceList) -> dict[str, Any] | None:
        """A DYNAMIC run's storage priced on its manifest's average use, replacing the storage figure in the
        totals already stored (the run summary's and its workflow-day line's); the new totals, or None when
        there is nothing to complete yet: the run is not priced and detailed (whoever records it then reads
        the right-sizing marker), or not DYNAMIC. The same inputs write the same values."""
        for _ in range(STORAGE_WRITE_ATTEMPTS):
            summary = self.repository.run_summary(run_id, run_uuid) or {}
            totals = summary.get("cost")
            if not totals or "details_recorded_at" not in summary or summary.get("storage_type") != "DYNAMIC":
                return None
            run = RunDetails.model_validate(summary)
            context = RunContext.of(run)
            updated = with_storage(totals, storage_cost(run, context, prices, average_gib))
            if updated == totals:
                return updated
            try:
                # Only over the totals just read: the recorder may be repricing the run's cache hits meanwhile.
                self.repository._call(
                    "update_item", Key=serialize(ProvenanceRepository.run_summary_key(run_id, run_uuid)),
                    UpdateExpression="SET #cost = :new", ConditionExpression="#cost = :read",
                    ExpressionAttributeNames={"#cost": "cost"},
                    ExpressionAttributeValues=serialize({":new": updated, ":read": totals}))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue  # the totals changed under us: read them again
            if run.workflow_id and context.day:
                line_key = {keys.PK: keys.cost_workflow_pk(run.workflow_id),
                            keys.SK: keys.cost_workflow_sk(context.day, run_id, run_uuid)}
                if self.repository.get_item(line_key[keys.PK], line_key[keys.SK]) is not None:
                    self.repository._update(line_key, _Update(sets={"cost": updated}))  # else its write failed
            return updated
        raise ProvenanceError(f"run {run_id}: its cost kept changing while its storage was priced", True)

    def await_parent_costs(self, parent_run_id: str, parent_run_uuid: str, run_id: str, run_uuid: str) -> None:
        """A re-run priced before the attempt it resumes was recorded: a marker in the parent's partition,
        which the parent's enrichment reads (`waiting_reprices`) to price the re-run's cache hits again."""
        self.repository.put_record({
            keys.PK: keys.run_pk(parent_run_id),
            keys.SK: keys.run_sk(parent_run_uuid, keys.reprice_sk(run_id, run_uuid)),
            "entity": "REPRICE", "child_run_id": run_id, "child_run_uuid": run_uuid})

    def waiting_reprices(self, run_id: str, run_uuid: str) -> list[tuple[str, str]]:
        """The re-runs that left a marker on this run (id, uuid): one strongly consistent Query of the run's
        own partition, which sees a marker written just before, where the lineage index might not yet."""
        markers = self.repository._query(
            None, KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.run_pk(run_id),
                                                 ":prefix": keys.run_sk(run_uuid, keys.REPRICE)}),
            ConsistentRead=True)
        return [(str(m["child_run_id"]), str(m["child_run_uuid"])) for m in markers]

    def details_recorded(self, run_id: str, run_uuid: str) -> bool:
        """Whether the run's enrichment wrote its details (after all its tasks): one strongly consistent
        GetItem of the summary's marker attribute alone (an enriched summary can be large)."""
        response = self.repository._call(
            "get_item", Key=serialize(ProvenanceRepository.run_summary_key(run_id, run_uuid)), ConsistentRead=True,
            ProjectionExpression="#d", ExpressionAttributeNames={"#d": "details_recorded_at"})
        return "details_recorded_at" in response.get("Item", {})

    def storage_average_gib(self, run_id: str, run_uuid: str) -> float | None:
        """The run manifest's storageAverageGiB as the right-sizer stored it (one GetItem of its marker);
        None until the manifest is read, or when it never appeared (MANIFEST_MISSING)."""
        marker = self.repository.get_item(keys.run_pk(run_id), rightsize_sk(run_uuid)) or {}
        average = marker.get("storage_average_gib")
        return None if average is None else float(average)

    # ------------------------------------------------------------------ reads
    def run_tasks(self, run_id: str, run_uuid: str) -> list[dict[str, Any]]:
        """A run's task items (ListRunTasks rows with their cost), one Query, no status history."""
        return list(self.iter_run_tasks(run_id, run_uuid))

    def iter_run_tasks(self, run_id: str, run_uuid: str) -> Iterator[dict[str, Any]]:
        """`run_tasks` a Query page at a time (a 10,000-task run is never held whole). Strongly consistent:
        the tasks are read just after another writer recorded them (a parent and its re-run price each other)."""
        for item in self.repository._query(
                None, KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
                ExpressionAttributeValues=serialize({":pk": keys.run_pk(run_id),
                                                     ":prefix": keys.run_sk(run_uuid, "TASK#")}),
                ConsistentRead=True):
            if item.get("entity") == "TASK":
                yield item

    def count_run_tasks(self, run_id: str, run_uuid: str) -> int:
        """How many task items `iter_run_tasks` yields, counted by DynamoDB (Select COUNT, strongly consistent):
        no item is sent back, neither the tasks nor their status histories, which share the TASK# prefix."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)", "FilterExpression": "#e = :task",
            "ExpressionAttributeNames": {"#pk": keys.PK, "#sk": keys.SK, "#e": "entity"},
            "ExpressionAttributeValues": serialize({":pk": keys.run_pk(run_id), ":task": "TASK",
                                                    ":prefix": keys.run_sk(run_uuid, "TASK#")}),
            "ConsistentRead": True, "Select": "COUNT"}
        count = 0
        while True:  # a page ends at 1 MB of items examined, counted or not
            response = self.repository._call("query", **request)
            count += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return count
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def recent_task_means(self, workflow_id: str, exclude_run_uuid: str | None = None) -> list[dict[str, Any]]:
        """The per-task-name means of the workflow's latest runs (newest first): one Query."""
        response = self.repository._call(
            "query", KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": keys.PK},
            ExpressionAttributeValues=serialize({":pk": keys.cost_workflow_pk(workflow_id)}),
            ScanIndexForward=False, Limit=ESTIMATE_RUNS)
        lines = [deserialize(item) for item in response.get("Items", [])]
        return [line for line in lines if line.get("run_uuid") != exclude_run_uuid]

    # ------------------------------------------------------------------ roll-ups (one Query each)
    def run_cost(self, run_id: str, run_uuid: str | None = None) -> dict[str, Any]:
        """One run: its summary's totals and its tasks' costs (the run's own partition, one Query)."""
        items = self.repository.run_items(run_id, run_uuid)
        summary = next((i for i in items if i.get(keys.SK) == keys.SUMMARY), {})
        tasks = [i for i in items if i.get("entity") == "TASK"]
        return {"run": _dimensions(summary), **combine([summary.get("cost")] if summary else []),
                "tasks": [_task_row(t) for t in tasks]}

    def chain_cost(self, root_run_id: str, root_run_uuid: str | None = None) -> dict[str, Any]:
        """A sample's attempt chain: the root run and every re-run of it."""
        return _roll_up(self.repository.attempt_chain(root_run_id, root_run_uuid))

    def sample_cost(self, sample: str) -> dict[str, Any]:
        return _roll_up(self.repository.sample_runs(sample))

    def batch_cost(self, root_batch_id: str) -> dict[str, Any]:
        """A batch with its follow-up (re-run) batches; per sample as well."""
        rolled = _roll_up(self.repository.batch_view(root_batch_id))
        samples: dict[str, list[Mapping[str, Any] | None]] = {}
        for run in rolled["per_run"]:
            samples.setdefault(run.get("sample") or "-", []).append(run.get("cost"))
        rolled["per_sample"] = {sample: combine(costs) for sample, costs in sorted(samples.items())}
        return rolled

    def workflow_day_cost(self, workflow_id: str, day: str) -> dict[str, Any]:
        lines = self.repository.items_with_prefix(keys.cost_workflow_pk(workflow_id), keys.cost_day_prefix(day))
        runs = [{**_dimensions(line), "cost": line.get("cost")} for line in lines]
        return {**combine(run["cost"] for run in runs), "per_run": runs}


def _dimensions(item: Mapping[str, Any]) -> dict[str, Any]:
    names = ("run_id", "run_uuid", "sample", "attempt", "root_run_id", "root_run_uuid", "workflow_id",
             "root_batch_id", "batch_id", "outcome", "day")
    return {name: item.get(name) for name in names if item.get(name) is not None}


def _task_row(task: Mapping[str, Any]) -> dict[str, Any]:
    cost, avoided = task.get("cost") or {}, task.get("avoided") or {}
    return {"task_id": task.get("task_id"), "name": task.get("name"), "instance_type": task.get("instance_type"),
            "cache_hit": bool(task.get("cache_hit")), "usd": cost.get("usd"), "basis": cost.get("basis"),
            "avoided_usd": avoided.get("usd"), "avoided_basis": avoided.get("basis")}


def _roll_up(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the run summaries among one index Query's items (members, batches, submissions are skipped)."""
    runs = [{**_dimensions(item), "cost": item.get("cost")} for item in items if item.get("entity") == "RUN"]
    return {**combine(run["cost"] for run in runs), "per_run": runs}


# The guide ('HealthOmics 실행을 위한 호출 캐싱', '실행 캐시에 대한 오류 사례'): call caching saves no task
# output when the run fails out of file-system space or hits its run time limit.
NOTHING_CACHED_ON_FAILURE = frozenset({"FILE_SYSTEM_OUT_OF_SPACE", "RUN_TIMED_OUT"})


def cached_anything(summary: Mapping[str, Any]) -> bool:
    """Whether a failed run's completed tasks can have been saved to a run cache: it ran with one (a cache
    is attached per run, by cacheId) and did not fail in a way that saves nothing."""
    return bool(summary.get("cache_id")) and summary.get("failure_reason") not in NOTHING_CACHED_ON_FAILURE


def attempt_estimate(costs: CostRepository, run_id: str, run_uuid: str) -> dict[str, Any]:
    """For a re-run decision, from what the recorder stored (empty when it has not priced the run yet):
    what the failed attempt cost, and an estimate of what resuming from its cache avoids (the cost of its
    completed tasks, whose outputs are cached; 0 when nothing was cached), marked as an estimate."""
    summary = costs.repository.run_summary(run_id, run_uuid) or {}
    total = summary.get("cost")
    if not total:
        return {}
    if not cached_anything(summary):
        return _estimate(total, "0")
    cached = [t for t in costs.run_tasks(run_id, run_uuid) if t.get("status") == "COMPLETED"]
    figures = [((t.get("avoided") if t.get("cache_hit") else t.get("cost")) or {}).get("usd") for t in cached]
    avoided = None if any(f is None for f in figures) else str(sum((Decimal(str(f)) for f in figures), Decimal(0)))
    return _estimate(total, avoided)


def _estimate(total: Mapping[str, Any], avoided_usd: str | None) -> dict[str, Any]:
    return {"failed_attempt_cost_usd": total.get("usd"), "cache_avoided_cost_usd": avoided_usd, "cost_estimate": True,
            "cost_price_list": f"{total.get('price_list_id')}@{total.get('price_list_date')}"}
