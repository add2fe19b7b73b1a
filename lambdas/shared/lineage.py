"""Run tags that carry lineage from whoever starts a run (launcher, re-runner) to the recorder.

GetRun returns a run's tags, and batch per-run `runTags` become run tags, so a run's place in its
lineage travels with the run itself: the recorder needs no extra lookup to know it.

A run is (run id, run uuid): HealthOmics reuses the ids of deleted runs, so the root and parent are
tagged with their uuids too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from operator import itemgetter, methodcaller

from pydantic import BaseModel, ConfigDict

TAG_PREFIX = "autopilot:"
TAG_SUBMISSION = "autopilot:submission"
TAG_SAMPLE = "autopilot:sample"
TAG_ROOT_RUN = "autopilot:root-run"
TAG_PARENT_RUN = "autopilot:parent-run"
TAG_ROOT_RUN_UUID = "autopilot:root-run-uuid"
TAG_PARENT_RUN_UUID = "autopilot:parent-run-uuid"
TAG_ATTEMPT = "autopilot:attempt"
TAG_ROOT_BATCH = "autopilot:root-batch"
TAG_RERUN_REASON = "autopilot:rerun-reason"
TAG_REMEDIATION = "autopilot:remediation"
# Which stack started the run or batch: every autopilot:* tag above is shared by every deployment in an
# account (dev beside prod); this one tells them apart. Its value is the stack's name (stable, unique per
# account and region), which the stack hands every function as AUTOPILOT_STACK_ID.
TAG_STACK = "autopilot:stack"
ENV_STACK_ID = "AUTOPILOT_STACK_ID"
# The attempt chain a launched sample's runs belong to, known before any run exists (the root run's id is
# not): an opaque digest of (submission, sample), set by the launcher and kept by every re-run, so billing
# data (cost-allocation tags) can group a chain's attempts even when the sample tag is left out.
TAG_CHAIN = "autopilot:chain"
CHAIN_ID_CHARS = 16
# Every autopilot:* tag a run of this product may carry at some attempt (the launcher reserves room for all).
ALL_TAGS = (TAG_SUBMISSION, TAG_SAMPLE, TAG_CHAIN, TAG_ROOT_RUN, TAG_ROOT_RUN_UUID, TAG_PARENT_RUN,
            TAG_PARENT_RUN_UUID, TAG_ATTEMPT, TAG_ROOT_BATCH, TAG_RERUN_REASON, TAG_REMEDIATION, TAG_STACK)
# Config costTagSample=false: runs are not tagged with their sample id (kept out of tags and billing data).
ENV_TAG_SAMPLE = "AUTOPILOT_TAG_SAMPLE"


def stack_id_from_env() -> str | None:
    """This function's stack (ENV_STACK_ID); None outside a stack (scripts, older deployments)."""
    return os.environ.get(ENV_STACK_ID) or None


def sample_tag_enabled() -> bool:
    """Whether runs carry autopilot:sample (ENV_TAG_SAMPLE; on unless the deployment says "false")."""
    return os.environ.get(ENV_TAG_SAMPLE, "true").strip().lower() != "false"


def chain_id(submission_id: str, sample: str) -> str:
    """The attempt chain of `sample` in a submission: stable, opaque (no sample id in it)."""
    return hashlib.sha256(f"{submission_id}\0{sample}".encode()).hexdigest()[:CHAIN_ID_CHARS]


def sample_tags(sample: str | None) -> dict[str, str]:
    """autopilot:sample, unless the deployment leaves sample ids out of tags."""
    return {TAG_SAMPLE: sample} if sample and sample_tag_enabled() else {}


def launch_tags(submission_id: str, sample: str | None, stack_id: str | None) -> dict[str, str]:
    """The tags the launcher puts on every run of a submission: submission, sample (unless left out), the
    attempt chain, and the stack."""
    return launch_tagger(submission_id, stack_id)(sample)


def launch_tagger(submission_id: str, stack_id: str | None) -> LaunchTagger:
    """launch_tags for one submission, with what every run shares worked out once (a sheet has up to
    100,000 runs: no environment read and no re-hash of the submission id per run)."""
    return LaunchTagger(submission_id, stack_id)


class LaunchTagger:
    """launch_tags(submission_id, sample, stack_id) for the samples of one submission."""

    def __init__(self, submission_id: str, stack_id: str | None) -> None:
        self.submission_id = submission_id
        self.with_sample, self.stack = sample_tag_enabled(), stack_tags(stack_id)
        self.prefix = f"{submission_id}\0".encode()  # chain_id's hashed text, up to the sample
        self.submission_hash = hashlib.sha256(self.prefix)

    def __call__(self, sample: str | None) -> dict[str, str]:
        if not sample:
            return {TAG_SUBMISSION: self.submission_id, **self.stack}
        chain = self.submission_hash.copy()
        chain.update(sample.encode())
        return {TAG_SUBMISSION: self.submission_id, **({TAG_SAMPLE: sample} if self.with_sample else {}),
                TAG_CHAIN: chain.hexdigest()[:CHAIN_ID_CHARS], **self.stack}

    def columns(self, samples: list[str]) -> list[tuple[str, str | list[str]]]:
        """The tags of each of `samples` (none empty) column by column, in the order of their keys in
        self(sample): (key, each sample's value), or (key, the one value every sample shares). Made in
        passes at C speed (a sheet's 100,000 chain digests), not one call per sample."""
        digests = map(hashlib.sha256, map(self.prefix.__add__, map(str.encode, samples)))
        chains = list(map(_CHAIN_CHARS, map(_HEXDIGEST, digests)))
        return [(TAG_SUBMISSION, self.submission_id), *([(TAG_SAMPLE, samples)] if self.with_sample else []),
                (TAG_CHAIN, chains), *self.stack.items()]


_HEXDIGEST = methodcaller("hexdigest")
_CHAIN_CHARS = itemgetter(slice(None, CHAIN_ID_CHARS))


def stack_tags(stack_id: str | None) -> dict[str, str]:
    """The tag that says `stack_id` started a run or batch (none without a stack id)."""
    return {TAG_STACK: stack_id} if stack_id else {}


class Lineage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    root_run_id: str
    root_run_uuid: str | None = None
    parent_run_id: str | None = None
    parent_run_uuid: str | None = None
    attempt: int = 0
    sample: str | None = None
    root_batch_id: str | None = None
    submission_id: str | None = None
    rerun_reason: str | None = None
    remediation: str | None = None


def tagged_attempt(tags: Mapping[str, str], first: int) -> int:
    """The autopilot:attempt tag of a run or batch, never below `first` (the chain's first attempt it can be):
    whoever starts a run may set its tags, and an attempt below that (-20) would buy re-runs beyond the
    deployer's maxAttempts. A tag that is not a number counts as `first`."""
    try:
        return max(int(tags.get(TAG_ATTEMPT, first)), first)
    except ValueError:
        return first


def lineage_of(
    run_id: str, tags: Mapping[str, str], source_run_id: str | None, batch_id: str | None,
    run_uuid: str | None = None,
) -> Lineage:
    """Where a run stands in its attempt chain.

    Our tags win. Without them (a run started outside this product) a run that copied another
    (GetRun.runId) is taken as attempt 1 of that run's chain; anything else is its own root. GetRun.runId
    names the source by id only: its uuid is then unknown here (the recorder resolves it from the table).
    """
    parent = tags.get(TAG_PARENT_RUN) or source_run_id
    attempt = tagged_attempt(tags, 1 if parent else 0)
    root = tags.get(TAG_ROOT_RUN) or parent or run_id
    parent_uuid = tags.get(TAG_PARENT_RUN_UUID) if parent else None
    if tags.get(TAG_ROOT_RUN_UUID):
        root_uuid: str | None = tags[TAG_ROOT_RUN_UUID]
    elif not parent:
        root_uuid = run_uuid  # its own root
    else:
        root_uuid = parent_uuid if root == parent else None
    return Lineage(
        root_run_id=root,
        root_run_uuid=root_uuid,
        parent_run_id=parent,
        parent_run_uuid=parent_uuid,
        attempt=attempt,
        sample=tags.get(TAG_SAMPLE),
        root_batch_id=tags.get(TAG_ROOT_BATCH) or batch_id,
        submission_id=tags.get(TAG_SUBMISSION),
        rerun_reason=tags.get(TAG_RERUN_REASON),
        remediation=tags.get(TAG_REMEDIATION),
    )


def lineage_tags(lineage: Lineage) -> dict[str, str]:
    """The tags that make `lineage` recoverable from the run (inverse of lineage_of)."""
    values = {
        TAG_ROOT_RUN: lineage.root_run_id,
        TAG_ROOT_RUN_UUID: lineage.root_run_uuid,
        TAG_PARENT_RUN: lineage.parent_run_id,
        TAG_PARENT_RUN_UUID: lineage.parent_run_uuid,
        TAG_ATTEMPT: str(lineage.attempt),
        TAG_SAMPLE: lineage.sample if sample_tag_enabled() else None,
        TAG_ROOT_BATCH: lineage.root_batch_id,
        TAG_SUBMISSION: lineage.submission_id,
        TAG_RERUN_REASON: lineage.rerun_reason,
        TAG_REMEDIATION: lineage.remediation,
    }
    return {key: value for key, value in values.items() if value}


# ---------------------------------------------------------------------------------------------- re-run proof
# Whoever starts a run sets its tags: lineage tags say which run a run claims to re-run, never that this stack
# re-ran it. A re-run settles (supersedes) its parent's failure only when the re-runner's own records on the
# parent name it (shared/supersede.py does the reads and writes; these functions only decide).
RERUN_STARTED = "STARTED"  # rerunner.common.Decided.STARTED: the decision record of a started attempt


class ClaimedRerun(BaseModel):
    """A recorded run whose lineage names a parent: what it claims, to be proven or not."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    run_id: str
    run_uuid: str
    parent_run_id: str
    parent_run_uuid: str
    attempt: int
    batch_id: str | None = None  # GetRun.batchId: set by the service, not by whoever started the run
    source_run_id: str | None = None  # GetRun.runId: the run it copied (StartRun runId), set by the service


class RunClaim(BaseModel):
    """Where a recorded run's tags place it beyond what the service says about it: in an attempt chain other than
    its own (a root, a parent, an attempt number) or under a root batch that is not its own batch. Whoever starts a
    run sets its tags, so the claim places the run (the lineage, batch and sample indexes: the views, the cost
    roll-ups) only once proven (`placement_proven`); until then the run is recorded, with its tags, as an
    unproven claim."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    run_id: str
    run_uuid: str
    batch_id: str | None = None  # GetRun.batchId: set by the service
    source_run_id: str | None = None  # GetRun.runId: set by the service
    root_run_id: str
    root_run_uuid: str | None = None
    parent_run_id: str | None = None
    parent_run_uuid: str | None = None
    attempt: int = 0
    root_batch_id: str | None = None

    @classmethod
    def of(cls, run_id: str, run_uuid: str, lineage: Lineage, batch_id: str | None,
           source_run_id: str | None) -> RunClaim | None:
        """What a run's lineage claims; None when it places the run only where the service does (its own chain
        at attempt 0, its own batch or none)."""
        claim = cls(run_id=run_id, run_uuid=run_uuid, batch_id=batch_id, source_run_id=source_run_id,
                    root_run_id=lineage.root_run_id, root_run_uuid=lineage.root_run_uuid,
                    parent_run_id=lineage.parent_run_id,
                    parent_run_uuid=lineage.parent_run_uuid, attempt=lineage.attempt,
                    root_batch_id=lineage.root_batch_id)
        return claim if claim.in_chain or claim.under_batch or claim.attempt > 0 else None

    @classmethod
    def of_rerun(cls, child: ClaimedRerun) -> RunClaim:
        return cls(run_id=child.run_id, run_uuid=child.run_uuid, batch_id=child.batch_id,
                   source_run_id=child.source_run_id, root_run_id=child.parent_run_id,
                   parent_run_id=child.parent_run_id, parent_run_uuid=child.parent_run_uuid, attempt=child.attempt)

    @property
    def in_chain(self) -> bool:
        """It claims a place in another run's attempt chain."""
        return self.root_run_id != self.run_id

    @property
    def under_batch(self) -> bool:
        """It claims a root batch that is not the batch the service says it is in."""
        return self.root_batch_id is not None and self.root_batch_id != self.batch_id

    @property
    def copies_parent(self) -> bool:
        """The service says it copies the parent it names (see `copies_parent`), the parent's uuid known or not."""
        return self.source_run_id is not None and self.source_run_id == self.parent_run_id

    def rerun(self) -> ClaimedRerun | None:
        """The re-run of its parent it claims to be, when the parent is known by (id, uuid): a proof can settle it."""
        if not (self.parent_run_id and self.parent_run_uuid):
            return None
        return ClaimedRerun(run_id=self.run_id, run_uuid=self.run_uuid, parent_run_id=self.parent_run_id,
                            parent_run_uuid=self.parent_run_uuid, attempt=self.attempt, batch_id=self.batch_id,
                            source_run_id=self.source_run_id)


def placement_proven(claim: RunClaim, rerun_proven: bool, link_root_batch_id: str | None,
                     parent_root_batch_id: str | None = None) -> bool:
    """Whether every place `claim` gives its run is proven: a chain by the proof that it re-ran the parent it names
    (`rerun_proven`: the service's copy link or the re-runner's records); a root batch by the LINK of the batch the
    service says it is in (`link_root_batch_id`: written only by this stack, for the follow-ups and resubmissions it
    starts), or, for a proven re-run, by its parent's place (`parent_root_batch_id`: the root batch the parent is
    placed under: a person's copy of a failed batch member is in no batch, yet settles the member where it was); an
    attempt number by either (a follow-up member whose submission failed has no parent, only its LINK)."""
    chain = not claim.in_chain or (claim.parent_run_id is not None and rerun_proven)
    batch = not claim.under_batch or (claim.batch_id is not None and link_root_batch_id == claim.root_batch_id) or (
        rerun_proven and claim.parent_run_id is not None and parent_root_batch_id == claim.root_batch_id)
    attempt = claim.attempt == 0 or (claim.in_chain and chain) or (claim.under_batch and batch)
    return chain and batch and attempt


def copies_parent(child: ClaimedRerun) -> bool:
    """The service itself says the child re-ran its parent (StartRun with the parent's runId): a person who
    re-ran a failure by hand settles it, with a run recorded as started outside the autopilot. Tags alone never
    prove it; this link cannot be set by whoever starts the run."""
    return child.source_run_id is not None and child.source_run_id == child.parent_run_id


class StartedRerun(BaseModel):
    """What the re-runner recorded starting as a failed run's attempt: a run (standalone) or a follow-up batch."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    run_id: str | None = None
    run_uuid: str | None = None
    batch_id: str | None = None


def started_rerun(decision: Mapping[str, object] | None, claim: Mapping[str, object] | None) -> StartedRerun:
    """The parent's re-run decision (RERUN#<attempt>) and claim (…#CLAIM) as what they say was started. The
    claim names a standalone re-run as soon as StartRun returned; a batch member's decision names its follow-up
    batch once STARTED (no claim of its own: the batch's claim is on the batch)."""
    claim, decision = claim or {}, decision or {}
    run_id, run_uuid = claim.get("new_run_id"), claim.get("new_run_uuid")
    batch_id = None
    if decision.get("decision") == RERUN_STARTED:
        run_id, run_uuid = run_id or decision.get("new_run_id"), run_uuid or decision.get("new_run_uuid")
        batch_id = decision.get("new_batch_id")
    return StartedRerun(run_id=_text(run_id), run_uuid=_text(run_uuid), batch_id=_text(batch_id))


def _text(value: object) -> str | None:
    return str(value) if value else None


def names_run(started: StartedRerun, child: ClaimedRerun) -> bool:
    """The records name this very run (a uuid, when recorded, must match: run ids are reused)."""
    return started.run_id == child.run_id and started.run_uuid in (None, child.run_uuid)


def names_batch(started: StartedRerun, batches: list[str]) -> bool:
    """The records name the child's batch, or a batch that `batches` (the child's batch, then each batch it
    was a resubmission of) leads back to: a follow-up that failed as a whole and was resubmitted unchanged
    under a new id carries the same re-runs."""
    return started.batch_id is not None and started.batch_id in batches
