"""Batch follow-ups: a processed batch's failed members (failed runs, failed submissions) become at most one
follow-up batch (StartRunBatch) a group, members needing the same batch-level settings and delay together."""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rerunner.brake import Brake
from rerunner.common import (
    NOT_STARTED_HERE,
    Decided,
    Outcome,
    decision_sk,
    is_enriched,
    next_lineage,
    raise_if_lagging,
    rerun_cache_behavior,
    tagged_by_stack,
    with_lineage,
)
from rerunner.dal import AwsAccess, NotFound
from rerunner.policy import Decision, Storage, decide, decide_submission
from rerunner.settings_file import encode
from rerunner.work import Work
from shared.batch_submit import MAX_RECORDED_REQUEST_BYTES, BatchRejected, recorded_request_bytes
from shared.errors import PermanentError, RetryableError
from shared.lineage import (
    TAG_ATTEMPT,
    TAG_PARENT_RUN,
    TAG_PARENT_RUN_UUID,
    TAG_RERUN_REASON,
    TAG_ROOT_BATCH,
    ClaimedRerun,
    lineage_tags,
    sample_tags,
    tagged_attempt,
)
from shared.observability import log_error, logger
from shared.omics_model import input_max
from shared.provenance import keys
from shared.provenance.from_omics import run_details
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceRepository
from shared.status import RunStatus, iso_time
from shared.supersede import proven, settle_waiting_batch

TAG_PARENT_BATCH = "autopilot:parent-batch"


def group_decision_sk(attempt: int, group: str) -> str:
    return f"RERUN#{attempt:02d}#{group}"


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


@dataclass
class _Member:
    """One failed batch entry: a failed run or a failed submission."""

    run_setting_id: str
    decision: Decision
    run: RunDetails | None = None  # None for a failed submission
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failures:
    """A batch's failed members: each failed run (its runSettingId, GetRun's facts, its recorded summary) and
    each failed submission (its ListRunsInBatch row)."""

    runs: list[tuple[str, RunDetails, dict[str, Any]]]
    submissions: list[dict[str, Any]]


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
        return {"root_batch_id": tags[TAG_ROOT_BATCH], "attempt": tagged_attempt(tags, 0)}

    @functools.cached_property
    def started_here(self) -> bool:
        """A batch this stack started: linked, or its request recorded in provenance (launcher, re-runner),
        or, should those writes have been lost, the product's tags on the batch (one GetBatch)."""
        if self.link is not None or self.request is not None:
            return True
        return self.batch is not None and tagged_by_stack(self.batch.get("tags") or {}, self.stack_id)


class FollowUps(Brake):
    """A PROCESSED batch's failed members: decided each, re-run together as a follow-up batch a group."""

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

        # The service's own counts first (one GetBatch, the one `records` may already hold): a PROCESSED batch
        # they prove free of failures needs none of its members read (up to 1,000 ListRunsInBatch pages and
        # 100,000 Queries at 100,000 runs). Any doubt (another status, a count missing or not 0, an error):
        # the members are read as always. The same GetBatch serves `_failed_runs` (no second one).
        batch = _batch_or_none(records)
        if nothing_failed(batch):
            outcome.skipped = "no failed members"
            return outcome
        # Counted, the failed members alone are read; else every member (`_counted_failures`).
        failures = self._counted_failures(batch_id, batch)
        if failures is None:
            failures = self._listed_failures(batch_id, batch)
        if not failures.runs and not failures.submissions:
            outcome.skipped = "no failed members"
            return outcome
        workflow_id = next((run.workflow_id for _, run, _ in failures.runs if run.workflow_id), None)
        if workflow_id is None:
            workflow_id = self._batch_default(records).get("workflowId")

        candidates: list[_Member] = []
        for run_setting_id, run, summary in failures.runs:
            storage = Storage(storageType=run.storage_type or "STATIC", storageCapacity=run.storage_capacity)
            decision = decide(self.policy, run.failure_reason, run.attempt, storage)
            candidates.append(_Member(run_setting_id, decision, run, summary))
        for entry in failures.submissions:
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

    def _counted_failures(self, batch_id: str, batch: dict[str, Any] | None) -> _Failures | None:
        """The failed members alone, when GetBatch's counts are exact and account for every member
        (`exact_failures`): the failed submissions from ListRunsInBatch(submissionStatus=FAILED), the failed
        runs from ListRuns(batchId, status=FAILED) (100 a page each), each run's runSettingId from the members
        the recorder recorded (else ListRunsInBatch, `_run_setting_ids`) and its facts from its recorded
        summary (else GetRun). At 100,000 runs with F failures that is F/100 pages, a few dozen pages of
        recorded members and F Queries, where reading every member is 1,000 pages and 100,000 Queries: more
        than one invocation can do. None when an answer falls short of the counts (a listing that lags them):
        the members are then read as without counts."""
        counts = exact_failures(batch)
        if batch is None or counts is None:
            return None
        failed_runs, failed_submissions = counts
        submissions = list(self.aws.batch_members(batch_id, submission_status="FAILED")) if failed_submissions else []
        run_ids = list(dict.fromkeys(self.aws.failed_run_ids(batch_id))) if failed_runs else []
        settings = self._run_setting_ids(batch_id, run_ids, _count(batch, "totalRuns") or 0)
        if (len(submissions), len(run_ids), len(settings)) != (failed_submissions, failed_runs, failed_runs):
            logger.warning("the failed members listed fall short of GetBatch's counts: every member is read",
                           extra={"batch_id": batch_id, "failed_runs": failed_runs, "listed_runs": len(run_ids),
                                  "failed_submissions": failed_submissions, "listed_submissions": len(submissions)})
            return None
        runs = []
        for run_id in run_ids:
            summary = _member_summary(self.repository.run_summaries(run_id), batch_id)
            if (details := self._member_run(run_id, batch_id, summary)) is not None:
                runs.append((settings[run_id], details, summary))
        return _Failures(runs, submissions)

    def _run_setting_ids(self, batch_id: str, run_ids: list[str], total_runs: int) -> dict[str, str]:
        """Each run's runSettingId: from the batch's members the recorder recorded (no HealthOmics call), else
        from ListRunsInBatch, by run id (one call each) or, for more runs than the batch has pages, every page."""
        found = self.repository.recorded_member_settings(batch_id, run_ids) if run_ids else {}
        missing = {r for r in run_ids if r not in found}
        if missing:
            pages = -(-total_runs // input_max("ListRunsInBatch", "maxItems"))
            rows = ((row for r in sorted(missing) for row in self.aws.batch_members(batch_id, run_id=r))
                    if len(missing) <= pages else self.aws.batch_members(batch_id))
            found.update({row["runId"]: row["runSettingId"] for row in rows if row.get("runId") in missing})
        return found

    def _listed_failures(self, batch_id: str, batch: dict[str, Any] | None) -> _Failures:
        """Every member read (ListRunsInBatch, 100 a page) and each one's recorded run looked up: what it takes
        when GetBatch's counts do not bound the failures (a batch not PROCESSED, a member deleted since, a
        count missing, a listing that lags them)."""
        members = list(self.aws.batch_members(batch_id))
        by_run = {m["runId"]: m for m in members if m.get("runId")}
        runs, summaries = self._failed_runs(batch_id, list(by_run), batch)
        return _Failures([(by_run[r]["runSettingId"], details, summaries.get(r, {})) for r, details in runs.items()],
                         [m for m in members if m.get("submissionStatus") == "FAILED"])

    def _failed_runs(
        self, batch_id: str, run_ids: list[str], batch: dict[str, Any] | None = None
    ) -> tuple[dict[str, RunDetails], dict[str, dict[str, Any]]]:
        """The batch's failed runs with their facts, in as few HealthOmics calls as possible.

        The recorder has usually recorded every member's terminal status and GetRun details by the time
        the batch is PROCESSED: those cost one strongly consistent DynamoDB Query per member (a member is
        known by its run id alone, not its uuid, so its summary cannot be read by key in a BatchGetItem)
        and no HealthOmics call. Only when GetBatch's failed-run count (exact at PROCESSED; `batch` when
        the caller already has it, else one GetBatch) says failed runs are unaccounted for,
        ListRuns(batchId, status=FAILED) names them (100 a page) and each gets one GetRun.
        """
        # Members name runs by id alone, and ids of deleted runs are reused: of the runs recorded under a member's
        # id, the one GetRun placed in this batch (`_member_summary`); anything less proves nothing and the
        # member is looked for among the batch's failed runs below.
        summaries = {r: _member_summary(self.repository.run_summaries(r), batch_id) for r in dict.fromkeys(run_ids)}
        failed: dict[str, RunDetails] = {}
        unknown: list[str] = []
        for run_id, summary in summaries.items():
            outcome = summary.get("outcome")
            if outcome == "FAILED":
                if (details := self._member_run(run_id, batch_id, summary)) is not None:
                    failed[run_id] = details
            elif outcome not in ("COMPLETED", "CANCELLED"):
                unknown.append(run_id)
        if unknown:
            got = batch if batch is not None else self.aws.get_batch(batch_id)
            # Exact at PROCESSED only (guide, "Batch runs"): a count missing, or not yet (or no longer) exact,
            # proves nothing, and every unrecorded member is looked for among the batch's failed runs.
            exact = got.get("status") == "PROCESSED"
            expected = _count(got.get("runSummary") or {}, "failedRunCount") if exact else None
            if expected is None or len(failed) < expected:
                waiting = set(unknown)
                for run_id in self.aws.failed_run_ids(batch_id):
                    if run_id in waiting and (details := self._get_run(run_id, batch_id)) is not None:
                        failed[run_id] = details
        return {r: failed[r] for r in run_ids if r in failed}, summaries

    def _member_run(self, run_id: str, batch_id: str, summary: dict[str, Any]) -> RunDetails | None:
        """A failed member's facts: its recorded GetRun answer, else GetRun (checked against the batch)."""
        if summary.get("outcome") == "FAILED" and is_enriched(summary):
            return RunDetails.model_validate(summary)
        return self._get_run(run_id, batch_id)

    def _get_run(self, run_id: str, batch_id: str) -> RunDetails | None:
        """GetRun of one failed member; a member whose metadata is gone (deleted, or aged out under REMOVE
        retention, or its id now another run's) is left out and logged, so it cannot cancel the follow-up of
        every other member. GetRun lagging behind the FAILED status fails the whole work, to come back."""
        try:
            details = run_details(self.aws.get_run(run_id))
        except NotFound as gone:
            log_error("warning", "failed batch member is gone: not re-run", gone, {"run_id": run_id})
            return None
        if details.batch_id != batch_id:  # GetRun takes the id alone: another run holds it now
            logger.warning("failed batch member is gone: its run id is another run's now; not re-run",
                           extra={"run_id": run_id, "batch_id": batch_id})
            return None
        if details.status != RunStatus.FAILED:
            raise_if_lagging(details)
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
        # The decisions too, before the claim's completion, for the same reason: each member's STARTED
        # decision naming the follow-up is what proves its runs are our re-runs (shared/supersede.py). The
        # recorder may have recorded some of them first (a retry after a stop here): they wait in the batch.
        for member in live:
            self._decide_member(outcome, member, {**context, "new_batch_id": new_batch_id}, Decided.STARTED)
            self._prove_resubmitted(outcome, member, originals[member.run_setting_id], batch_id, new_batch_id,
                                    context)
        settle_waiting_batch(self.repository, new_batch_id)
        self._decide(
            outcome,
            pk,
            sk,
            {**record, "new_batch_id": new_batch_id, "request_id": request["requestId"]},
            Decided.STARTED,
            count=False,
        )
        self.repository.complete_claim(pk, sk + "#CLAIM", {"new_batch_id": new_batch_id})
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
            own_behavior = default.get("cacheBehavior") if default.get("cacheId") else None  # with its own cache
            default["cacheBehavior"] = rerun_cache_behavior(own_behavior)
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
            entry["runTags"] = with_lineage(
                dict(entry.get("runTags") or {}), self._member_tags(member, root_batch_id, attempt, started_here)
            )
            entries.append(entry)
        request: dict[str, Any] = {
            "requestId": batch_request_id(batch_id, attempt, group),
            "batchName": follow_up_batch_name(batch_id, attempt, group),
            "defaultRunSetting": default,
            "tags": {TAG_ROOT_BATCH: root_batch_id, TAG_PARENT_BATCH: batch_id, TAG_ATTEMPT: str(attempt),
                     **self._stack_tags(started_here)},
        }
        inline = {**request, "batchRunSettings": {"inlineSettings": entries}}
        # Inline only when the whole request fits its record (start_batch's one measure), or it would be refused.
        if len(entries) <= limits.inline_max and recorded_request_bytes(inline) <= MAX_RECORDED_REQUEST_BYTES:
            request = inline
        else:
            if not self.config.settings_bucket:
                raise PermanentError(f"a follow-up batch of more than {limits.inline_max} runs, or too large to "
                                     "record inline, needs RERUN_SETTINGS_BUCKET")
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

    def _prove_resubmitted(self, outcome: Outcome, member: _Member, original: dict[str, Any], batch_id: str,
                           new_batch_id: str, context: dict[str, Any]) -> None:
        """A failed submission that was itself our re-run of a failed run P (a follow-up's entry, tagged with its
        parent) is P's next attempt: its run keeps P as its parent, so the proof the recorder reads for it is P's
        re-run decision at that attempt (shared/supersede.py). Written on P, naming the new follow-up, only when
        P's own records prove the failed batch held P's re-run (its tags are this stack's, not a claim)."""
        tags = original.get("runTags") or {}
        parent_id, parent_uuid = tags.get(TAG_PARENT_RUN), tags.get(TAG_PARENT_RUN_UUID)
        if member.run is not None or not parent_id or not parent_uuid:
            return
        entry = ClaimedRerun(run_id="", run_uuid="", parent_run_id=parent_id, parent_run_uuid=parent_uuid,
                             attempt=tagged_attempt(tags, 1), batch_id=batch_id)
        if not proven(self.repository, entry):
            return
        d = member.decision
        record = {
            "entity": "RERUN_DECISION",
            "run_id": parent_id,
            "run_uuid": parent_uuid,
            "run_setting_id": member.run_setting_id,
            "attempt": d.attempt,
            "failure_reason": d.reason,
            "remediation": d.remediation,
            "decided_at": iso_time(self.now()),
            "why": f"its attempt {entry.attempt} could not be submitted in batch {batch_id}: {d.why}",
            "submission_failed": True,
            "new_batch_id": new_batch_id,
            **context,
        }
        self._decide(outcome, keys.run_pk(parent_id), keys.run_sk(parent_uuid, decision_sk(d.attempt)), record,
                     Decided.STARTED, count=False)

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


def _batch_or_none(records: _BatchRecords) -> dict[str, Any] | None:
    """The batch as GetBatch answers (`records.batch`, fetched at most once); None when HealthOmics no longer
    knows it or the call failed: the caller then reads the members as it always did."""
    try:
        return records.batch
    except (RetryableError, PermanentError) as error:
        log_error("warning", "GetBatch failed: the batch's members are read instead", error,
                  {"batch_id": records.batch_id})
        return None


# Counts that must all be present and 0 for GetBatch's counts to account for every member (botocore's GetBatch
# model: runSummary, submissionSummary). deletedRunCount too: a failed member deleted since is no longer
# counted as failed, but its recorded failure is still followed up from its members.
_ZERO_RUN_COUNTS = ("deletedRunCount", "pendingRunCount", "startingRunCount", "runningRunCount", "stoppingRunCount")
_ZERO_SUBMISSION_COUNTS = ("pendingStartSubmissionCount",)


def exact_failures(batch: dict[str, Any] | None) -> tuple[int, int] | None:
    """(failed runs, failed submissions) as GetBatch counts them, when its counts account for every member
    (guide, "Batch runs": PROCESSED means every run is terminal; runSummary is eventually consistent but exact
    at PROCESSED; submissionSummary counts the failed StartSubmissions): status PROCESSED, no deleted or
    unfinished run, no pending submission, and every submitted run COMPLETED, CANCELLED or FAILED. None on
    any doubt."""
    if not batch or batch.get("status") != "PROCESSED":
        return None
    runs, submissions = batch.get("runSummary") or {}, batch.get("submissionSummary") or {}
    if any(_count(runs, name) != 0 for name in _ZERO_RUN_COUNTS) or any(
            _count(submissions, name) != 0 for name in _ZERO_SUBMISSION_COUNTS):
        return None
    failed, completed, cancelled = (_count(runs, f"{s}RunCount") for s in ("failed", "completed", "cancelled"))
    failed_submissions = _count(submissions, "failedStartSubmissionCount")
    submitted = _count(submissions, "successfulStartSubmissionCount")
    if failed is None or completed is None or cancelled is None or failed_submissions is None or submitted is None:
        return None
    return (failed, failed_submissions) if failed + completed + cancelled == submitted else None


def nothing_failed(batch: dict[str, Any] | None) -> bool:
    """Whether GetBatch's own counts prove a batch has no failed member (`exact_failures`). False on any doubt."""
    return exact_failures(batch) == (0, 0)


def _member_summary(recorded: list[dict[str, Any]], batch_id: str) -> dict[str, Any]:
    """A batch member's run among the runs recorded under its id (oldest first): the one whose recorded GetRun
    answer (`api_status`) names this batch, whenever it ran (a later run may have taken the id since); else the
    latest, when it is a failure no GetRun was recorded for yet (GetRun, checked against this batch, tells);
    else nothing (a run of another batch or of none, a run recorded as gone, a status from events alone)."""
    placed = [s for s in recorded if s.get("api_status") and s.get("batch_id") == batch_id]
    if placed:
        return placed[-1]
    latest = recorded[-1] if recorded else {}
    if latest.get("outcome") == "FAILED" and "details_recorded_at" not in latest and not latest.get("batch_id"):
        return latest
    return {}


def _count(summary: dict[str, Any], name: str) -> int | None:
    """A count as GetBatch answers it (an integer), None when missing or anything else."""
    value = summary.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def follow_up_batch_name(batch_id: str, attempt: int, group: str) -> str:
    """batchName within StartRunBatch's bounds (botocore's model); a cut name keeps a hash of the whole."""
    # Imported here: only a follow-up batch needs the service model's bounds (cold start, issue 13).
    from shared.api_limits import api_limits

    name, longest = f"rerun-{batch_id}-a{attempt}-{group}", api_limits().batch_name.max_length
    if len(name) <= longest:
        return name
    return name[: longest - 13] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
