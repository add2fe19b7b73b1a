"""The reconciler: heal provenance when HealthOmics events went missing (they are best effort).

A sweep looks up runs and batches whose recorded status has been non-terminal for longer than a
threshold (the `active` index: one Query per kind), asks HealthOmics what their status really is, and
records the truth through the recorder's own code path: a synthetic status event built from the API's
answer (deterministic id `reconciled-<id>[-<run uuid>]-<status>`, the API's own time for that status, truncated to
the second like an EventBridge event), so the ordering rules, the history items and the terminal
enrichment (GetRun + ListRunTasks, ListRunsInBatch) are exactly those of a delivered event. A real
event for the same observation that arrives later rewrites the same items.

HealthOmics calls are few and rate-limited (the client's token bucket): with few stale runs, one GetRun
each; with many, ListRuns pages per active status (100 runs a page) tell which runs are unchanged, and
only runs that left every active status cost a GetRun, which the recorder's enrichment then reuses.
Batches cost one GetBatch each. A terminal run whose enrichment never finished (a heal whose ListRunTasks
was throttled, a recorder message gone to the DLQ, a terminal event lost before DELETED) stays in the `active`
index: the sweep finishes it as the recorder would have; so with an ended batch (PROCESSED, CANCELLED, or its runs
deleted) whose members were not recorded (one HealthOmics no longer knows, DeleteBatch, is recorded as such).
A batch at RUNS_DELETING stays in the index until the status that follows it is recorded: its GetBatch heals a
lost RUNS_DELETED. Every heal is recorded once (`RUN#<id>`/`UUID#<uuid>#HEALED#...`,
`BATCH#<id>`/`HEALED#...`, entity HEALED, a conditional create) and counted (metric RecordsHealed).

A run is (run id, run uuid): HealthOmics reuses the ids of deleted runs. GetRun takes the id alone, so an
answer with another uuid means the recorded run was deleted (and its id given to a new run): the recorded
run is healed to DELETED, and the new run is left to its own events. ListRuns items carry no uuid: a listed
id is taken as the recorded run unless its creationTime is later than the recorded run's last event (a run
created since took the id): that run is checked by GetRun.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.errors import RetryableError
from shared.events import RUN_BATCH_STATUS_CHANGE, RUN_STATUS_CHANGE, parse_omics_event
from shared.observability import log_error
from shared.omics import RETRYABLE_OMICS_CODES, paginate
from shared.omics_model import input_max
from shared.provenance import keys
from shared.provenance.repository import ProvenanceError
from shared.recorder import Recorder, RecordOutcome, enrichment_due, observe
from shared.status import (
    BATCH_ENDED,
    RUN_TERMINAL,
    BatchStatus,
    RunStatus,
    batch_rank,
    from_iso_time,
    iso_time,
    run_rank,
)

RECONCILED_PREFIX = "reconciled"
HEALED = "HEALED"
ALL_ACTIVE = "~"  # sorts after every `<time>#<id>` sort key of the active index
ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.STOPPING)
SWEEP_RETENTION_DAYS = 90


def synthetic_event_id(entity_id: str, status: str, run_uuid: str | None = None) -> str:
    identity = f"{entity_id}-{run_uuid}" if run_uuid else entity_id
    return f"{RECONCILED_PREFIX}-{identity}-{status}"


def _second(moment: datetime) -> datetime:
    """EventBridge event times have one-second resolution; so do our synthetic observations."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _event_time(moment: datetime) -> str:
    return _second(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _arn_parts(arn: str | None) -> tuple[str | None, str | None]:
    parts = (arn or "").split(":")
    return (parts[3], parts[4]) if len(parts) > 5 else (None, None)


def run_status_time(run: dict[str, Any], status: str, fallback: datetime) -> datetime:
    """The API's own time for a run status (GetRun or a ListRuns item)."""
    candidates: tuple[str, ...]
    if status == RunStatus.DELETED:
        return fallback  # the API keeps no deletion time: it happened after stopTime, at the latest by now
    if status in RUN_TERMINAL:
        candidates = ("stopTime", "startTime", "creationTime")
    elif status in (RunStatus.RUNNING, RunStatus.STOPPING):
        candidates = ("startTime", "creationTime")
    else:
        candidates = ("creationTime",)
    for name in candidates:
        value = run.get(name)
        if isinstance(value, datetime):
            return value
    return fallback


def batch_status_time(batch: dict[str, Any], status: str, fallback: datetime) -> datetime:
    """The API's own time for a batch status (GetBatch)."""
    by_status: dict[str, tuple[str, ...]] = {
        BatchStatus.PROCESSED: ("processedTime",),
        BatchStatus.FAILED: ("failedTime",),
        BatchStatus.INPROGRESS: ("submittedTime",),
        BatchStatus.CREATING: ("creationTime",),
        BatchStatus.PENDING: ("creationTime",),
    }
    for name in by_status.get(status, ()):
        value = batch.get(name)
        if isinstance(value, datetime):
            return value
    return fallback


def run_event(run: dict[str, Any], status: str, when: datetime) -> dict[str, Any]:
    """A Run Status Change event, in the guide's envelope, that says what the API says."""
    arn = run.get("arn") or ""
    region, account = _arn_parts(arn)
    detail = {"omicsVersion": "1.0.0", "arn": arn, "status": status, "uuid": run.get("uuid"),
              "runId": run["id"], "runName": run.get("name"), "runOutputUri": run.get("runOutputUri"),
              "workflowId": run.get("workflowId"), "workflowName": run.get("workflowName")}
    return {"version": "0", "id": synthetic_event_id(run["id"], status, run.get("uuid")),
            "detail-type": RUN_STATUS_CHANGE,
            "source": "aws.omics", "account": account, "time": _event_time(when), "region": region,
            "resources": [arn] if arn else [], "detail": {k: v for k, v in detail.items() if v is not None}}


def batch_event(batch: dict[str, Any], status: str, when: datetime) -> dict[str, Any]:
    """A RunBatch Status Change event (counts as strings, as documented) from a GetBatch answer."""
    arn = batch.get("arn") or ""
    region, account = _arn_parts(arn)
    submissions = batch.get("submissionSummary") or {}
    runs = batch.get("runSummary") or {}
    counts = {
        "totalRuns": batch.get("totalRuns"),
        "successfulStartSubmissionCount": submissions.get("successfulStartSubmissionCount"),
        "failedStartSubmissionCount": submissions.get("failedStartSubmissionCount"),
        "pendingStartSubmissionCount": submissions.get("pendingStartSubmissionCount"),
        "pendingRunCount": runs.get("pendingRunCount"),
        "startingRunCount": runs.get("startingRunCount"),
        "runningRunCount": runs.get("runningRunCount"),
        "stoppingRunCount": runs.get("stoppingRunCount"),
        "completedRunCount": runs.get("completedRunCount"),
        "failedRunCount": runs.get("failedRunCount"),
        "cancelledRunCount": runs.get("cancelledRunCount"),
        "deletedRunCount": runs.get("deletedRunCount"),
    }
    default = batch.get("defaultRunSetting") or {}
    detail: dict[str, Any] = {
        "omicsVersion": "1.0.0", "arn": arn, "batchId": batch["id"], "status": status, "uuid": batch.get("uuid"),
        "batchName": batch.get("name"), "workflowId": default.get("workflowId"),
        "runCacheBehavior": default.get("cacheBehavior"),
        # GetBatch's failureReason carries the message (the event's failureReason is a category).
        "failureMessage": batch.get("failureReason") if status == BatchStatus.FAILED else None,
        **{name: str(value) for name, value in counts.items() if value is not None},
    }
    return {"version": "0", "id": synthetic_event_id(batch["id"], status), "detail-type": RUN_BATCH_STATUS_CHANGE,
            "source": "aws.omics", "account": account, "time": _event_time(when), "region": region,
            "resources": [arn] if arn else [], "detail": {k: v for k, v in detail.items() if v is not None}}


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge pattern matching for literal-value patterns (every key present, value in its list)."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if any(isinstance(e, dict) for e in expected):
                raise ValueError(f"unsupported pattern operator in {key}: {expected}")
            if value not in expected:
                return False
        else:
            raise ValueError(f"pattern value of {key} must be a list or an object")
    return True


@dataclass(frozen=True)
class Route:
    """A consumer queue the stack routes aws.omics events to (besides the recorder), and its pattern."""

    queue_url: str
    pattern: dict[str, Any]


class Forwarder:
    """Hands a healed observation to every other consumer whose rule would have matched the lost event
    (the re-runner for a FAILED run or a PROCESSED batch, the launcher for a FAILED batch), exactly as
    EventBridge would have: the event is the SQS message body. Consumers are idempotent (claims)."""

    def __init__(self, routes: Iterable[Route], send: Callable[[str, str], None]) -> None:
        self.routes = list(routes)
        self.send = send

    def forward(self, event: dict[str, Any]) -> int:
        sent = 0
        for route in self.routes:
            if matches(route.pattern, event):
                self.send(route.queue_url, json.dumps(event, sort_keys=True))
                sent += 1
        return sent


def parse_routes(text: str | None) -> list[Route]:
    return [Route(r["queueUrl"], r["pattern"]) for r in json.loads(text or "[]")]


@dataclass
class Heal:
    kind: str  # RUN | BATCH
    entity_id: str
    recorded_status: str | None
    status: str
    source: str  # GetRun | ListRuns | GetBatch | NotFound | IdReused
    run_uuid: str | None = None


@dataclass
class SweepReport:
    now: str
    threshold: str
    runs_checked: int = 0
    batches_checked: int = 0
    unchanged: int = 0
    healed: list[Heal] = field(default_factory=list)
    enriched: int = 0
    forwarded: int = 0
    members_recorded: int = 0
    used_list_runs: bool = False
    stopped_early: bool = False
    deferred: int = 0  # stale entities left for the next sweep (throttled, lagging, out of call time)
    # Gauges after the sweep (the dashboard's runs by status, batches in flight, unresolved failures).
    active_runs_by_status: dict[str, int] = field(default_factory=dict)
    batches_in_flight: int = 0
    unresolved_by_reason: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"now": self.now, "threshold": self.threshold, "runs_checked": self.runs_checked,
                "batches_checked": self.batches_checked, "unchanged": self.unchanged, "healed": len(self.healed),
                "enriched": self.enriched, "forwarded": self.forwarded,
                "members_recorded": self.members_recorded,
                "used_list_runs": self.used_list_runs, "stopped_early": self.stopped_early,
                "deferred": self.deferred,
                "active_runs_by_status": self.active_runs_by_status, "batches_in_flight": self.batches_in_flight,
                "unresolved_by_reason": self.unresolved_by_reason,
                "healed_ids": [f"{h.kind}#{h.entity_id}{'#' + h.run_uuid if h.run_uuid else ''}:"
                               f"{h.recorded_status}->{h.status}" for h in self.healed[:100]]}


class _RememberingOmics:
    """The recorder's HealthOmics client, with the GetRun answers this sweep already holds, so a run
    healed to a terminal status is enriched without asking GetRun twice."""

    def __init__(self, client: Any, runs: dict[str, dict[str, Any]]) -> None:
        self._client = client
        self._runs = runs

    def get_run(self, **params: Any) -> dict[str, Any]:
        known = self._runs.pop(params.get("id", ""), None)
        return known if known is not None else self._client.get_run(**params)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _awaits_enrichment_only(run: dict[str, Any]) -> bool:
    """A run in the `active` index whose status can no longer change (terminal, or deleted before its enrichment)."""
    return run.get("outcome") in RUN_TERMINAL or run.get("status") == RunStatus.DELETED


def _created_after(listed: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """A listed run (ListRuns items carry no uuid) created after the recorded run's last event is another run that
    took its id once it was deleted. Compared to the second: event times are truncated, creation times are not."""
    created = listed.get("creationTime")
    return isinstance(created, datetime) and iso_time(_second(created)) > str(recorded.get("status_time") or "")


def _deferrable(error: Exception) -> bool:
    """An error that leaves one stale entity for the next sweep (the rest of the sweep goes on)."""
    return isinstance(error, RetryableError) or (isinstance(error, ProvenanceError) and error.retryable)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Reconciler:
    def __init__(
        self,
        recorder: Recorder,
        stale_after: timedelta,
        list_runs_above: int = 25,
        time_left: Callable[[], float] = lambda: float("inf"),
        safety_seconds: float = 20.0,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.forwarder = forwarder
        self.recorder = recorder
        self.repository = recorder.repository
        self.stale_after = stale_after
        self.list_runs_above = list_runs_above  # more stale runs than this: ListRuns pages, not GetRun each
        self.time_left = time_left
        self.safety_seconds = safety_seconds

    # ------------------------------------------------------------------ sweep
    def sweep(self, now: datetime) -> SweepReport:
        threshold = iso_time(now - self.stale_after)
        report = SweepReport(now=iso_time(now), threshold=threshold)
        # One Query per kind reads every active entity: the stale ones are those last seen before the
        # threshold (the index's sort key starts with the last event time); the rest feed the gauges.
        active_runs = self.repository.active_since_before("RUN", ALL_ACTIVE)
        active_batches = self.repository.active_since_before("BATCH", ALL_ACTIVE)
        stale_runs = [i for i in active_runs if i.get("active_sk", "") < threshold]
        report.runs_checked = len(stale_runs)
        known: dict[str, dict[str, Any]] = {}
        stale_runs, listed = self._listing(stale_runs, report)
        raw_omics = self.recorder.omics
        self.recorder._omics = _RememberingOmics(raw_omics, known)
        try:
            for item in stale_runs:
                if self._out_of_time(report) or not self._item(report, self._reconcile_run, item, listed, known,
                                                               now, report):
                    break
            stale_batches = [i for i in active_batches if i.get("active_sk", "") < threshold]
            report.batches_checked = len(stale_batches)
            for item in stale_batches:
                if self._out_of_time(report) or not self._item(report, self._reconcile_batch, item, now, report):
                    break
        finally:
            self.recorder._omics = raw_omics
        self._gauges(active_runs, active_batches, report)
        self._record_sweep(report)
        return report

    def _gauges(self, runs: list[dict[str, Any]], batches: list[dict[str, Any]], report: SweepReport) -> None:
        status = {(i["run_id"], i.get("run_uuid")): i.get("status") or "UNKNOWN" for i in runs}
        healed_batches, processed = 0, batch_rank(BatchStatus.PROCESSED)
        for heal in report.healed:
            if heal.kind == "RUN":
                status[(heal.entity_id, heal.run_uuid)] = heal.status
            else:
                healed_batches += int(batch_rank(heal.recorded_status or "") < processed <= batch_rank(heal.status))
        report.active_runs_by_status = dict(Counter(s for s in status.values() if s in ACTIVE_RUN_STATUSES))
        # An ended batch stays in the index until its members are recorded: ended, not in flight.
        in_flight = [b for b in batches if batch_rank(b.get("status") or "") < processed]
        report.batches_in_flight = len(in_flight) - healed_batches
        report.unresolved_by_reason = dict(Counter(i.get("failure_reason") or "UNKNOWN"
                                                   for i in self.repository.unresolved_failures()))

    def _out_of_time(self, report: SweepReport) -> bool:
        if self.time_left() < self.safety_seconds:
            report.stopped_early = True  # the rest is still stale: the next sweep picks it up
        return report.stopped_early

    def _listing(self, stale_runs: list[dict[str, Any]],
                 report: SweepReport) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]] | None]:
        """The stale runs to reconcile now, and the ListRuns pass over those still active (None: a GetRun each).
        Terminal and deleted runs here only await their enrichment's end: a ListRuns pass is for runs still active."""
        still_active = [i for i in stale_runs if not _awaits_enrichment_only(i)]
        try:
            return stale_runs, self._listed_active(still_active, report)
        except RetryableError as error:
            # Without the listing the active runs wait for the next sweep (a GetRun each is what the listing
            # spares the quota); the runs awaiting their enrichment and the batches are reconciled all the same.
            # DeadlineExceeded included: the bounded client raises it when a throttled call's retries outgrow its
            # own budget, with the invocation's time mostly left. Only `_out_of_time` stops the sweep.
            report.deferred += len(still_active)
            log_error("warning", "ListRuns failed: the stale active runs are left for the next sweep", error)
            return [i for i in stale_runs if _awaits_enrichment_only(i)], None

    def _listed_active(self, stale: list[dict[str, Any]], report: SweepReport) -> dict[str, dict[str, Any]] | None:
        """With many stale runs, one ListRuns pass per active status (100 runs a page) instead of a
        GetRun per run. A run absent from every listing has left the active statuses (or is gone)."""
        if len(stale) <= self.list_runs_above:
            return None
        report.used_list_runs = True
        listed: dict[str, dict[str, Any]] = {}
        for status in ACTIVE_RUN_STATUSES:
            try:
                for run in paginate(self.recorder.omics, "list_runs", "items", status=status,
                                    PaginationConfig={"PageSize": input_max("ListRuns", "maxResults")}):
                    listed[run["id"]] = run
            except ClientError as error:
                raise self._failure(error, "ListRuns") from error
        return listed

    @staticmethod
    def _item(report: SweepReport, reconcile: Callable[..., None], *args: Any) -> bool:
        """Reconcile one stale entity; True: the sweep goes on (it stops only out of time). One entity that cannot be
        reconciled now (a throttled or lagging answer, an error) is left for the next sweep instead of
        failing the whole sweep. A DeadlineExceeded is one too: the bounded client raises it for a call out of
        its own budget (a throttled call) as well as for the invocation's end, which `_out_of_time` (checked
        before the next entity) tells apart."""
        try:
            reconcile(*args)
        except (RetryableError, ProvenanceError) as error:
            if not _deferrable(error):
                raise
            report.deferred += 1
            log_error("warning", "stale entity left for the next sweep", error)
        return True

    @staticmethod
    def _failure(error: ClientError, what: str) -> Exception:
        code = _code(error)
        return RetryableError(f"{what}: {code}" if code in RETRYABLE_OMICS_CODES else f"{what}: {code}: {error}")

    # ------------------------------------------------------------------ runs
    def _get_run(self, run_id: str) -> dict[str, Any] | None:
        try:
            return self.recorder.omics.get_run(id=run_id)  # type: ignore[no-any-return]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise self._failure(error, f"GetRun {run_id}") from error

    def _reconcile_run(self, item: dict[str, Any], listed: dict[str, dict[str, Any]] | None,
                       known: dict[str, dict[str, Any]], now: datetime, report: SweepReport) -> None:
        run_id, run_uuid, recorded = item["run_id"], item.get("run_uuid"), item.get("status")
        if not run_uuid:  # every run summary is written under its uuid; an item without one is not a run's
            report.unchanged += 1
            return
        if _awaits_enrichment_only(item):
            if not enrichment_due(item):  # enriched; a later terminal event put it back in the index
                self.repository.finish_run(run_id, run_uuid)
                report.unchanged += 1
                return
            # Its terminal status (or its deletion) is recorded, its enrichment never finished (a heal whose
            # enrichment failed, a message gone to the DLQ, a terminal event lost before DELETED): finish it as the
            # recorder would have (GetRun + ListRunTasks; a run GetRun no longer knows is recorded gone).
            self.recorder.finish_run(run_id, run_uuid, str(item.get("outcome") or recorded))
            report.enriched += 1
            return
        listed_run = listed.get(run_id) if listed is not None else None
        if listed_run is not None and not _created_after(listed_run, item):
            truth, source = {**listed_run, "uuid": run_uuid}, "ListRuns"
        else:  # not listed, or listed but another run's (GetRun tells them apart by uuid)
            fetched = self._get_run(run_id)
            gone = "NotFound" if fetched is None else "IdReused" if fetched.get("uuid") != run_uuid else None
            if gone:
                # Deleted (its id perhaps given to a new run since), or a REMOVE-retention run aged out:
                # the service no longer knows this run.
                self._heal_run({"id": run_id, "uuid": run_uuid, "arn": item.get("arn")}, RunStatus.DELETED,
                               _second(now), recorded, gone, report)
                self.repository.finish_run(run_id, run_uuid)  # nothing is left to enrich it from
                return
            assert fetched is not None
            truth, source = fetched, "GetRun"
            known[run_id] = fetched
        status = truth["status"]
        if status == recorded:
            report.unchanged += 1
            known.pop(run_id, None)
            return
        self._heal_run(truth, status, run_status_time(truth, status, _second(now)), recorded, source, report)
        if status == RunStatus.DELETED:
            # A deleted run stays in the index until enriched (its terminal status was never recorded): enrich it
            # now, from the GetRun answer in hand.
            self.recorder.finish_run(run_id, run_uuid, RunStatus.DELETED)
            report.enriched += 1
        known.pop(run_id, None)

    def _heal_run(self, run: dict[str, Any], status: str, when: datetime, recorded: str | None, source: str,
                  report: SweepReport) -> None:
        if run_rank(status) < run_rank(recorded or ""):
            report.unchanged += 1  # the record is ahead of the API's (eventually consistent) answer
            return
        event = run_event(run, status, when)
        self._forward(event, report)
        heal = Heal("RUN", run["id"], recorded, status, source, run.get("uuid"))
        outcome = self._record(event, heal, when, report)
        report.enriched += int(outcome.enriched)

    # ------------------------------------------------------------------ batches
    def _reconcile_batch(self, item: dict[str, Any], now: datetime, report: SweepReport) -> None:
        batch_id, recorded = item["batch_id"], item.get("status")
        try:
            batch = self.recorder.omics.get_batch(batchId=batch_id)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise self._failure(error, f"GetBatch {batch_id}") from error
            # DeleteBatch removed it (a final status only); its runs stay recorded on their own. Its members and a
            # status not recorded yet (RUNS_DELETING's successor) can no longer be learnt: recorded as such, it
            # leaves the index rather than cost a GetBatch every sweep.
            self.recorder.batch_gone(batch_id, item, f"GetBatch {batch_id}: ResourceNotFoundException")
            report.unchanged += 1
            return
        status = batch["status"]
        if recorded in BATCH_ENDED and (status == recorded or batch_rank(status) < batch_rank(recorded)):
            # Recorded ended, its members never recorded (a heal whose ListRunsInBatch failed, a message gone to
            # the DLQ): record them as the recorder would have (the API may lag the record: its status is not needed).
            # A transitional batch (RUNS_DELETING) whose members are recorded is only awaiting its next status.
            finished = RecordOutcome("BATCH", batch_id, recorded)
            self.recorder.finish_batch(recorded, item, finished)
            report.members_recorded += finished.members_recorded
            report.unchanged += int("members_recorded_at" in item)
            return
        failed_again = (status == recorded == BatchStatus.FAILED
                        and str(item.get("restarted_at") or "") > str(item.get("status_time") or ""))
        if not failed_again and (status == recorded or batch_rank(status) < batch_rank(recorded or "")):
            # (a batch restarted in place after its recorded failure that failed again is a new failure: healed)
            report.unchanged += 1
            return
        when = batch_status_time(batch, status, _second(now))
        if failed_again:  # a failure of the batch's second life is no older than its restart (whatever GetBatch says)
            when = max(when, from_iso_time(str(item["restarted_at"])))
        event = batch_event(batch, status, when)
        self._forward(event, report)
        outcome = self._record(event, Heal("BATCH", batch_id, recorded, status, "GetBatch"), when, report)
        report.members_recorded += outcome.members_recorded

    # ------------------------------------------------------------------ records
    def _record(self, event: dict[str, Any], heal: Heal, when: datetime, report: SweepReport) -> RecordOutcome:
        """Record a healed observation through the recorder. Its enrichment may fail after the status moved
        (the entity then stays in the active index, and a later sweep finishes it): the history item and the
        heal are written all the same."""
        parsed = parse_omics_event(event)
        observation = observe(parsed)
        try:
            outcome = self.recorder.record(parsed)
        except (RetryableError, ProvenanceError) as error:
            if not _deferrable(error):
                raise
            # Deferred by `_item` (a throttled HealthOmics call or table write): the status may have moved already
            self._write_history([self.repository.history_item(observation)])
            if self._order_of(heal) == observation.order:  # the status moved: by this heal
                self._note_heal(heal, when, report)
            raise
        self._write_history(outcome.history)
        if outcome.advanced:
            self._note_heal(heal, when, report)
        return outcome

    def _order_of(self, heal: Heal) -> str | None:
        if heal.kind == "RUN":
            summary = self.repository.run_summary(heal.entity_id, str(heal.run_uuid))
        else:
            summary = self.repository.get_item(keys.batch_pk(heal.entity_id), keys.SUMMARY)
        return None if summary is None else summary.get("status_order")

    def _forward(self, event: dict[str, Any], report: SweepReport) -> None:
        """Before recording: if recording succeeds the entity leaves the active index, so a forward that
        failed after it would never be retried. Forwarded twice (a failed sweep redone) is harmless."""
        if self.forwarder is not None:
            report.forwarded += self.forwarder.forward(event)

    def _write_history(self, history: list[dict[str, Any]]) -> None:
        if self.repository.put_items(history):
            raise RetryableError("status history items were not all written")

    def _note_heal(self, heal: Heal, when: datetime, report: SweepReport) -> None:
        rank = run_rank(heal.status) if heal.kind == "RUN" else batch_rank(heal.status)
        pk, sk = keys.batch_pk(heal.entity_id), f"{HEALED}#{rank:02d}#{heal.status}"
        identity: dict[str, Any] = {}
        if heal.kind == "RUN":
            assert heal.run_uuid is not None
            pk, sk = keys.run_pk(heal.entity_id), keys.run_sk(heal.run_uuid, sk)
            identity = {"run_uuid": heal.run_uuid}
        created = self.repository.claim(pk, sk, {
            **identity,
            "entity": HEALED, "kind": heal.kind, "entity_id": heal.entity_id, "from_status": heal.recorded_status,
            "status": heal.status, "status_time": iso_time(when), "source": heal.source,
            "healed_at": report.now})
        if created:
            report.healed.append(heal)

    def _record_sweep(self, report: SweepReport) -> None:
        """One audit record per sweep (kept 90 days): what was checked and healed."""
        expires = int(from_iso_time(report.now).timestamp()) + \
            SWEEP_RETENTION_DAYS * 86_400
        self.repository.put_record({keys.PK: "RECONCILE#SWEEPS", keys.SK: f"SWEEP#{report.now}",
                                    "entity": "RECONCILE_SWEEP", keys.TTL_ATTRIBUTE: expires, **report.summary()})


def heals_of(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The HEALED records among one entity's items (e.g. repository.run_items)."""
    return [i for i in items if i.get("entity") == HEALED]
