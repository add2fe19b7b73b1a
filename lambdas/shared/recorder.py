"""The provenance recorder: turns HealthOmics status events into provenance items.

HealthOmics calls are few: task events cost none; a run costs one GetRun plus ListRunTasks pages,
once, when it first reaches a terminal status; a batch costs ListRunsInBatch pages, once, when its
run map is complete (INPROGRESS, PROCESSED, CANCELLED, or the deletion of its runs that follows). Duplicates and late
events cost one DynamoDB request.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.clock import utc_now
from shared.cost.run_cost import PriceProvider, RunCost, RunPricer, region, snapshot_prices
from shared.errors import PermanentError, RetryableError
from shared.events import RunBatchStatusChange, RunStatusChange, TaskStatusChange
from shared.lineage import RunClaim, sample_tag_enabled
from shared.omics import RETRYABLE_OMICS_CODES
from shared.omics_model import input_max
from shared.provenance import keys
from shared.provenance.base import unwritten
from shared.provenance.cost_repository import CostRepository
from shared.provenance.from_omics import batch_member, run_details, task_details
from shared.provenance.items import BatchMember, RunDetails, StatusObservation, TaskDetails
from shared.provenance.keys import check_key_sizes
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.runs import run_first_seen
from shared.status import (
    BATCH_ENDED,
    BATCH_MEMBERS_KNOWN,
    BATCH_TRANSITIONAL,
    RUN_TERMINAL,
    RunStatus,
    batch_rank,
    iso_time,
    order_key,
    run_rank,
)
from shared.supersede import prove, settle, waiting_expiry

# Seconds an enrichment (one GetRun + ListRunTasks pages, rate-limited) may need before the timeout.
ENRICH_BUDGET_SECONDS = 10.0
# Seconds left at which a page loop (ListRunsInBatch, ListRunTasks) saves its cursor and stops: what follows
# the pages (the checkpoint, the marks, the history flush) still fits before the timeout.
CHECKPOINT_RESERVE_SECONDS = 10.0


class Checkpointed(RetryableError):
    """A page loop stopped for time with its cursor saved in the table: a continuation (the same event, sent
    again as a new message) resumes from there. A RetryableError to every caller that cannot send one (the
    reconciler: its next sweep resumes). `carried_on_elsewhere`: another invocation moved the cursor first
    and carries the work on itself, so no continuation is needed."""

    def __init__(self, message: str, carried_on_elsewhere: bool = False) -> None:
        super().__init__(message)
        self.carried_on_elsewhere = carried_on_elsewhere


@dataclass
class RecordOutcome:
    """What recording one event did (for logs, metrics and tests)."""

    kind: str
    entity_id: str
    status: str
    advanced: bool = False
    enriched: bool = False
    members_recorded: int = 0
    members_refiled: int = 0  # members moved under the root batch their LINK, written after them, names
    history: list[dict[str, Any]] = field(default_factory=list)
    cost: RunCost | None = None  # the enriched run's cost (metrics RunCostUSD / CacheAvoidedCostUSD)
    # Why the event must be recorded again by a continuation message: its page loop stopped for time with its
    # progress saved. A continuation is a new message, so progress never counts towards the queue's DLQ.
    continuation: str | None = None


def observe(event: RunStatusChange | TaskStatusChange | RunBatchStatusChange) -> StatusObservation:
    """Map a wire event to the status observation recorded in history."""
    detail = event.detail
    run_uuid: str | None
    if isinstance(event, RunBatchStatusChange):
        kind, entity, run_id, rank = "BATCH", event.detail.batch_id, None, batch_rank(detail.status)
        run_uuid = None
    elif isinstance(event, TaskStatusChange):
        kind, entity, run_id, rank = "TASK", event.detail.task_id, event.detail.run_id, run_rank(detail.status)
        run_uuid = event.detail.runUuid
    else:
        kind, entity, run_id, rank = "RUN", event.detail.run_id, None, run_rank(detail.status)
        run_uuid = event.detail.uuid
    return StatusObservation(
        kind=kind, entity_id=entity, run_id=run_id, run_uuid=run_uuid, status=detail.status, rank=rank,
        event_id=event.id,
        event_time=iso_time(event.time), order=order_key(rank, event.time, detail.status),
        replay_name=event.replay_name,
        attributes={"task_id": entity} if kind == "TASK" else {},
    )


def _omics_error(error: ClientError, what: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code in RETRYABLE_OMICS_CODES:
        return RetryableError(f"{what}: {code}")
    if code == "ResourceNotFoundException":
        return PermanentError(f"{what}: {code}")
    return RetryableError(f"{what}: {code}: {error}")


def outcome_after_enrichment(summary: Mapping[str, Any]) -> bool:
    """The run was enriched before its terminal outcome was known (deleted first, enriched by a sweep as DELETED)
    and the outcome is recorded now: what depends on it (superseding the parent, the unresolved index) is still to
    do. Runs enriched before `details_outcome` existed count as done."""
    enriched_as = summary.get("details_outcome")
    return enriched_as is not None and enriched_as not in RUN_TERMINAL and summary.get("outcome") in RUN_TERMINAL


def enrichment_due(summary: Mapping[str, Any]) -> bool:
    """A terminal run's enrichment is due: never done, or done only as far as its details (a step after them
    failed; `finish_run` clears the mark). Runs recorded before the mark existed count as done."""
    return "details_recorded_at" not in summary or "enrichment_pending" in summary


class Recorder:
    """Records one event at a time; the caller writes the returned history items in batches."""

    def __init__(
        self,
        repository: ProvenanceRepository,
        omics: Callable[[], Any],
        now: Callable[[], datetime] = utc_now,
        time_left: Callable[[], float] = lambda: float("inf"),
        prices: PriceProvider = snapshot_prices,
    ) -> None:
        self.repository = repository
        self.costs = CostRepository(repository)
        self.prices = prices  # region -> PriceList (the snapshot by default; a table-backed list when wired)
        self._omics_factory = omics
        self._omics: Any = None
        self.now = now
        self.time_left = time_left  # seconds of the invocation left, to checkpoint long batch maps
        # Seconds the invocation had when its first record began (`begin_invocation`; None: no queue to continue on)
        self.invocation_began_with: float | None = None

    def begin_invocation(self, time_left: Callable[[], float]) -> None:
        """A new invocation of the queue's handler: its clock, and the time it starts with."""
        self.time_left = time_left
        self.invocation_began_with = time_left()

    def _reached_without_time(self, what: str) -> Exception:
        """A record reached when the records before it used the invocation's time: it did nothing, as nothing
        failed it, so it continues as a new message (a receive of its own) rather than using up a receive of
        its message towards the DLQ. Bounded: only when the invocation began with the time this record needed,
        so each such continuation follows another record's work, which is finite; an invocation that never has
        the time (a timeout configured too short) fails the record as before, and its DLQ alarm tells."""
        if self.invocation_began_with is not None and self.invocation_began_with >= ENRICH_BUDGET_SECONDS:
            return Checkpointed(f"{what}: reached after the records before it used the invocation; continues")
        return RetryableError(f"{what}: no time left; retried")

    @property
    def omics(self) -> Any:
        if self._omics is None:  # built on first use: task events never need a client
            self._omics = self._omics_factory()
        return self._omics

    def record(self, event: RunStatusChange | TaskStatusChange | RunBatchStatusChange) -> RecordOutcome:
        """Raises KeyTooLarge, before any write, when the event's fields make a key DynamoDB refuses."""
        observation = observe(event)
        history = self.repository.history_item(observation)
        check_key_sizes(history)
        if observation.kind != "TASK":  # the summary's own keys: its sort key and the active/batch index keys
            summary_sk = keys.run_summary_sk(str(observation.run_uuid)) if observation.kind == "RUN" else keys.SUMMARY
            check_key_sizes({keys.SK: summary_sk, "active_sk": f"{observation.event_time}#{observation.entity_id}",
                             "batch_sk": f"BATCH#0000#{observation.entity_id}"})
        outcome = RecordOutcome(observation.kind, observation.entity_id, observation.status, history=[history])
        try:
            if isinstance(event, RunStatusChange):
                self._record_run(event, observation, outcome)
            elif isinstance(event, RunBatchStatusChange):
                self._record_batch(event, observation, outcome)
        except Checkpointed as stopped:
            # Progress is saved: this record succeeds, and a continuation resumes unless another invocation does.
            if not stopped.carried_on_elsewhere:
                outcome.continuation = str(stopped)
        return outcome

    # ------------------------------------------------------------------ runs
    def _record_run(self, event: RunStatusChange, observation: StatusObservation, outcome: RecordOutcome) -> None:
        d = event.detail
        attributes = {"run_name": d.runName, "workflow_id": d.workflowId, "workflow_name": d.workflowName,
                      "run_output_uri": d.runOutputUri, "arn": d.arn}
        update = self.repository.advance_run(observation, {k: v for k, v in attributes.items() if v})
        outcome.advanced = update.applied
        item = update.item
        # Enrich once: the first time a terminal status is recorded (even after DELETED), or on a retry
        # after enrichment failed, even after the details were written (`enrichment_due`). A later terminal
        # event of an enriched run (same rank, later time: applied) only takes it out of the active index again.
        final = item.get("outcome")
        if observation.status in RUN_TERMINAL and final in RUN_TERMINAL:
            if enrichment_due(item):
                outcome.cost = self.finish_run(observation.entity_id, d.uuid, final, item)
                outcome.enriched = True
                return
            if outcome_after_enrichment(item):
                self._settle_late_outcome(item)
            if "active_pk" in item:
                self.repository.finish_run(observation.entity_id, d.uuid)

    def finish_run(self, run_id: str, run_uuid: str, final: str,
                   summary: Mapping[str, Any] | None = None) -> RunCost | None:
        """Enrich a run whose terminal status `final` is recorded (an event, or the reconciler finishing an
        enrichment that failed); the run then leaves the active index. `summary`: the run's summary as just
        read (its task cursor, when an earlier try stopped part-way); read here when not given."""
        if self.time_left() < ENRICH_BUDGET_SECONDS:
            # Stop this record alone, now, rather than the whole batch at the Lambda timeout.
            raise self._reached_without_time(f"run {run_id}: enrichment")
        if summary is None:
            summary = self.repository.run_summary(run_id, run_uuid) or {}
        cost = self._enrich_run(run_id, run_uuid, final, summary.get("tasks_cursor"))
        if final not in RUN_TERMINAL:
            # Enriched without its outcome (a sweep, as DELETED): a terminal event recorded meanwhile may have read
            # the summary before our details were written and left the outcome's steps to us. Read it again.
            latest = self.repository.run_summary(run_id, run_uuid) or {}
            if outcome_after_enrichment(latest):
                self._settle_late_outcome(latest)
        self.repository.finish_run(run_id, run_uuid)
        return cost

    def _settle_late_outcome(self, summary: Mapping[str, Any]) -> None:
        """The steps of an enrichment that depend on the run's outcome, for a run enriched before it was known:
        from its recorded details, no HealthOmics call. A completed or failed re-run supersedes its parent's
        failure; a failed run is unresolved. Marked done last, so a retry does them again (they are idempotent)."""
        details = RunDetails.model_validate(summary)
        run_id, run_uuid, final = details.run_id, str(details.uuid), str(summary["outcome"])
        claim = RunClaim.of(run_id, run_uuid, details, details.batch_id, details.source_run_id)
        if claim is not None:
            settle(self.repository, claim, index_keys=self.repository.run_index_keys(details),
                   supersedes=final in (RunStatus.COMPLETED, RunStatus.FAILED), expires_at=waiting_expiry(self.now()))
        failed_at = str(details.stop_time or summary.get("outcome_time") or summary["details_recorded_at"])
        self.repository.record_late_outcome(run_id, run_uuid, final, failed_at)

    def _enrich_run(self, run_id: str, run_uuid: str, final: str,
                    tasks_cursor: str | None = None) -> RunCost | None:
        """Record GetRun + ListRunTasks once. `final` is the run's ordered terminal status: what GetRun
        says is kept beside it (api_status), never over it. GetRun takes the id alone: when it answers
        with another uuid, the id was reused after this run was deleted and this run is gone. `tasks_cursor`:
        where an earlier try's ListRunTasks pages stopped (saved in the summary)."""
        recorded_at = iso_time(self.now())
        try:
            details = run_details(self.omics.get_run(id=run_id))
            if details.uuid != run_uuid:
                self._record_gone(run_id, run_uuid, final, recorded_at,
                                  f"run id {run_id} now belongs to another run: this run was deleted")
                return None
            if details.status not in RUN_TERMINAL and details.status != RunStatus.DELETED:
                # GetRun is eventually consistent: it can lag the event. Retry rather than freeze a stale answer.
                raise RetryableError(f"GetRun {run_id} still says {details.status} after a {final} event")
            details = self._with_parent_uuid(details)
            cost = self._record_tasks(run_id, run_uuid, recorded_at, self._pricer(details), tasks_cursor)
        except ClientError as error:
            failure = _omics_error(error, f"GetRun/ListRunTasks {run_id}")
            if isinstance(failure, PermanentError):
                # The run is gone (deleted, or a REMOVE-retention run aged out): record that, do not retry.
                self._record_gone(run_id, run_uuid, final, recorded_at, str(failure))
                return None
            raise failure from error
        # Its tags may claim a place (another run's chain, our root batch, an attempt of a sample): whoever starts
        # a run sets them, so the run is placed there only if the table proves it (shared/supersede.py).
        claim = RunClaim.of(run_id, run_uuid, details, details.batch_id, details.source_run_id)
        proof = prove(self.repository, claim) if claim else None
        self.repository.record_run_details(details, recorded_at, final, placed=proof is None or proof.placed,
                                           cost=cost.totals)
        if not details.sample and details.batch_id and not sample_tag_enabled():
            # No sample tag: the batch's members say which sample this run is. Read after our details are
            # written, so a member list recorded meanwhile (which adopts recorded runs) is never missed.
            sample = self.repository.run_sample(run_id, run_uuid)
            if sample:
                self.repository.adopt_sample(run_id, run_uuid, sample)
        if cost.totals.get("storage", {}).get("basis") == "usage_unknown" and details.storage_type == "DYNAMIC":
            # The right-sizer may have stored the average between our read and our writes, seen no details
            # and left the storage to us: read its marker again, now our details are written.
            average = self.costs.storage_average_gib(run_id, run_uuid)
            if average is not None:
                self.costs.record_dynamic_storage(run_id, run_uuid, average, self.prices(region(details)))
        if claim is not None and proof is not None:
            # A later attempt that completed, or failed itself (and is then the unresolved one), settles
            # the parent's failure; a cancelled re-run does not. Its tags only claim it is one: settled (and
            # placed) when the re-runner's records prove it, now or when they are written (shared/supersede.py).
            settle(self.repository, claim, proof, index_keys=self.repository.run_index_keys(details),
                   supersedes=final in (RunStatus.COMPLETED, RunStatus.FAILED), expires_at=waiting_expiry(self.now()))
        if cost.totals.get("avoided_pending") and details.parent_run_id and details.parent_run_uuid:
            # After this run's details: the parent reprices only re-runs whose details are recorded. Then see
            # whether the parent's details were recorded meanwhile: it may have read its markers before ours
            # was written (both reads strongly consistent, so one of the two sides sees the other).
            self.costs.await_parent_costs(details.parent_run_id, details.parent_run_uuid, run_id, run_uuid)
            if self.costs.details_recorded(details.parent_run_id, details.parent_run_uuid):
                self._reprice(self.repository.run_summary(run_id, run_uuid) or {})
        self._reprice_later_attempts(details)
        return cost

    def _record_tasks(self, run_id: str, run_uuid: str, recorded_at: str, pricer: RunPricer,
                      resumed_from: str | None) -> RunCost:
        """Page through ListRunTasks, pricing and writing each page as it arrives: memory stays one page, however
        many tasks the run has (the task items are facts: a retry rewrites the same values). Short of time, the
        cursor is saved and Checkpointed raised, so a run with thousands of tasks resumes rather than restarts.
        Returns the run's cost, whose workflow-day line is written with the last page's tasks."""
        recorded: set[str] = set()
        if resumed_from:
            # The pages before the cursor are recorded: priced again from the table (no HealthOmics call) so the
            # totals cover every task. Pages after it may be too (a try that stopped before its next checkpoint):
            # those tasks are recorded and priced already, and are skipped below (each task priced once).
            stored = self.costs.iter_run_tasks(run_id, run_uuid)
            while chunk := [TaskDetails.model_validate(t) for t in itertools.islice(stored, 100)]:
                pricer.add(chunk)
                recorded.update(t.task_id for t in chunk)
        pages = self.omics.get_paginator("list_run_tasks").paginate(
            id=run_id, **({"startingToken": resumed_from} if resumed_from else {}))
        written_to = resumed_from  # the cursor after the last page written
        cost: RunCost | None = None
        try:
            for page in pages:
                tasks = [task_details(run_id, run_uuid, t) for t in page.get("items", [])]
                tasks = [t for t in tasks if t.task_id not in recorded]
                items = self.repository.task_items(tasks, recorded_at, pricer.add(tasks)) if tasks else []
                next_token = page.get("nextToken")
                if not next_token:  # every task is priced
                    cost = pricer.finish()
                self._write_tasks(run_id, run_uuid, items, cost)
                if next_token and self.time_left() < CHECKPOINT_RESERVE_SECONDS:
                    moved = self.repository.checkpoint_run_tasks(run_id, run_uuid, next_token, resumed_from)
                    raise Checkpointed(f"run {run_id}: time budget used in ListRunTasks; resumes",
                                       carried_on_elsewhere=not moved)
                written_to = next_token
        except (ClientError, RetryableError) as error:
            if not isinstance(error, Checkpointed) and written_to and written_to != resumed_from:
                # A page call failed (throttled): the retry resumes after the pages written, not where we began.
                self.repository.checkpoint_run_tasks(run_id, run_uuid, written_to, resumed_from)
            raise
        if cost is None:  # no page at all (a paginator sends at least one request)
            cost = pricer.finish()
            self._write_tasks(run_id, run_uuid, [], cost)
        return cost

    def _write_tasks(self, run_id: str, run_uuid: str, items: list[dict[str, Any]], cost: RunCost | None) -> None:
        """A page's task items; with the last (`cost` known), the run's workflow-day line, in the same request
        when they fit. The line comes before the details, the totals with them: a failure before the details are
        written leaves the run unenriched, so a retry prices it again (the same inputs write the same values)."""
        line = self.costs.cost_line_item(cost.line(run_uuid), cost.totals, cost.task_means) if cost else None
        if line is not None:
            items = [*items, line]
        failed = self.repository.put_items(items) if items else []
        if any(item.get("entity") == "TASK" for item in failed):
            raise RetryableError(f"task details of run {run_id} were not all written")
        if failed:
            raise unwritten(failed[0])

    def _reprice_later_attempts(self, details: RunDetails) -> None:
        """A re-run recorded before this run (its parent) could not find the producers of its cache hits:
        now they are recorded, price its hits again. Such a re-run left a marker in this run's partition
        (one Query of the partition; no index Query per enriched run)."""
        for child_id, child_uuid in self.costs.waiting_reprices(details.run_id, str(details.uuid)):
            self._reprice(self.repository.run_summary(child_id, child_uuid) or {})

    def _reprice(self, child: dict[str, Any]) -> None:
        """Price a re-run's cache hits again from its recorded summary and tasks (the same inputs write
        the same values, so the re-run and its parent may both do it)."""
        if (child.get("cost") or {}).get("avoided_pending") and child.get("details_recorded_at"):
            child_id, child_uuid = str(child["run_id"]), str(child["run_uuid"])
            stored = self.costs.run_tasks(child_id, child_uuid)
            tasks = [TaskDetails.model_validate(t) for t in stored]
            cost = self._pricer(RunDetails.model_validate(child)).price_all(tasks)
            hits = [t for t in tasks if t.cache_hit]
            recorded_at = str(child["details_recorded_at"])
            if self.repository.put_tasks(hits, recorded_at, cost.task_attributes):
                raise RetryableError(f"repriced cache hits of run {child_id} were not all written")
            self.costs.record_run_cost(cost.line(child_uuid), cost.totals, cost.task_means)

    def _pricer(self, details: RunDetails) -> RunPricer:
        """Cost from what was fetched: no HealthOmics call. Producers of cache hits are read from the
        parent attempt's recorded tasks; estimates from the workflow's recent cost lines."""
        parent_id, parent_uuid = details.parent_run_id, details.parent_run_uuid

        def parent_tasks() -> Iterable[dict[str, Any]] | None:
            if not (parent_id and parent_uuid):
                return ()
            # A run's tasks are all written before its details: with its details recorded (checked first),
            # its tasks are whole; a parent halfway through its enrichment would give only some producers.
            if not self.costs.details_recorded(parent_id, parent_uuid):
                return None
            return self.costs.iter_run_tasks(parent_id, parent_uuid)

        def workflow_lines() -> list[dict[str, Any]]:
            if not details.workflow_id:
                return []
            return self.costs.recent_task_means(details.workflow_id, exclude_run_uuid=details.uuid)

        # A DYNAMIC run's storage is billed on its average use, which only the manifest has: the right-sizer
        # stores it (one GetItem of its marker; when it comes later, it completes these totals itself).
        average = (self.costs.storage_average_gib(details.run_id, details.uuid)
                   if details.storage_type == "DYNAMIC" and details.uuid else None)
        return RunPricer(details, self.prices(region(details)), parent_tasks=parent_tasks,
                         workflow_lines=workflow_lines, dynamic_average_gib=average)

    def _record_gone(self, run_id: str, run_uuid: str, final: str, recorded_at: str, why: str) -> None:
        self.repository.record_run_details(
            RunDetails(run_id=run_id, uuid=run_uuid, root_run_id=run_id, root_run_uuid=run_uuid, status_message=why),
            recorded_at, final)

    def _with_parent_uuid(self, details: RunDetails) -> RunDetails:
        """A run started elsewhere names its source by id only (GetRun.runId): its parent is the run that
        carried that id when this one was created (a source must exist to be copied), as recorded here."""
        if not details.parent_run_id or details.parent_run_uuid:
            return details
        created = details.creation_time or "~"
        candidates = [s for s in self.repository.run_summaries(details.parent_run_id)
                      if run_first_seen(s) <= created]
        if not candidates:
            return details
        parent = candidates[-1]
        root_uuid = details.root_run_uuid
        if root_uuid is None:
            same_root = details.root_run_id == details.parent_run_id
            root_uuid = parent.get("run_uuid") if same_root else parent.get("root_run_uuid")
        return details.model_copy(update={"parent_run_uuid": parent.get("run_uuid"), "root_run_uuid": root_uuid})

    # ------------------------------------------------------------------ batches
    def _record_batch(self, event: RunBatchStatusChange, observation: StatusObservation,
                      outcome: RecordOutcome) -> None:
        d = event.detail
        attributes: dict[str, Any] = {
            "batch_name": d.batchName, "batch_uuid": d.uuid, "arn": d.arn, "workflow_id": d.workflowId,
            "workflow_arn": d.workflowArn, "workflow_version_arn": d.workflowVersionArn,
            "run_cache_arn": d.runCache, "run_cache_behavior": d.runCacheBehavior,
            "failure_reason": d.failureReason, "failure_message": d.failureMessage,
        }
        attributes = {k: v for k, v in attributes.items() if v}
        counts = d.counts()
        if counts:
            attributes["counts"] = counts
        update = self.repository.advance_batch(observation, attributes)
        outcome.advanced = update.applied
        self.finish_batch(observation.status, update.item, outcome)

    def finish_batch(self, status: str, summary: dict[str, Any], outcome: RecordOutcome) -> None:
        """Record the batch's members when its status says they are known and they are not recorded yet; an
        ended batch then leaves the active index (the reconciler finishes one whose members failed). Whatever
        ended status comes first records them: RUNS_DELETED may be the only one delivered (or healed). A batch
        whose recorded status is transitional (RUNS_DELETING) stays in the index whatever event this is: its
        next status may be lost, and only the reconciler would then record it."""
        batch_id = str(summary.get("batch_id") or outcome.entity_id)
        if status in BATCH_MEMBERS_KNOWN:
            if "members_recorded_at" not in summary:
                outcome.members_recorded = self._record_members(batch_id, summary)
            elif summary.get("members_refiling") or (
                    not outcome.advanced and summary.get("root_batch_id", batch_id) == batch_id):
                # A re-file stopped half-way, or this is the redelivery of an event whose recording may have
                # stopped between marking members filed under the batch itself and reading the LINK again.
                outcome.members_refiled = self._relink(batch_id, (batch_id, 0), bool(summary.get("members_refiling")))
        if status in BATCH_ENDED and "active_pk" in summary and summary.get("status") not in BATCH_TRANSITIONAL:
            self.repository.finish_batch(batch_id)

    def batch_gone(self, batch_id: str, summary: dict[str, Any], why: str) -> None:
        """HealthOmics no longer knows the batch (DeleteBatch): members never recorded can no longer be, and a
        status not recorded yet can no longer be learnt. The record says so (its last status stays: DeleteBatch
        follows any of several final statuses), and the batch leaves the active index."""
        if "members_recorded_at" not in summary:
            self._record_members(batch_id, summary, unlisted=why)
        gone = f"{why}: the batch was deleted (DeleteBatch); its last recorded status then: {summary.get('status')}"
        self.repository.finish_batch(batch_id, gone=gone, gone_at=iso_time(self.now()))

    def _record_members(self, batch_id: str, summary: dict[str, Any], unlisted: str | None = None) -> int:
        """Page through ListRunsInBatch; short of time, the cursor is saved and Checkpointed raised, so a huge batch
        resumes (a continuation, or a retry) where it stopped. `unlisted`
        (or ListRunsInBatch answering ResourceNotFoundException) says why the rest can never be listed: the
        members are then marked recorded as far as they went, with that error, rather than retried."""
        link = self.repository.get_batch_link(batch_id) or {}
        root, attempt = link.get("root_batch_id", batch_id), int(link.get("attempt", 0))
        recorded_at = iso_time(self.now())
        token: str | None = summary.get("members_cursor")
        resumed_from = token  # the checkpoint moves the cursor on only from where this invocation read it
        count = int(summary.get("members_count_so_far", 0)) if token else 0
        earlier = summary.get("members_cursor_root") if token else None  # where earlier pages were filed

        def keep_progress() -> None:
            if token and token != resumed_from:
                # A page call failed (throttled): the retry resumes after the pages written, not where we began.
                self._save_members_cursor(batch_id, token, count, (root, attempt), resumed_from, link)
        if unlisted is None and self.time_left() < CHECKPOINT_RESERVE_SECONDS:
            # Its first page would fail at once (the client keeps the invocation's last seconds): the cursor stays.
            reached = self._reached_without_time(f"batch {batch_id}: members")
            if isinstance(reached, Checkpointed):
                raise reached
        while unlisted is None:
            try:
                page = self.omics.list_runs_in_batch(batchId=batch_id,
                                                     maxItems=input_max("ListRunsInBatch", "maxItems"),
                                                     **({"startingToken": token} if token else {}))
            except RetryableError:  # the bounded client's DeadlineExceeded
                keep_progress()
                raise
            except ClientError as error:
                failure = _omics_error(error, f"ListRunsInBatch {batch_id}")
                if not isinstance(failure, PermanentError):
                    keep_progress()
                    raise failure from error
                # DeleteBatch removed it: no retry can list it, a retried message would only end in the DLQ.
                unlisted = str(failure)
                break
            count += self._write_members(root, attempt, [batch_member(batch_id, r) for r in page.get("runs", [])],
                                         recorded_at)
            token = page.get("nextToken")
            if not token:
                break
            if self.time_left() < CHECKPOINT_RESERVE_SECONDS:
                resumes = self._save_members_cursor(batch_id, token, count, (root, attempt), resumed_from, link)
                raise Checkpointed(f"batch {batch_id}: time budget used after {count} members; resumes",
                                   carried_on_elsewhere=not resumes)
        why = (f"{unlisted}: the batch was deleted (DeleteBatch) before its members were all listed;"
               f" {count} recorded") if unlisted else None
        self.repository.mark_batch_members_recorded(batch_id, root, attempt, count, recorded_at, why)
        if not link:
            # A follow-up batch's LINK is written once StartRunBatch returned: it may have come after our
            # read. Read it again now the members are marked (consistent reads both): either we see it here,
            # or its writer sees our mark and re-files them itself.
            self._relink(batch_id, (root, attempt))
        elif earlier is not None and earlier != self.repository.members_place(root, attempt):
            self.repository.refile_batch_members(batch_id, root, attempt)  # earlier pages came before the link
        return count

    def _save_members_cursor(self, batch_id: str, token: str, count: int, filed: tuple[str, int],
                             resumed_from: str | None, link: Mapping[str, Any]) -> bool:
        """Save the ListRunsInBatch cursor after the pages written. False: nothing is left for a resume of ours,
        another invocation (a duplicate event or continuation) moved the cursor first, or finished: it lists the
        rest."""
        moved = self.repository.checkpoint_batch_members(batch_id, token, count, *filed, resumed_from)
        # As at the end: a LINK may have come since our read, and another invocation (a duplicate event) may have
        # recorded every member under its root already, so that no resume of ours comes back here. Read it again
        # after our writes: marked, the next try re-files.
        refile = not link and self._mark_refile_if_linked(batch_id, filed)
        return moved or refile

    def _mark_refile_if_linked(self, batch_id: str, filed: tuple[str, int]) -> bool:
        link = self.repository.get_batch_link(batch_id)
        if link and (str(link["root_batch_id"]), int(link.get("attempt", 0))) != filed:
            self.repository.mark_members_refiling(batch_id, str(link["root_batch_id"]))
            return True
        return False

    def _relink(self, batch_id: str, filed: tuple[str, int], force: bool = False) -> int:
        """Re-file the members filed under `filed` (root batch, attempt) when the batch's LINK says they
        belong elsewhere (or, `force`, finish a re-file). Returns how many members moved."""
        link = self.repository.get_batch_link(batch_id)
        if not link:
            return 0
        target = (str(link["root_batch_id"]), int(link.get("attempt", 0)))
        if not force and target == filed:
            return 0
        return self.repository.refile_batch_members(batch_id, *target)

    def _write_members(self, root: str, attempt: int, members: Iterable[BatchMember], recorded_at: str) -> int:
        members = list(members)
        if self.repository.put_batch_members(root, attempt, members, recorded_at):
            raise RetryableError("batch members were not all written")
        if not sample_tag_enabled():  # runs carry no sample tag: record each run's sample beside it
            if self.repository.put_run_samples(members):
                raise RetryableError("run samples were not all written")
            for m in members:  # and index the runs already recorded (the others read it when recorded)
                if m.run_id and m.run_uuid:
                    self.repository.adopt_sample(m.run_id, m.run_uuid, m.run_setting_id)
        return len(members)
