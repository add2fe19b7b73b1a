"""Answers to DESIGN.md's provenance questions, each assembled from exactly one Query.

The repository fetches; these pure functions shape the items into what a person asks about.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.provenance.repository import ProvenanceRepository
from shared.provenance.runs import run_first_seen


class TaskView(BaseModel):
    task_id: str
    name: str | None = None
    status: str | None = None
    cache_hit: bool | None = None
    cache_s3_uri: str | None = None
    history: list[str] = []


class RunView(BaseModel):
    run_id: str
    run_uuid: str | None = None
    status: str | None = None
    outcome: str | None = None
    failure_reason: str | None = None
    status_message: str | None = None
    history: list[dict[str, Any]] = []
    tasks: list[TaskView] = []
    summary: dict[str, Any] = {}

    @property
    def cache_hits(self) -> int:
        return sum(1 for t in self.tasks if t.cache_hit)


def run_view(repository: ProvenanceRepository, run_id: str, run_uuid: str | None = None) -> RunView | None:
    """A run: status history, latest status, failure reason, inputs, digests, cache, batch, lineage.
    A run is (id, uuid); without a uuid, the latest run that carried the id."""
    items = repository.run_items(run_id, run_uuid)
    if not items:
        return None
    return _run_view(run_id, items)


def run_views(repository: ProvenanceRepository, run_id: str) -> list[RunView]:
    """Every run that carried `run_id` (HealthOmics reuses the ids of deleted runs), oldest first."""
    return [_run_view(run_id, items) for items in repository.runs_with_id(run_id).values()]


def _run_view(run_id: str, items: list[dict[str, Any]]) -> RunView:
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    tasks: dict[str, TaskView] = {}
    for item in items:  # sorted by sk: STATUS#<rank>#<time>, SUMMARY, TASK#<id>[#STATUS#...]
        sk = item["sk"]
        if sk == "SUMMARY":
            summary = item
        elif sk.startswith("STATUS#"):
            history.append({"status": item["status"], "time": item["event_time"]})
        elif sk.startswith("TASK#"):
            task_id = sk.split("#")[1]
            task = tasks.setdefault(task_id, TaskView(task_id=task_id))
            if "#STATUS#" in sk:
                task.history.append(item["status"])
                task.status = item["status"]  # sk order is (rank, time): the last one is the latest
            else:
                task.name, task.cache_hit, task.cache_s3_uri = item.get("name"), item.get("cache_hit"), \
                    item.get("cache_s3_uri")
                task.status = task.status or item.get("status")
    history.sort(key=lambda h: h["time"])
    return RunView(run_id=run_id, run_uuid=summary.get("run_uuid"), status=summary.get("status"),
                   outcome=summary.get("outcome"),
                   failure_reason=summary.get("failure_reason"), status_message=summary.get("status_message"),
                   history=history, tasks=list(tasks.values()), summary=summary)


class Attempt(BaseModel):
    attempt: int
    run_id: str | None = None
    run_uuid: str | None = None
    batch_id: str | None = None
    status: str | None = None
    failure_reason: str | None = None
    submission_status: str | None = None
    submission_failure_reason: str | None = None


class SampleOutcome(BaseModel):
    run_setting_id: str
    attempts: list[Attempt]

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]


class BatchView(BaseModel):
    batch_id: str
    batches: list[dict[str, Any]] = []
    submission: dict[str, Any] | None = None
    samples: dict[str, SampleOutcome] = {}


def _attempts(items: list[dict[str, Any]]) -> dict[str, list[Attempt]]:
    """Join ListRunsInBatch members with run summaries by (batch id, run id): members carry no run uuid,
    and within one batch a run id names one run. Group by runSettingId (sample); within a sample, in attempt
    order, and within an attempt in time order (a run's creation, a member without a run its listing), batch
    members and runs of no batch alike: the last row is the sample's latest run, its final outcome."""
    runs = {(i.get("batch_id") or "", i["run_id"], i.get("run_uuid")): i for i in items if i.get("entity") == "RUN"}
    by_member = {(batch, run_id): (batch, run_id, run_uuid) for batch, run_id, run_uuid in runs}
    # row identity -> (place in time, row): a batch has one row per sample and attempt
    by_sample: dict[str, dict[tuple[int, str, str], tuple[tuple[str, ...], Attempt]]] = defaultdict(dict)
    for item in items:
        if item.get("entity") != "MEMBER":
            continue
        key = by_member.get((item.get("batch_id") or "", item["run_id"])) if item.get("run_id") else None
        run = runs.pop(key, {}) if key else {}
        attempt = Attempt(attempt=int(item.get("attempt", 0)), run_id=item.get("run_id"),
                          run_uuid=run.get("run_uuid"), batch_id=item.get("batch_id"),
                          status=run.get("outcome") or run.get("status"),
                          failure_reason=run.get("failure_reason"),
                          submission_status=item.get("submission_status"),
                          submission_failure_reason=item.get("submission_failure_reason"))
        when = _run_time(run) if run else _instant(item.get("recorded_at"))
        by_sample[item["run_setting_id"]][(attempt.attempt, item.get("batch_id") or "", "")] = (
            _row_order(attempt, when), attempt)
    for run in runs.values():  # runs whose membership was not listed (yet): known from their own tags
        sample = run.get("sample") or run["run_id"]
        attempt = Attempt(attempt=int(run.get("attempt", 0)), run_id=run["run_id"], run_uuid=run.get("run_uuid"),
                          batch_id=run.get("batch_id"),
                          status=run.get("outcome") or run.get("status"), failure_reason=run.get("failure_reason"))
        # A batch has one run per sample and attempt; runs of no batch do not: each keeps its own row, so one
        # attempt-0 run never hides another.
        alone = "" if run.get("batch_id") else f"{run['run_id']}#{run.get('run_uuid') or ''}"
        by_sample[sample][(attempt.attempt, run.get("batch_id") or "", alone)] = (
            _row_order(attempt, _run_time(run)), attempt)
    return {s: [a for _, a in sorted(found.values(), key=lambda row: row[0])] for s, found in by_sample.items()}


def _row_order(attempt: Attempt, when: str) -> tuple[str, ...]:
    """Attempt, then time; ids only break ties (a batch id or run id says nothing about when)."""
    return (f"{attempt.attempt:06d}", when, attempt.batch_id or "", attempt.run_id or "", attempt.run_uuid or "")


def _run_time(run: dict[str, Any]) -> str:
    """When a run began (runs.run_first_seen), else its place in the sample index (creation or recording)."""
    return _instant(run_first_seen(run) or str(run.get("sample_sk") or "").split("#")[0])


def _instant(text: Any) -> str:
    """An ISO-8601 time in one shape (UTC, microseconds), so that times written by different sources compare as
    strings; anything else as it is."""
    if not text:
        return ""
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def _member_run(recorded: list[dict[str, Any]], member: dict[str, Any]) -> dict[str, Any] | None:
    """The member's run among the runs recorded under its id (oldest first): the latest whose recorded batch is
    the member's (and uuid, when ListRunsInBatch gave one); None when no run of that batch is recorded yet."""
    in_batch = [s for s in recorded if s.get("batch_id") == member.get("batch_id")
                and (not member.get("run_uuid") or s.get("run_uuid") == member["run_uuid"])]
    return in_batch[-1] if in_batch else None


def batch_view(repository: ProvenanceRepository, batch_id: str) -> BatchView:
    """A batch: its submission, its follow-ups, and every runSettingId's attempts and final outcome."""
    items = repository.batch_view(batch_id)
    # A batch resubmitted under a new id (transient batch failure) runs the request unchanged: its runs carry
    # no root-batch tag and are indexed under their own batch. Its members (recorded under the root) name them.
    indexed = {i["run_id"] for i in items if i.get("entity") == "RUN"}
    unindexed = [i for i in items if i.get("entity") == "MEMBER" and i.get("run_id") and i["run_id"] not in indexed]
    if unindexed:
        # A member names its run by id, which HealthOmics reuses once the run is deleted: the run is the one
        # recorded in the member's batch, never whichever run carries the id now.
        recorded = {run_id: repository.run_summaries(run_id) for run_id in sorted({m["run_id"] for m in unindexed})}
        found = (_member_run(recorded[m["run_id"]], m) for m in unindexed)
        items = items + [run for run in found if run is not None]
    view = BatchView(batch_id=batch_id)
    view.batches = sorted((i for i in items if i.get("entity") == "BATCH"), key=lambda i: i["batch_sk"])
    view.submission = _submission(items)
    view.samples = {s: SampleOutcome(run_setting_id=s, attempts=a) for s, a in sorted(_attempts(items).items())}
    return view


def _submission(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The submission that started this batch: its launch attempt's record here (the latest, should a batch
    hold more), or the summary when it is of that same attempt (it carries later annotations). A summary alone
    is one recorded before attempts had records."""
    summary = next((i for i in items if i.get("entity") == "SUBMISSION"), None)
    attempts = sorted((i for i in items if i.get("entity") == "SUBMISSION_ATTEMPT"),
                      key=lambda i: int(i.get("attempt", 1)))
    if not attempts:
        return summary
    if summary is not None and int(summary.get("attempt", 1)) == int(attempts[-1].get("attempt", 1)):
        return summary
    return attempts[-1]


def sample_view(repository: ProvenanceRepository, sample: str) -> list[Attempt]:
    """A sample: every run of it across batches and attempts, oldest first."""
    return _attempts(repository.sample_runs(sample)).get(sample, [])


def unresolved_failures(repository: ProvenanceRepository) -> list[dict[str, Any]]:
    """Failed runs with no later attempt: what an operator must look at."""
    return [{"run_id": i["run_id"], "run_uuid": i.get("run_uuid"), "failure_reason": i.get("failure_reason"),
             "workflow_id": i.get("workflow_id"),
             "sample": i.get("sample"), "attempt": i.get("attempt", 0), "root_run_id": i.get("root_run_id"),
             "batch_id": i.get("batch_id"), "stopped": i.get("stop_time")}
            for i in repository.unresolved_failures()]


def attempt_chain(repository: ProvenanceRepository, root_run_id: str,
                  root_run_uuid: str | None = None) -> list[dict[str, Any]]:
    """The root run (id, uuid) and every re-run of it, in attempt order."""
    return [{"attempt": i.get("attempt", 0), "run_id": i["run_id"], "run_uuid": i.get("run_uuid"),
             "parent_run_id": i.get("parent_run_id"),
             "status": i.get("outcome") or i.get("status"), "failure_reason": i.get("failure_reason"),
             "rerun_reason": i.get("rerun_reason"), "remediation": i.get("remediation"),
             "cache_id": i.get("cache_id")}
            for i in repository.attempt_chain(root_run_id, root_run_uuid)]
