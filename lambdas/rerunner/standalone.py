"""Standalone re-runs: a failed run that is no batch member becomes at most one next attempt (StartRun)."""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

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
from rerunner.dal import NotFound, StartRejected
from rerunner.policy import Decision, Storage, decide
from rerunner.work import Work
from shared.errors import PermanentError
from shared.lineage import TAG_CHAIN, TAG_PREFIX, TAG_ROOT_BATCH, TAG_SAMPLE, TAG_SUBMISSION, lineage_tags
from shared.omics_model import input_max
from shared.provenance import keys
from shared.provenance.from_omics import run_details
from shared.provenance.items import RunDetails
from shared.status import iso_time


def run_request_id(run_id: str, run_uuid: str, attempt: int) -> str:
    """Derived from the failed run's identity (id, uuid: HealthOmics reuses the ids of deleted runs)."""
    request_id = f"autopilot-rerun-{run_id}-{run_uuid}-{attempt}"
    if len(request_id) > input_max("StartRun", "requestId"):  # a uuid is usually 36 characters
        request_id = f"autopilot-rerun-{run_id}-{hashlib.sha256(run_uuid.encode()).hexdigest()[:32]}-{attempt}"
    return request_id


class Gone(NamedTuple):
    """A failed run StartRun(runId) can no longer copy: why, and the run (uuid) its id names now, if any."""

    why: str
    id_taken_by: str | None = None


def _kept_tags(tags: dict[str, str]) -> dict[str, str]:
    """A failed run's tags the next attempt keeps: the owner's own, and sample/submission/root batch/chain."""
    kept = {k: v for k, v in tags.items() if not k.startswith(TAG_PREFIX)}
    kept.update({k: tags[k] for k in (TAG_SAMPLE, TAG_SUBMISSION, TAG_ROOT_BATCH, TAG_CHAIN) if tags.get(k)})
    return kept


class StandaloneRuns(Brake):
    """A failed run outside any batch: decided, delayed, braked or re-run on its own."""

    def handle_run(self, work: Work) -> Outcome:
        outcome = Outcome(work)
        try:
            failed, answered_now = self._failed_run(work.id, work.uuid)
        except NotFound:
            outcome.skipped = "run no longer exists"
            return outcome
        if failed.status != "FAILED":
            raise_if_lagging(failed)
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

        # StartRun copies whatever run the id names when it is called: a failure that waited (a delay, the
        # brake) may have been deleted and its id given to another run since it was recorded.
        gone = None if answered_now else self._gone(failed)
        # A claimed attempt (an earlier try stopped, perhaps after StartRun) is not given up because its failed
        # run was deleted: the same requestId returns the re-run already started, or is refused when none was.
        # An id now naming another run still stops it: were ours never started, StartRun would copy that run.
        if gone and (claim is None or gone.id_taken_by):
            self._decide(outcome, pk, sk, {**record, "why": gone.why}, Decided.GONE)
            return outcome
        request = self._run_request(failed, decision)
        self._claim(pk, sk, request)
        # Won, or lost to an attempt that recorded no result (crash, timeout, concurrent call): either way
        # the derived requestId makes this call return the run the first one created, never a second run.
        try:
            new_run_id, new_run_uuid = self.aws.start_run(request)
        except StartRejected as rejected:
            if gone:  # the claimed try had started nothing, and there is no run left to copy
                self._decide(outcome, pk, sk, {**record, "why": f"{gone.why} ({rejected})"}, Decided.GONE)
            else:
                self._decide(outcome, pk, sk, {**record, "why": str(rejected)}, Decided.REJECTED)
            return outcome
        # The re-run is a copy of the failed run (StartRun runId): GetRun.runId names it, which is what lets the
        # recorder supersede the failure whichever of the two is written first (shared/supersede.py).
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

    def _failed_run(self, run_id: str, run_uuid: str | None) -> tuple[RunDetails, bool]:
        """The failed run's facts: the recorder's GetRun details when already recorded, else one GetRun;
        and whether GetRun answered them now (which proves the id still names the run).
        A run is (id, uuid): GetRun answering with another uuid means the id was reused, this run is gone."""
        found = self.repository.run_summary(run_id, run_uuid) if run_uuid else None
        summary = found if found is not None else (self.repository.live_run_summaries([run_id]).get(run_id) or {})
        if is_enriched(summary) and (run_uuid is None or summary.get("uuid") == run_uuid):
            return RunDetails.model_validate(summary), False
        details = run_details(self.aws.get_run(run_id))
        if run_uuid is not None and details.uuid != run_uuid:
            raise NotFound(f"run {run_id} ({run_uuid}) was deleted; its id now names run {details.uuid}")
        return details, True

    def _gone(self, failed: RunDetails) -> Gone | None:
        """Why StartRun(runId) can no longer copy the failed run (one GetRun), or None when its id still
        names it. HealthOmics reuses the ids of deleted runs and their DELETED events can be lost."""
        try:
            named = run_details(self.aws.get_run(failed.run_id)).uuid
        except NotFound:
            return Gone(f"run {failed.run_id} ({failed.uuid}) was deleted before its re-run could start")
        if failed.uuid and named != failed.uuid:
            return Gone(f"run {failed.run_id} ({failed.uuid}) was deleted before its re-run could start; "
                        f"its id now names run {named}, which StartRun would have copied", id_taken_by=named)
        return None

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
            "tags": with_lineage(_kept_tags(failed.tags), {**lineage_tags(lineage), **self._stack_tags(ours)}),
        }
        # The stack's cache goes only to runs the stack started: a foreign run keeps its own (or none).
        cache_id = failed.cache_id or (self.config.run_cache_id if ours else None)
        if cache_id:
            request["cacheId"] = cache_id
            request["cacheBehavior"] = rerun_cache_behavior(failed.cache_behavior if failed.cache_id else None)
        if decision.storage is not None:
            request.update(decision.storage.request_fields())
        return request

    def _run_started_here(self, failed: RunDetails) -> bool:
        """A standalone run this stack started: first its provenance (the re-runner's claim on the parent
        run, in this stack's own table, names it), then its tags (autopilot:stack = this stack)."""
        parent, parent_uuid = failed.parent_run_id, failed.parent_run_uuid
        if parent and parent_uuid and failed.attempt > 0:
            claim = self.repository.get_item(
                keys.run_pk(parent), keys.run_sk(parent_uuid, decision_sk(failed.attempt)) + "#CLAIM") or {}
            if claim.get("new_run_id") == failed.run_id and claim.get("new_run_uuid") in (None, failed.uuid):
                return True
        return tagged_by_stack(failed.tags, self.config.stack_id)

    def _later_success(self, failed: RunDetails) -> int | None:
        chain = self.repository.attempt_chain(failed.root_run_id, failed.root_run_uuid)
        # Any run can tag itself into a chain: a later attempt counts only once the recorder proved it ours
        # (its parent is superseded by it: shared/supersede.py), or a forged success would stop our re-run.
        ours = {str(item["superseded_by"]) for item in chain if item.get("superseded_by")}
        for item in chain:
            if (
                int(item.get("attempt", 0)) > failed.attempt
                and (item.get("outcome") or item.get("status")) == "COMPLETED"
                and item.get("run_id") in ours
            ):
                return int(item["attempt"])
        return None

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
