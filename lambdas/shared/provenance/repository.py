"""The provenance data-access layer: the only modules that talk to the provenance table.

`ProvenanceRepository` combines one mixin per aggregate over the one table design in keys.py:
base.py (the client, (de)serialization, retries, generic reads and writes, the `active` index), runs.py,
batches.py, caches_and_prunes.py, submissions.py and claims_and_leases.py. This module keeps the names
callers import from it.

Writes are idempotent and order-independent:
- history items are keyed by (rank, time, status), so a duplicate rewrites the same item, even when
  it arrives under another event id;
- summaries move forward only: a conditional update on `status_order` (rank, time, event id);
- details from HealthOmics are facts of the run, written unconditionally (same truth each time).
Queries answer DESIGN.md's questions with one DynamoDB Query each.
"""

from __future__ import annotations

from shared.provenance.base import (
    UNPROCESSED_RESERVE_SECONDS,
    ProvenanceError,
    _Update,
    deserialize,
    serialize,
)
from shared.provenance.batches import BatchesMixin
from shared.provenance.caches_and_prunes import CachesAndPrunesMixin
from shared.provenance.claims_and_leases import ClaimsAndLeasesMixin
from shared.provenance.runs import RunsMixin
from shared.provenance.submissions import SubmissionsMixin

# what callers take from here (the capabilities, the sandbox, tests)
__all__ = ["UNPROCESSED_RESERVE_SECONDS", "ProvenanceError", "ProvenanceRepository", "_Update",
           "deserialize", "serialize"]


class ProvenanceRepository(RunsMixin, BatchesMixin, CachesAndPrunesMixin, SubmissionsMixin, ClaimsAndLeasesMixin):
    """Every aggregate's reads and writes over one table (constructor: RepositoryBase)."""
