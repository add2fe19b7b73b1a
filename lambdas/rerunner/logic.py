"""The re-runner: a failed run (or a processed batch's failed members) becomes at most one next attempt,
started from the run cache, when the policy says it is worth it.

Exactly once per (failed run, attempt) / (batch, attempt, group):
- a conditional claim item in the provenance table is taken before starting; its result (the new run or
  batch id) is written after, so duplicates and redeliveries skip without calling HealthOmics;
- the StartRun / StartRunBatch requestId is derived from the same key, so a start retried after a crash
  or a timeout (claim taken, no result recorded) returns what the first call created.
Every failed run handled gets a decision record RUN#<runId>/RERUN#<attempt:02> saying what was decided
and why; a follow-up batch gets BATCH#<batchId>/RERUN#<attempt:02>#<group>.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rerunner.dal import AwsAccess, NotFound, StartRejected
from rerunner.policy import (
    MAX_RUN_TAGS,
    SQS_MAX_DELAY_SECONDS,
    Decision,
    RerunPolicy,
    Storage,
    decide,
    decide_submission,
)
from rerunner.settings_file import encode
from rerunner.work import Work
from shared.batch_submit import BatchRejected
from shared.clock import utc_now
from shared.errors import PermanentError, RetryableError
from shared.lineage import (
    TAG_ATTEMPT,
    TAG_CHAIN,
    TAG_PREFIX,
    TAG_RERUN_REASON,
    TAG_ROOT_BATCH,
    TAG_SAMPLE,
    TAG_STACK,
    TAG_SUBMISSION,
    Lineage,
    lineage_tags,
    sample_tags,
    stack_tags,
)
from shared.observability import log_error, logger
from shared.omics_model import input_max
from shared.provenance import keys
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceRepository
from shared.status import RUN_TERMINAL, RunStatus, iso_time

TAG_PARENT_BATCH = "autopilot:parent-batch"
MAX_INLINE_BYTES = 300_000  # keeps the recorded request (BATCH#<id>/REQUEST) well under DynamoDB's 400 KB
CLAIM_TTL_DAYS = 400


class Decided:
    """Decision record values (the `decision` attribute)."""

    STARTED = "STARTED"
    DELAYED = "DELAYED"
    BRAKED = "BRAKED"
    NEVER = "NEVER"
    EXHAUSTED = "EXHAUSTED"
    SUPERSEDED = "SUPERSEDED"
    REJECTED = "REJECTED"
    GONE = "GONE"
    FOREIGN = "FOREIGN"  # not started by this stack, and rerunForeignRuns is off


NOT_STARTED_HERE = "not started by this stack"


@dataclass
class Outcome:
    """What handling one piece of work did (for metrics, logs and tests)."""

    work: Work
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    started: list[str] = field(default_factory=list)  # new run or batch ids
    skipped: str | None = None  # why nothing was decided (not failed, batch member, duplicate...)
    brake_engaged: bool = False

    def count(self, decision: str, n: int = 1) -> None:
        self.decisions[decision] += n


@dataclass(frozen=True)
class Config:
    policy: RerunPolicy
    run_cache_id: str | None = None
    omics_role_arn: str | None = None
    queue_url: str | None = None
    queue_arn: str | None = None
    scheduler_role_arn: str | None = None
    schedule_group: str = "default"
    settings_bucket: str | None = None
    dead_letter_arn: str | None = None
    rerun_foreign_runs: bool = False  # act on runs and batches this stack did not start (docs/RERUN_POLICY.md)
    stack_id: str | None = None  # this stack's identity (autopilot:stack tag): what "started here" means


def decision_sk(attempt: int) -> str:
    return f"RERUN#{attempt:02d}"


def group_decision_sk(attempt: int, group: str) -> str:
    return f"RERUN#{attempt:02d}#{group}"


def brake_pk(workflow_id: str) -> str:
    return f"BRAKE#{workflow_id}"


def run_request_id(run_id: str, run_uuid: str, attempt: int) -> str:
    """Derived from the failed run's identity (id, uuid: HealthOmics reuses the ids of deleted runs)."""
    request_id = f"autopilot-rerun-{run_id}-{run_uuid}-{attempt}"
    if len(request_id) > input_max("StartRun", "requestId"):  # a uuid is usually 36 characters
        request_id = f"autopilot-rerun-{run_id}-{hashlib.sha256(run_uuid.encode()).hexdigest()[:32]}-{attempt}"
    return request_id


def batch_request_id(batch_id: str, attempt: int, group: str) -> str:
    return f"autopilot-rerun-batch-{batch_id}-{attempt}-{group}"


def group_id(decision: Decision) -> str:
    """Members that need the same batch-level settings (storage) and wait as long share one follow-up."""
    storage = decision.storage
    if storage is None:
        label = "same"
    elif storage.storageType == "DYNAMIC":
        label = "dynamic"
    else:
        label = f"static{storage.storageCapacity}"
    return f"{label}-d{decision.delay_seconds}" if decision.delay_seconds else label


def _cache_behavior(current: str | None) -> str:
    # CACHE_ALWAYS also saves on failure; anything else becomes the guide's CACHE_ON_FAILURE.
    return "CACHE_ALWAYS" if current == "CACHE_ALWAYS" else "CACHE_ON_FAILURE"


def _kept_tags(tags: dict[str, str]) -> dict[str, str]:
    """A failed run's tags the next attempt keeps: the owner's own, and sample/submission/root batch/chain."""
    kept = {k: v for k, v in tags.items() if not k.startswith(TAG_PREFIX)}
    kept.update({k: tags[k] for k in (TAG_SAMPLE, TAG_SUBMISSION, TAG_ROOT_BATCH, TAG_CHAIN) if tags.get(k)})
    return kept


def _with_lineage(tags: dict[str, str], lineage: dict[str, str]) -> dict[str, str]:
    merged = {**tags, **lineage}
    if len(merged) > MAX_RUN_TAGS:  # lineage wins over the owner's tags when the 50-tag limit bites
        extra = [k for k in tags if k not in lineage][: len(merged) - MAX_RUN_TAGS]
        merged = {k: v for k, v in merged.items() if k not in extra}
    return merged


def next_lineage(failed: RunDetails, decision: Decision, root_batch_id: str | None = None) -> Lineage:
    return Lineage(
        root_run_id=failed.root_run_id,
        root_run_uuid=failed.root_run_uuid,
        parent_run_id=failed.run_id,
        parent_run_uuid=failed.uuid,
        attempt=decision.attempt,
        sample=failed.sample,
        root_batch_id=root_batch_id or failed.root_batch_id,
        submission_id=failed.submission_id,
        rerun_reason=decision.reason,
        remediation=decision.remediation,
    )


@dataclass
class _Member:
    """One failed batch entry: a failed run or a failed submission."""

    run_setting_id: str
    decision: Decision
    run: RunDetails | None = None  # None for a failed submission
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class _BatchRecords:
    """A failed batch's LINK and recorded request, each read when first needed and at most once while one
    work is handled (the request can hold 100 members' inline settings: up to 400 KB, 100 read units a
    strongly consistent read), and whether this stack started it."""

    repository: ProvenanceRepository
    aws: AwsAccess
    stack_id: str | None
    batch_id: str

    @functools.cached_property
    def link(self) -> dict[str, Any] | None:
        return self.repository.get_batch_link(self.batch_id)

    @functools.cached_property
    def request(self) -> dict[str, Any] | None:
        return self.repository.get_batch_request(self.batch_id)

    @functools.cached_property
    def batch(self) -> dict[str, Any] | None:
        """GetBatch (None once HealthOmics no longer knows the batch): only when provenance lacks an answer."""
        try:
            return dict(self.aws.get_batch(self.batch_id))
        except NotFound:
            return None

    @property
    def place(self) -> dict[str, Any]:
        """The batch's root and attempt: its LINK, else its recorded request (which carries the same), else,
        should both writes have been lost, the lineage tags a follow-up carries; a batch with none of these
        is its own root, attempt 0 (a follow-up counted so could escape the attempt limit)."""
        recorded = self.link or self.request
        if recorded:
            return recorded
        if not self.started_here:  # a foreign batch's tags do not say where it belongs here
            return {}
        tags = (self.batch or {}).get("tags") or {}
        if not tags.get(TAG_ROOT_BATCH):
            return {}
        return {"root_batch_id": tags[TAG_ROOT_BATCH], "attempt": int(tags.get(TAG_ATTEMPT, 0))}

    @functools.cached_property
    def started_here(self) -> bool:
        """A batch this stack started: linked, or its request recorded in provenance (launcher, re-runner),
        or, should those writes have been lost, the product's tags on the batch (one GetBatch)."""
        if self.link is not None or self.request is not None:
            return True
        return self.batch is not None and _started_here(self.batch.get("tags") or {}, self.stack_id)


class Rerunner:
    def __init__(
        self,
        repository: ProvenanceRepository,
        aws: AwsAccess,
        config: Config,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.repository = repository
        self.aws = aws
        self.config = config
        self.now = now

    @property
    def policy(self) -> RerunPolicy:
        return self.config.policy

    def handle(self, work: Work) -> Outcome:
        if work.kind == "run":
            return self.handle_run(work)
        return self.handle_batch(work)

    # ================================================================== standalone runs
    def handle_run(self, work: Work) -> Outcome:
        outcome = Outcome(work)
        try:
            failed = self._failed_run(work.id, work.uuid)
        except NotFound:
            outcome.skipped = "run no longer exists"
            return outcome
        if failed.status != "FAILED":
            _raise_if_lagging(failed)
            outcome.skipped = f"run is {failed.status}"
            return outcome
        if failed.batch_id:
            outcome.skipped = "batch member: re-run with its batch once the batch is PROCESSED"
            return outcome
        storage = Storage(storageType=failed.storage_type or "STATIC", storageCapacity=failed.storage_capacity)
        decision = decide(self.policy, failed.failure_reason, failed.attempt, storage)
        pk, sk = keys.run_pk(failed.run_id), keys.run_sk(str(failed.uuid), decision_sk(decision.attempt))
        record = self._record_base(failed, decision)
        if not self.config.rerun_foreign_runs and not self._run_started_here(failed):
            self._decide(outcome, pk, sk, {**record, "why": NOT_STARTED_HERE}, Decided.FOREIGN)
            return outcome
        braked = self._count_and_check_brake(failed.workflow_id, f"run:{failed.run_id}:{failed.uuid}", 1, work,
                                             outcome)

        claim = self.repository.get_item(pk, sk + "#CLAIM")
        if claim and claim.get("new_run_id"):
            outcome.skipped = "duplicate: this attempt was already started"
            return outcome
        if not decision.reruns:
            self._decide(outcome, pk, sk, record, decision.verdict.value)
            return outcome
        later = self._later_success(failed)
        if later:
            self._decide(
                outcome,
                pk,
                sk,
                {**record, "why": f"attempt {later} of the same root already succeeded"},
                Decided.SUPERSEDED,
            )
            return outcome
        # A claimed attempt may be running (an earlier try stopped after StartRun): it goes on, to be recorded.
        if braked and work.origin != "release" and claim is None:
            self._hold(failed.workflow_id, work, record)
            self._decide(
                outcome,
                pk,
                sk,
                {**record, "why": "automatic re-runs of this workflow are paused"},
                Decided.BRAKED,
            )
            return outcome
        due = self._due(pk, sk, decision.delay_seconds)
        if due is not None:
            self._wake_later(work, due, f"run-{failed.run_id}-{failed.uuid}-{decision.attempt}")
            self._decide(outcome, pk, sk, {**record, "due_at": iso_time(due)}, Decided.DELAYED)
            return outcome

        request = self._run_request(failed, decision)
        self._claim(pk, sk, request)
        # Won, or lost to an attempt that recorded no result (crash, timeout, concurrent call): either way
        # the derived requestId makes this call return the run the first one created, never a second run.
        try:
            new_run_id, new_run_uuid = self.aws.start_run(request)
        except StartRejected as rejected:
            self._decide(outcome, pk, sk, {**record, "why": str(rejected)}, Decided.REJECTED)
            return outcome
        self.repository.complete_claim(pk, sk + "#CLAIM", {"new_run_id": new_run_id, "new_run_uuid": new_run_uuid})
        self.repository.note_started("RUN", new_run_id, iso_time(self.now()), new_run_uuid)
        self._decide(
            outcome,
            pk,
            sk,
            {
                **record,
                "new_run_id": new_run_id,
                "new_run_uuid": new_run_uuid,
                "request_id": request["requestId"],
                "cache_id": request.get("cacheId"),
            },
            Decided.STARTED,
        )
        outcome.started.append(new_run_id)
        return outcome

    def _failed_run(self, run_id: str, run_uuid: str | None) -> RunDetails:
        """The failed run's facts: the recorder's GetRun details when already recorded, else one GetRun.
        A run is (id, uuid): GetRun answering with another uuid means the id was reused, this run is gone."""
        found = self.repository.run_summary(run_id, run_uuid) if run_uuid else None
        summary = found if found is not None else (self.repository.live_run_summaries([run_id]).get(run_id) or {})
        if _enriched(summary) and (run_uuid is None or summary.get("uuid") == run_uuid):
            return RunDetails.model_validate(summary)
        details = _run_details(self.aws.get_run(run_id))
        if run_uuid is not None and details.uuid != run_uuid:
            raise NotFound(f"run {run_id} ({run_uuid}) was deleted; its id now names run {details.uuid}")
        return details

    def _run_request(self, failed: RunDetails, decision: Decision) -> dict[str, Any]:
        role = failed.role_arn or self.config.omics_role_arn
        if not role or not failed.output_uri:
            raise PermanentError(f"run {failed.run_id}: no role or output URI to re-run with")
        lineage = next_lineage(failed, decision)
        # A foreign run (rerunForeignRuns) is re-run as it was: not claimed for this stack, no cache of ours.
        ours = self._run_started_here(failed)
        request: dict[str, Any] = {
            "runId": failed.run_id,
            "roleArn": role,
            "outputUri": failed.output_uri,
            "requestId": run_request_id(failed.run_id, str(failed.uuid), decision.attempt),
            "tags": _with_lineage(_kept_tags(failed.tags), {**lineage_tags(lineage), **self._stack_tags(ours)}),
        }
        # The stack's cache goes only to runs the stack started: a foreign run keeps its own (or none).
        cache_id = failed.cache_id or (self.config.run_cache_id if ours else None)
        if cache_id:
            request["cacheId"] = cache_id
            request["cacheBehavior"] = _cache_behavior(failed.cache_behavior if failed.cache_id else None)
        if decision.storage is not None:
            request.update(decision.storage.request_fields())
        return request

    def _stack_tags(self, ours: bool) -> dict[str, str]:
        """autopilot:stack for what this stack starts on its own behalf; never on a foreign run's re-run."""
        return stack_tags(self.config.stack_id) if ours else {}

    def _run_started_here(self, failed: RunDetails) -> bool:
        """A standalone run this stack started: first its provenance (the re-runner's claim on the parent
        run, in this stack's own table, names it), then its tags (autopilot:stack = this stack)."""
        parent, parent_uuid = failed.parent_run_id, failed.parent_run_uuid
        if parent and parent_uuid and failed.attempt > 0:
            claim = self.repository.get_item(
                keys.run_pk(parent), keys.run_sk(parent_uuid, decision_sk(failed.attempt)) + "#CLAIM") or {}
            if claim.get("new_run_id") == failed.run_id and claim.get("new_run_uuid") in (None, failed.uuid):
                return True
        return _started_here(failed.tags, self.config.stack_id)

    def _later_success(self, failed: RunDetails) -> int | None:
        for item in self.repository.attempt_chain(failed.root_run_id, failed.root_run_uuid):
            if (
                int(item.get("attempt", 0)) > failed.attempt
                and (item.get("outcome") or item.get("status")) == "COMPLETED"
            ):
                return int(item["attempt"])
        return None

    # ================================================================== batches
    def handle_batch(self, work: Work) -> Outcome:
        outcome = Outcome(work)
        batch_id = work.id
        # A follow-up's place in its root's history: its LINK, or, when that write was lost or has not
        # happened yet (its starter stopped after StartRunBatch), its recorded request, which carries the
        # same root and attempt, or its lineage tags (`_BatchRecords.place`).
        records = _BatchRecords(self.repository, self.aws, self.config.stack_id, batch_id)
        link = records.place
        root_batch_id = str(link.get("root_batch_id") or batch_id)
        batch_attempt = int(link.get("attempt", 0))
        if not records.started_here and not self.config.rerun_foreign_runs:
            record = {"entity": "RERUN_BATCH", "batch_id": batch_id, "attempt": batch_attempt + 1,
                      "why": NOT_STARTED_HERE, "decided_at": iso_time(self.now())}
            self._decide(outcome, keys.batch_pk(batch_id), group_decision_sk(batch_attempt + 1, "foreign"),
                         record, Decided.FOREIGN)
            return outcome

        members = list(self.aws.batch_members(batch_id))
        by_run = {m["runId"]: m for m in members if m.get("runId")}
        runs, summaries = self._failed_runs(batch_id, list(by_run))
        failed_ids = list(runs)
        failed_submissions = [m for m in members if m.get("submissionStatus") == "FAILED"]
        if not failed_ids and not failed_submissions:
            outcome.skipped = "no failed members"
            return outcome
        workflow_id = next((r.workflow_id for r in runs.values() if r.workflow_id), None)
        if workflow_id is None:
            workflow_id = self._batch_default(records).get("workflowId")

        candidates: list[_Member] = []
        for run_id in failed_ids:
            run = runs[run_id]
            storage = Storage(storageType=run.storage_type or "STATIC", storageCapacity=run.storage_capacity)
            decision = decide(self.policy, run.failure_reason, run.attempt, storage)
            candidates.append(_Member(by_run[run_id]["runSettingId"], decision, run, summaries.get(run_id, {})))
        for entry in failed_submissions:
            decision = decide_submission(self.policy, entry.get("submissionFailureReason"), batch_attempt)
            candidates.append(_Member(entry["runSettingId"], decision))

        braked = self._count_and_check_brake(workflow_id, f"batch:{batch_id}", len(candidates), work, outcome)
        context = {"parent_batch_id": batch_id, "root_batch_id": root_batch_id, "workflow_id": workflow_id}
        rerun = [m for m in candidates if m.decision.reruns]
        for member in candidates:
            if not member.decision.reruns:
                self._decide_member(outcome, member, context, member.decision.verdict.value)
        if not rerun:
            return outcome
        attempt = batch_attempt + 1
        groups: dict[str, list[_Member]] = defaultdict(list)
        for member in rerun:
            groups[group_id(member.decision)].append(member)
        if braked and work.origin != "release":
            # A group already claimed may have its follow-up running (an earlier try stopped after
            # StartRunBatch): it goes on, to be linked (same requestId); only the others wait for a release.
            pk = keys.batch_pk(batch_id)
            claimed = {g for g in groups if self.repository.get_item(pk, group_decision_sk(attempt, g) + "#CLAIM")}
            held = [m for g, members in groups.items() if g not in claimed for m in members]
            if held:
                self._hold(workflow_id, work, {"batch_id": batch_id, "members": len(held)})
            for member in held:
                self._decide_member(outcome, member, {**context, "why": "automatic re-runs are paused"}, Decided.BRAKED)
            groups = {g: members for g, members in groups.items() if g in claimed}
        for group, group_members in sorted(groups.items()):
            self._follow_up(outcome, work, records, root_batch_id, attempt, group, group_members, context)
        return outcome

    def _failed_runs(
        self, batch_id: str, run_ids: list[str]
    ) -> tuple[dict[str, RunDetails], dict[str, dict[str, Any]]]:
        """The batch's failed runs with their facts, in as few HealthOmics calls as possible.

        The recorder has usually recorded every member's terminal status and GetRun details by the time
        the batch is PROCESSED: those cost one BatchGetItem per 100 members and no HealthOmics call.
        Only when GetBatch's failed-run count (exact at PROCESSED) says failed runs are unaccounted for,
        ListRuns(batchId, status=FAILED) names them (100 a page) and each gets one GetRun.
        """
        # Members name runs by id alone: the latest run that carried each id, when it is this batch's.
        live = self.repository.live_run_summaries(run_ids)
        summaries = {r: s if (s := live.get(r, {})).get("batch_id") in (None, batch_id) else {} for r in run_ids}
        failed: dict[str, RunDetails] = {}
        unknown: list[str] = []
        for run_id, summary in summaries.items():
            outcome = summary.get("outcome")
            if outcome == "FAILED":
                details = RunDetails.model_validate(summary) if _enriched(summary) else self._get_run(run_id)
                if details is not None:
                    failed[run_id] = details
            elif outcome not in ("COMPLETED", "CANCELLED"):
                unknown.append(run_id)
        if unknown:
            expected = int((self.aws.get_batch(batch_id).get("runSummary") or {}).get("failedRunCount", 0))
            if len(failed) < expected:
                waiting = set(unknown)
                for run_id in self.aws.failed_run_ids(batch_id):
                    if run_id in waiting and (details := self._get_run(run_id)) is not None:
                        failed[run_id] = details
        return {r: failed[r] for r in run_ids if r in failed}, summaries

    def _get_run(self, run_id: str) -> RunDetails | None:
        """GetRun of one failed member; a member whose metadata is gone (deleted, or aged out under REMOVE
        retention) is left out and logged, so it cannot cancel the follow-up of every other member.
        GetRun lagging behind the FAILED status fails the whole work, to come back (never decided on)."""
        try:
            details = _run_details(self.aws.get_run(run_id))
        except NotFound as gone:
            log_error("warning", "failed batch member is gone: not re-run", gone, {"run_id": run_id})
            return None
        if details.status != RunStatus.FAILED:
            _raise_if_lagging(details)
            return None
        return details

    def _follow_up(
        self,
        outcome: Outcome,
        work: Work,
        records: _BatchRecords,
        root_batch_id: str,
        attempt: int,
        group: str,
        members: list[_Member],
        context: dict[str, Any],
    ) -> None:
        batch_id = records.batch_id
        pk, sk = keys.batch_pk(batch_id), group_decision_sk(attempt, group)
        claim = self.repository.get_item(pk, sk + "#CLAIM")
        if claim and claim.get("new_batch_id"):
            outcome.skipped = "duplicate: this follow-up batch was already started"
            return
        live = []
        for member in members:
            # Claimed, not completed: an earlier try may have started the batch whose runs superseded these
            # members. Send its request again (same requestId: that batch) to link it, not skip it.
            if member.summary.get("superseded_by") and claim is None:
                self._decide_member(
                    outcome,
                    member,
                    {
                        **context,
                        "why": "a later attempt already exists",
                        "superseded_by": member.summary["superseded_by"],
                    },
                    Decided.SUPERSEDED,
                )
            else:
                live.append(member)
        if not live:
            return
        delay = max(m.decision.delay_seconds for m in live)
        record = {
            "entity": "RERUN_BATCH",
            "group": group,
            "attempt": attempt,
            "members": len(live),
            "decided_at": iso_time(self.now()),
            **context,
        }
        due = self._due(pk, sk, delay)
        if due is not None:
            self._wake_later(work, due, f"batch-{batch_id}-{attempt}-{group}")
            self._decide(outcome, pk, sk, {**record, "due_at": iso_time(due)}, Decided.DELAYED, count=False)
            for member in live:
                self._decide_member(outcome, member, {**context, "due_at": iso_time(due)}, Decided.DELAYED)
            return

        originals = self._original_entries(records, live)
        unknown = [m for m in live if m.run_setting_id not in originals]
        for member in unknown:  # a failed submission of a batch this product did not start
            why = "its original per-run settings are unknown (the batch was not started by this product)"
            self._decide_member(outcome, member, {**context, "why": why}, Decided.REJECTED)
        live = [m for m in live if m.run_setting_id in originals]
        if not live:
            return
        request = self._batch_request(records, root_batch_id, attempt, group, live, originals)
        self._claim(pk, sk, request)
        try:
            new_batch_id = self.aws.start_batch(
                self.repository,
                request,
                {
                    "root_batch_id": root_batch_id,
                    "parent_batch_id": batch_id,
                    "attempt": attempt,
                    "group": group,
                },
            )
        except BatchRejected as rejected:
            self._decide(outcome, pk, sk, {**record, "why": str(rejected)}, Decided.REJECTED, count=False)
            for member in live:
                self._decide_member(outcome, member, {**context, "why": str(rejected)}, Decided.REJECTED)
            return
        # The link before the claim's completion: a retry after a stop in between starts the same batch
        # again (same requestId) and writes the link; a completed claim would skip it. Members the recorder
        # filed under the new batch before its link existed are re-filed under the root here.
        refiled = self.repository.put_batch_link(
            new_batch_id, batch_id, root_batch_id, attempt, {"group": group, "origin": "rerunner"}
        )
        if refiled:
            logger.info("follow-up batch members re-filed under their root batch",
                        extra={"batch_id": new_batch_id, "root_batch_id": root_batch_id, "members": refiled})
        self.repository.complete_claim(pk, sk + "#CLAIM", {"new_batch_id": new_batch_id})
        self._decide(
            outcome,
            pk,
            sk,
            {**record, "new_batch_id": new_batch_id, "request_id": request["requestId"]},
            Decided.STARTED,
            count=False,
        )
        for member in live:
            self._decide_member(outcome, member, {**context, "new_batch_id": new_batch_id}, Decided.STARTED)
        outcome.started.append(new_batch_id)

    def _batch_default(self, records: _BatchRecords) -> dict[str, Any]:
        if records.request:
            return dict(records.request["request"]["defaultRunSetting"])
        if records.batch is None:
            raise NotFound(f"batch {records.batch_id} no longer exists")
        return dict(records.batch.get("defaultRunSetting") or {})

    def _original_entries(self, records: _BatchRecords, members: list[_Member]) -> dict[str, dict[str, Any]]:
        """Each member's ORIGINAL per-run settings: from the recorded request (inline, or its S3 settings
        file read as a stream), else rebuilt from GetRun (a batch started outside this product)."""
        wanted = {m.run_setting_id for m in members}
        entries: dict[str, dict[str, Any]] = {}
        if records.request:
            settings = records.request["request"].get("batchRunSettings", {})
            if settings.get("inlineSettings") is not None:
                entries = {e["runSettingId"]: e for e in settings["inlineSettings"] if e["runSettingId"] in wanted}
            elif settings.get("s3UriSettings"):
                try:
                    entries = self.aws.read_settings(settings["s3UriSettings"], wanted)
                except (PermanentError, ValueError):
                    entries = {}  # unreadable or changed file: fall back to what GetRun knows
        for member in members:
            if member.run_setting_id not in entries and member.run is not None:
                run = member.run
                rebuilt = {
                    "runSettingId": member.run_setting_id,
                    "name": run.name,
                    "outputUri": run.output_uri,
                    "parameters": run.parameters,
                }
                entries[member.run_setting_id] = {k: v for k, v in rebuilt.items() if v is not None}
        return entries

    def _batch_request(
        self,
        records: _BatchRecords,
        root_batch_id: str,
        attempt: int,
        group: str,
        members: list[_Member],
        originals: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        batch_id = records.batch_id
        default = self._batch_default(records)
        if not default.get("workflowId") or not default.get("roleArn"):
            raise PermanentError(f"batch {batch_id}: its default run setting is unknown")
        # The stack's cache goes only to batches the stack started: a foreign one keeps its own (or none).
        started_here = records.started_here
        cache_id = default.get("cacheId") or (self.config.run_cache_id if started_here else None)
        if cache_id:
            default["cacheBehavior"] = _cache_behavior(default.get("cacheBehavior") if default.get("cacheId") else None)
            default["cacheId"] = cache_id
        storage = members[0].decision.storage  # the same for the whole group
        if storage is not None:
            default.pop("storageCapacity", None)
            default.update(storage.request_fields())
        # Imported here: only a follow-up batch needs the service model's bounds (cold start, issue 13).
        from shared.api_limits import api_limits

        limits = api_limits()
        entries = []
        per_run = limits.per_run_fields
        for member in sorted(members, key=lambda m: m.run_setting_id):
            entry = {k: v for k, v in originals[member.run_setting_id].items() if k in per_run}
            entry["runTags"] = _with_lineage(
                dict(entry.get("runTags") or {}), self._member_tags(member, root_batch_id, attempt, started_here)
            )
            entries.append(entry)
        request: dict[str, Any] = {
            "requestId": batch_request_id(batch_id, attempt, group),
            "batchName": _batch_name(batch_id, attempt, group),
            "defaultRunSetting": default,
            "tags": {TAG_ROOT_BATCH: root_batch_id, TAG_PARENT_BATCH: batch_id, TAG_ATTEMPT: str(attempt),
                     **self._stack_tags(started_here)},
        }
        inline_size = len(encode(entries))
        if len(entries) <= limits.inline_max and inline_size <= MAX_INLINE_BYTES:
            request["batchRunSettings"] = {"inlineSettings": entries}
        else:
            if not self.config.settings_bucket:
                raise PermanentError(f"a follow-up batch of more than {limits.inline_max} runs needs "
                                     "RERUN_SETTINGS_BUCKET")
            body = encode(entries)
            # Content-addressed: written once (If-None-Match), reused only with the same bytes.
            digest = hashlib.sha256(body).hexdigest()[:16]
            key = f"reruns/{root_batch_id}/{batch_id}/attempt-{attempt:02d}-{group}-{digest}.json"
            uri = self.aws.write_settings(self.config.settings_bucket, key, body)
            request["batchRunSettings"] = {"s3UriSettings": uri}
        return request

    def _member_tags(self, member: _Member, root_batch_id: str, attempt: int, ours: bool) -> dict[str, str]:
        if member.run is not None:
            return {**lineage_tags(next_lineage(member.run, member.decision, root_batch_id)), **self._stack_tags(ours)}
        # A failed submission never became a run: its first run will be its own root.
        return {
            TAG_ATTEMPT: str(member.decision.attempt),
            TAG_ROOT_BATCH: root_batch_id,
            TAG_RERUN_REASON: member.decision.reason,
            **sample_tags(member.run_setting_id),
            **self._stack_tags(ours),
        }

    # ================================================================== decisions
    def _record_base(self, failed: RunDetails, decision: Decision) -> dict[str, Any]:
        return {
            "entity": "RERUN_DECISION",
            "run_id": failed.run_id,
            "run_uuid": failed.uuid,
            "attempt": decision.attempt,
            "failure_reason": decision.reason,
            "why": decision.why,
            "remediation": decision.remediation,
            "delay_seconds": decision.delay_seconds or None,
            "root_run_id": failed.root_run_id,
            "workflow_id": failed.workflow_id,
            "decided_at": iso_time(self.now()),
            **self._cost_estimate(failed),
        }

    def _cost_estimate(self, failed: RunDetails) -> dict[str, Any]:
        """What the failed attempt cost and what resuming from its cache may avoid (recorded figures)."""
        # Imported here: the cost modules serve decisions only, not the events skipped before one (batch
        # members, runs no longer failed, duplicates), so they are not part of the cold start (issue 13).
        from shared.provenance.cost_repository import CostRepository, attempt_estimate

        return attempt_estimate(CostRepository(self.repository), failed.run_id, str(failed.uuid)) if failed.uuid else {}

    def _decide(
        self, outcome: Outcome, pk: str, sk: str, record: dict[str, Any], decision: str, count: bool = True
    ) -> None:
        self.repository.record_decision(pk, sk, {**record, "decision": decision})
        if count:
            outcome.count(decision)

    def _decide_member(self, outcome: Outcome, member: _Member, context: dict[str, Any], decision: str) -> None:
        d = member.decision
        record = {
            "entity": "RERUN_DECISION",
            "run_setting_id": member.run_setting_id,
            "attempt": d.attempt,
            "failure_reason": d.reason,
            "remediation": d.remediation,
            "delay_seconds": d.delay_seconds or None,
            "decided_at": iso_time(self.now()),
            "why": d.why,
            **context,
        }
        if member.run is not None:
            pk, sk = keys.run_pk(member.run.run_id), keys.run_sk(str(member.run.uuid), decision_sk(d.attempt))
            record.update(run_id=member.run.run_id, run_uuid=member.run.uuid, root_run_id=member.run.root_run_id,
                          **self._cost_estimate(member.run))
        else:
            pk, sk = (
                keys.batch_pk(context["parent_batch_id"]),
                f"{decision_sk(d.attempt)}#SETTING#{member.run_setting_id}",
            )
            record["submission_failed"] = True
        self._decide(outcome, pk, sk, record, decision)

    def _claim(self, pk: str, sk: str, request: dict[str, Any]) -> None:
        """Claim the decision at `sk` for the start `request` (its requestId), before the start is attempted."""
        self.repository.claim(
            pk,
            sk + "#CLAIM",
            {"entity": "RERUN_CLAIM", "request_id": request["requestId"], "claimed_at": iso_time(self.now())},
            int((self.now() + timedelta(days=CLAIM_TTL_DAYS)).timestamp()),
        )

    # ================================================================== delays
    def _due(self, pk: str, sk: str, delay_seconds: int) -> datetime | None:
        """None when the work may start now; else when it may (first decision time + delay)."""
        if delay_seconds <= 0:
            return None
        first = datetime.fromisoformat(self.repository.first_seen(pk, sk, iso_time(self.now())).replace("Z", "+00:00"))
        due = first + timedelta(seconds=delay_seconds)
        return due if self.now() < due else None

    def _wake_later(self, work: Work, due: datetime, name: str) -> None:
        """Bring `work` back at `due`: SQS DelaySeconds up to 15 minutes, a one-time Scheduler schedule
        beyond (deletes itself after it fired). Duplicate wake-ups are harmless (claims)."""
        seconds = max(1, int((due - self.now()).total_seconds() + 0.999))
        body = work.message("wake")
        if seconds <= SQS_MAX_DELAY_SECONDS:
            if not self.config.queue_url:
                raise PermanentError("delayed re-runs need RERUN_QUEUE_URL")
            self.aws.send_delayed(self.config.queue_url, body, seconds)
            return
        if not (self.config.queue_arn and self.config.scheduler_role_arn):
            raise PermanentError("re-runs delayed beyond 15 minutes need RERUN_QUEUE_ARN and the scheduler role")
        self.aws.schedule_once(
            _schedule_name(name),
            self.config.schedule_group,
            due,
            self.config.queue_arn,
            self.config.scheduler_role_arn,
            body,
            dead_letter_arn=self.config.dead_letter_arn,
        )

    # ================================================================== brake
    def _count_and_check_brake(
        self, workflow_id: str | None, member: str, failures: int, work: Work, outcome: Outcome
    ) -> bool:
        """Count these failures once in the workflow's current window; engage the brake above the
        threshold. Returns whether automatic re-runs of the workflow are paused."""
        brake = self.policy.brake
        if not brake.enabled or not workflow_id or failures <= 0:
            return False
        now = self.now()
        window = brake.windowMinutes * 60
        start_epoch = int(now.timestamp()) // window * window
        window_start = iso_time(datetime.fromtimestamp(start_epoch, UTC))
        pk = brake_pk(workflow_id)
        total = self.repository.count_once(
            pk, f"WINDOW#{window_start}", member, failures, start_epoch + window + 86_400
        )
        state = self.repository.get_item(pk, "STATE") or {}
        if _paused(state, now):
            return True
        # At most one pause per window: once a pause ended (cool-down or release), the failures already
        # counted in its window do not pause the workflow again; the next window counts afresh.
        if total > brake.maxFailures and state.get("window_start") != window_start:
            until = now + timedelta(minutes=brake.coolDownMinutes) if brake.coolDownMinutes else None
            self.repository.put_record(
                {
                    keys.PK: pk,
                    keys.SK: "STATE",
                    "entity": "RERUN_BRAKE",
                    "workflow_id": workflow_id,
                    "status": "PAUSED",
                    "paused_at": iso_time(now),
                    "paused_until": iso_time(until) if until else None,
                    "reason": f"{total} failures of workflow {workflow_id} since {window_start} "
                    f"(more than {brake.maxFailures} in {brake.windowMinutes} min)",
                    "failures": total,
                    "window_start": window_start,
                }
            )
            outcome.brake_engaged = True
            return True
        return False

    def _hold(self, workflow_id: str | None, work: Work, record: dict[str, Any]) -> None:
        """Keep work skipped while braked, so releasing the brake re-queues it (nothing is lost)."""
        self.repository.put_record(
            {
                keys.PK: brake_pk(workflow_id or "-"),
                keys.SK: f"HELD#{work.kind}#{work.id}",
                "entity": "RERUN_HELD",
                "kind": work.kind,
                "id": work.id,
                "held_at": iso_time(self.now()),
                **{
                    k: v
                    for k, v in record.items()
                    if k in ("run_id", "batch_id", "members", "failure_reason", "attempt")
                },
            }
        )

    def release_brake(self, workflow_id: str, released_by: str = "operator") -> dict[str, Any]:
        """Resume automatic re-runs of a workflow and re-queue the work held while it was paused."""
        if not self.config.queue_url:
            raise PermanentError("releasing the brake needs RERUN_QUEUE_URL")
        pk = brake_pk(workflow_id)
        now = iso_time(self.now())
        state = self.repository.get_item(pk, "STATE") or {}
        self.repository.put_record(
            {
                **state,
                keys.PK: pk,
                keys.SK: "STATE",
                "entity": "RERUN_BRAKE",
                "workflow_id": workflow_id,
                "status": "RELEASED",
                "released_at": now,
                "released_by": released_by,
            }
        )
        requeued = 0
        for held in self.repository.items_with_prefix(pk, "HELD#"):
            work = Work(kind=held["kind"], id=held["id"])
            self.aws.send_delayed(self.config.queue_url, work.message("release"), 0)
            self.repository.delete_item(pk, held[keys.SK])
            requeued += 1
        return {"workflowId": workflow_id, "status": "RELEASED", "requeued": requeued, "releasedAt": now}

    def brake_status(self, workflow_id: str) -> dict[str, Any]:
        pk = brake_pk(workflow_id)
        state = self.repository.get_item(pk, "STATE") or {}
        held = self.repository.items_with_prefix(pk, "HELD#")
        return {
            "workflowId": workflow_id,
            "paused": _paused(state, self.now()),
            "state": state,
            "held": [{"kind": h["kind"], "id": h["id"], "held_at": h.get("held_at")} for h in held],
        }


def _run_details(response: dict[str, Any]) -> RunDetails:
    """A GetRun response as the recorder maps it. Imported on first use: the recorder's module brings its
    pricing, and a run the recorder has already enriched needs no GetRun (cold start, issue 13)."""
    from recorder.logic import run_details

    return run_details(response)


def _started_here(tags: dict[str, str] | None, stack_id: str | None) -> bool:
    """Tagged by this very stack: autopilot:stack equal to its id. Any autopilot:* tag is not enough, every
    deployment in the account (dev beside prod) writes those; without a stack id nothing is ours by tag."""
    return bool(stack_id) and (tags or {}).get(TAG_STACK) == stack_id


def _raise_if_lagging(run: RunDetails) -> None:
    """GetRun is eventually consistent and can still answer STOPPING (or RUNNING) after the FAILED event:
    fail this work so it comes back through the queue (bounded by its redrive policy), never drop it."""
    if run.status not in RUN_TERMINAL and run.status != RunStatus.DELETED:
        raise RetryableError(f"GetRun {run.run_id} still says {run.status} after a FAILED event; retried")


def _enriched(summary: dict[str, Any]) -> bool:
    return bool(summary.get("details_recorded_at") and summary.get("root_run_id") and summary.get("status"))


def _paused(state: dict[str, Any], now: datetime) -> bool:
    if state.get("status") != "PAUSED":
        return False
    until = state.get("paused_until")
    return until is None or iso_time(now) < str(until)


def _batch_name(batch_id: str, attempt: int, group: str) -> str:
    """batchName within StartRunBatch's bounds (botocore's model); a cut name keeps a hash of the whole."""
    # Imported here: only a follow-up batch needs the service model's bounds (cold start, issue 13).
    from shared.api_limits import api_limits

    name, longest = f"rerun-{batch_id}-a{attempt}-{group}", api_limits().batch_name.max_length
    if len(name) <= longest:
        return name
    return name[: longest - 13] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def _schedule_name(name: str) -> str:
    """Scheduler names: 1-64 of [0-9a-zA-Z-_.]; long names keep a hash so they stay unique."""
    clean = re.sub(r"[^0-9A-Za-z_.-]", "-", f"autopilot-rerun-{name}")
    if len(clean) <= 64:
        return clean
    return clean[:51] + "-" + hashlib.sha256(clean.encode()).hexdigest()[:12]
