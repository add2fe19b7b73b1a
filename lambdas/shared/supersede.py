"""A re-run settles its parent's failure only when this stack proves it started that re-run.

Whoever starts a run sets its tags, so a run started outside the stack can carry lineage tags naming one of
our failed runs. The proof is the re-runner's own record on the parent (shared/lineage.started_rerun): its
claim naming the new run (standalone), its STARTED decision naming the follow-up batch (batch members; a run's
batch id comes from GetRun, set by the service). Order-independent: the recorder writes the child's details,
then reads the proof, and when it finds none leaves the child waiting (a marker) and reads the proof again;
whoever writes a proof afterwards (the re-runner, a batch resubmission) reads the waiting children after it.
Every read is strongly consistent, so one of the two sides sees the other. Supersede writes are idempotent.
"""

from __future__ import annotations

from shared.lineage import ClaimedRerun, names_batch, names_run, started_rerun
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


def settle_waiting_run(repository: ProvenanceRepository, parent_run_id: str, parent_run_uuid: str,
                       run_id: str, run_uuid: str) -> bool:
    """After the re-runner's claim names the run it started: settle it if it was recorded first."""
    child = repository.waiting_rerun(parent_run_id, parent_run_uuid, run_id, run_uuid)
    return child is not None and _supersede_if_proven(repository, child)


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
    """Whether this stack's records say it started `child` as its parent's attempt: one BatchGetItem, plus a
    LINK read a step back only for a batch member its parent's records do not name directly."""
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
