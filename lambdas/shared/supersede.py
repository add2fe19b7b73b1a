"""A re-run settles its parent's failure only when this stack proves it started that re-run.

Whoever starts a run sets its tags, so a run started outside the stack can carry lineage tags naming one of
our failed runs. The proof is what whoever starts a run cannot set:
- a standalone re-run is a copy of the failed run (StartRun with its runId), and GetRun.runId, set by the
  service, names the run it copied; a person's re-run of a failure by hand settles it the same way;
- a batch member: the re-runner's STARTED decision on the parent naming the follow-up batch the run is in
  (GetRun.batchId, set by the service), or a batch a resubmission LINK carries that follow-up over to.
Order-independent: the recorder writes the child's details, then reads the proof, and when it finds none leaves
the child waiting (a marker) and reads the proof again; whoever writes a batch proof afterwards (the re-runner's
decisions, a resubmission's LINK) reads the waiting children after it. Every read is strongly consistent, so one
of the two sides sees the other. A standalone child left waiting (tags alone) stays so: nothing proves it later,
and the marker is the evidence. Supersede writes are idempotent."""

from __future__ import annotations

from shared.lineage import ClaimedRerun, copies_parent, names_batch, names_run, started_rerun
from shared.provenance.repository import ProvenanceRepository

# A follow-up batch that failed as a whole is resubmitted as a new batch at most this many times
# (launcher.logic.MAX_RESUBMISSIONS), each LINKed to the one before: the walk back is bounded by it.
MAX_RESUBMISSION_LINKS = 3


def settle(repository: ProvenanceRepository, child: ClaimedRerun) -> bool:
    """Called once the child's details are written: supersede its parent if proven, else leave it waiting.
    Returns whether the parent is superseded."""
    if _supersede_if_proven(repository, child):
        return True
    repository.put_waiting_rerun(child)
    # A proof written between our read and our marker did not see the marker: read it again.
    return _supersede_if_proven(repository, child)


def settle_waiting_batch(repository: ProvenanceRepository, batch_id: str) -> int:
    """After a record names a follow-up batch (the re-runner's decisions, a resubmission's LINK): settle its
    members that were recorded first. Returns how many parents were superseded."""
    return sum(_supersede_if_proven(repository, child) for child in repository.waiting_reruns_in_batch(batch_id))


def _supersede_if_proven(repository: ProvenanceRepository, child: ClaimedRerun) -> bool:
    if not proven(repository, child):
        return False
    repository.supersede(child.parent_run_id, child.parent_run_uuid, child.run_id)
    return True


def proven(repository: ProvenanceRepository, child: ClaimedRerun) -> bool:
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
