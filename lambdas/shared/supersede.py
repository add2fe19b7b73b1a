"""A run's tags prove nothing: a re-run settles its parent's failure, and a run takes the place its tags claim (an
attempt chain, a root batch, a sample: the indexes the views read), only when this stack proves them.

Whoever starts a run sets its tags, so a run started outside the stack can carry lineage tags naming one of our
failed runs, root batches or samples. The proof is what whoever starts a run cannot set:
- a standalone re-run is a copy of the failed run (StartRun with its runId), and GetRun.runId, set by the
  service, names the run it copied; a person's re-run of a failure by hand settles it the same way;
- a batch member: the re-runner's STARTED decision on the parent naming the follow-up batch the run is in
  (GetRun.batchId, set by the service), or a batch a resubmission LINK carries that follow-up over to;
- a root batch: the LINK of the run's own batch naming it (written by this stack for the follow-ups and
  resubmissions it starts).
Order-independent: the recorder reads the proofs, writes the run's details (placed where its tags say only if
proven), and when something is left unproven leaves the run waiting (a marker) and reads the proofs again; whoever
writes a batch proof afterwards (the re-runner's decisions, a resubmission's LINK) settles the waiting runs after
it. Every read is strongly consistent, so one of the two sides sees the other. A marker settled is deleted; one
that nothing proves (a claim made by tags alone) expires (WAITING_DAYS, the table's TTL), and the run's summary
keeps `unproven_claim` as the record of what it claimed. Every write here is idempotent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from shared.clock import utc_now
from shared.lineage import (
    ClaimedRerun,
    RunClaim,
    copies_parent,
    names_batch,
    names_run,
    placement_proven,
    started_rerun,
)
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository

# A follow-up batch that failed as a whole is resubmitted as a new batch at most this many times
# (launcher.logic.MAX_RESUBMISSIONS), each LINKed to the one before: the walk back is bounded by it.
MAX_RESUBMISSION_LINKS = 3
# How long a run waits for a proof. A proof is written within the invocation that started the follow-up or its
# retries, which SQS keeps at most 4 days in the queue and 14 in its dead-letter queue: past that, none will come.
WAITING_DAYS = 30


class Proof(NamedTuple):
    rerun: bool  # it re-ran the parent it names: the parent's failure is settled by it (if it completed or failed)
    placed: bool  # every place its tags claim is proven: it is indexed there


def waiting_expiry(now: datetime) -> int:
    """The TTL (epoch seconds) of a marker written at `now`."""
    return int((now + timedelta(days=WAITING_DAYS)).timestamp())


class ProofSource(Protocol):
    """Where a proof reads its records: the table (ProvenanceRepository), or `_ProofReads` over it."""

    def rerun_records(self, run_id: str, run_uuid: str,
                      attempt: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]: ...

    def get_batch_link(self, batch_id: str) -> dict[str, Any] | None: ...

    def run_summary(self, run_id: str, run_uuid: str) -> dict[str, Any] | None: ...


class _ProofReads:
    """The items one proof of a claim reads, fetched together: the parent's re-run records (unless the run is a
    copy of it), the LINK of the run's batch (when it claims another root batch) and, when it claims a place in
    the parent's chain, the parent's summary (read once the re-run is proven: nearly always, a forged claim
    aside). One strongly consistent BatchGetItem instead of a request each; a single item, or anything further
    (a LINK a step back), is read from the table as it is asked for."""

    def __init__(self, repository: ProvenanceRepository, claim: RunClaim, child: ClaimedRerun | None) -> None:
        self.repository = repository
        wanted: list[tuple[str, str]] = []
        if child is not None and not claim.copies_parent:
            wanted += repository.rerun_record_keys(child.parent_run_id, child.parent_run_uuid, child.attempt)
        if claim.under_batch and claim.batch_id:
            wanted.append(repository.batch_link_key(claim.batch_id))
        if child is not None and claim.in_chain:
            wanted.append(self._summary_key(child.parent_run_id, child.parent_run_uuid))
        self.prefetched = set(wanted) if len(wanted) > 1 else set()
        self.found = repository.get_items(wanted) if self.prefetched else {}

    @staticmethod
    def _summary_key(run_id: str, run_uuid: str) -> tuple[str, str]:
        key = ProvenanceRepository.run_summary_key(run_id, run_uuid)
        return key[keys.PK], key[keys.SK]

    def rerun_records(self, run_id: str, run_uuid: str,
                      attempt: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        decision, claim = self.repository.rerun_record_keys(run_id, run_uuid, attempt)
        if decision in self.prefetched:
            return self.found.get(decision), self.found.get(claim)
        return self.repository.rerun_records(run_id, run_uuid, attempt)

    def get_batch_link(self, batch_id: str) -> dict[str, Any] | None:
        key = self.repository.batch_link_key(batch_id)
        return self.found.get(key) if key in self.prefetched else self.repository.get_batch_link(batch_id)

    def run_summary(self, run_id: str, run_uuid: str) -> dict[str, Any] | None:
        key = self._summary_key(run_id, run_uuid)
        return self.found.get(key) if key in self.prefetched else self.repository.run_summary(run_id, run_uuid)


def prove(repository: ProvenanceRepository, claim: RunClaim) -> Proof:
    """What the table proves of `claim`: the parent's re-run records (none for a copy), the LINK of its batch when
    it claims another root batch, and the parent's summary for a place in its chain (`_ProofReads`: one
    BatchGetItem for all three)."""
    child = claim.rerun()
    reads = _ProofReads(repository, claim, child)
    recorded: list[bool] = []  # the re-runner's own records prove it (read once, only when needed)

    def by_records() -> bool:
        if not recorded:
            recorded.append(child is not None and proven(reads, child))
        return recorded[0]

    rerun = claim.copies_parent or by_records()
    link = reads.get_batch_link(claim.batch_id) if claim.under_batch and claim.batch_id else None
    link_root = str((link or {}).get("root_batch_id") or "") or None
    parent_root, continues = None, True
    needs_parent = claim.in_chain or (claim.under_batch and link_root != claim.root_batch_id)
    if rerun and child is not None and needs_parent:
        parent = reads.run_summary(child.parent_run_id, child.parent_run_uuid)
        parent_root = _placed_root_batch(parent)
        continues = not claim.in_chain or _continues_chain(claim, parent, by_records)
    return Proof(rerun, continues and placement_proven(claim, rerun, link_root, parent_root))


def _continues_chain(claim: RunClaim, parent: Mapping[str, Any] | None, by_records: Callable[[], bool]) -> bool:
    """The proof names the parent, not the chain: the run's root and attempt must be its parent's root (or the
    parent itself) and an attempt after the parent's, as the parent is recorded. A parent not recorded yet (events out
    of order) leaves the re-run proof alone to place it, as before."""
    if not parent:
        return True
    root = str(parent.get("root_run_id") or claim.parent_run_id)
    root_uuid = str(parent.get("root_run_uuid") or parent.get("run_uuid") or "")
    claimed_uuid = claim.root_run_uuid
    after = int(parent.get("attempt") or 0)
    # A copy made by hand is the parent's next attempt; the re-runner's own records name the attempt it started,
    # which may skip one (a failed submission's re-run skips the attempt that never ran), copy or not.
    attempt = claim.attempt == after + 1 or (claim.attempt > after and by_records())
    same_root = claim.root_run_id == root and (claimed_uuid is None or not root_uuid or claimed_uuid == root_uuid)
    return same_root and attempt


def _placed_root_batch(summary: Mapping[str, Any] | None) -> str | None:
    """The root batch a recorded run is placed under (its batch index; none while it is an unproven claim)."""
    if not summary or summary.get("unproven_claim"):
        return None
    batch_pk, prefix = str(summary.get("batch_pk") or ""), keys.batch_pk("")
    return batch_pk[len(prefix):] or None if batch_pk.startswith(prefix) else None


def settle(repository: ProvenanceRepository, claim: RunClaim | ClaimedRerun, proof: Proof | None = None, *,
           index_keys: Mapping[str, Any] | None = None, supersedes: bool = True,
           expires_at: int | None = None) -> bool:
    """Called once the run's details are written, placed by `index_keys` if `proof.placed` (read before them):
    supersede its parent if proven and the run `supersedes` (it completed, or failed itself), place it once proven,
    and leave it waiting for what is not. Returns whether the parent is superseded."""
    claim = claim if isinstance(claim, RunClaim) else RunClaim.of_rerun(claim)
    proof = proof or prove(repository, claim)
    supersedes = _may_supersede(claim, supersedes)
    if not _settled(proof, supersedes):
        waiting = repository.put_waiting_claim(claim, index_keys or {}, supersedes,
                                               expires_at or waiting_expiry(utc_now()))
        if waiting:
            # A proof written between our read and our marker did not see the marker: read it again.
            placed_before, proof = proof.placed, prove(repository, claim)
            if proof.placed and not placed_before and index_keys:
                repository.admit_run(claim.run_id, claim.run_uuid, index_keys)
            if _settled(proof, supersedes):
                repository.delete_waiting_claim(claim)
    return _supersede(repository, claim, proof, supersedes)


def settle_waiting_batch(repository: ProvenanceRepository, batch_id: str) -> int:
    """After a record names a follow-up batch (the re-runner's decisions, a resubmission's LINK): settle its
    members that were recorded first. Returns how many parents were superseded."""
    superseded = 0
    for waiting in repository.waiting_claims_in_batch(batch_id):
        proof = prove(repository, waiting.claim)
        supersedes = _may_supersede(waiting.claim, waiting.supersedes)
        if proof.placed and waiting.index_keys:
            repository.admit_run(waiting.claim.run_id, waiting.claim.run_uuid, waiting.index_keys)
        superseded += _supersede(repository, waiting.claim, proof, supersedes)
        if _settled(proof, supersedes):
            repository.delete_waiting_claim(waiting.claim)
    return superseded


def _may_supersede(claim: RunClaim, supersedes: bool) -> bool:
    """Whether the run may supersede anything: it completed or failed itself, and names a parent by (id, uuid).
    A run with no such parent (a follow-up's run of a failed submission: its first run) has nothing to settle, and
    once placed nothing is left for a later record to prove."""
    return supersedes and claim.rerun() is not None


def _settled(proof: Proof, supersedes: bool) -> bool:
    """Nothing left for a later record to prove."""
    return proof.placed and (proof.rerun or not supersedes)


def _supersede(repository: ProvenanceRepository, claim: RunClaim, proof: Proof, supersedes: bool) -> bool:
    # Only a placed run supersedes: a failure is never settled by a run that no view (chain, batch, sample) shows.
    if not (supersedes and proof.rerun and proof.placed and claim.parent_run_id and claim.parent_run_uuid):
        return False
    repository.supersede(claim.parent_run_id, claim.parent_run_uuid, claim.run_id)
    return True


def proven(repository: ProofSource, child: ClaimedRerun) -> bool:
    """Whether `child` is proven its parent's re-run: at once when the service says it copied the parent; else
    the parent's re-run records (one BatchGetItem), plus a LINK read a step back only for a batch member those
    records do not name directly."""
    if copies_parent(child):
        return True
    started = started_rerun(*repository.rerun_records(child.parent_run_id, child.parent_run_uuid, child.attempt))
    if names_run(started, child):
        return True
    if started.batch_id is None or child.batch_id is None:
        return False
    batches = [child.batch_id]
    while not names_batch(started, batches) and len(batches) <= MAX_RESUBMISSION_LINKS:
        link = repository.get_batch_link(batches[-1]) or {}
        if link.get("origin") != "resubmission" or not link.get("parent_batch_id"):
            return False
        batches.append(str(link["parent_batch_id"]))
    return names_batch(started, batches)
