"""The provenance data-access layer: the only modules that talk to the provenance table.

`ProvenanceRepository` combines one mixin per aggregate over the one table design in keys.py:
base.py (the client, (de)serialization, retries, generic reads and writes, the `active` index), runs.py,
batches.py, caches_and_prunes.py, submissions.py and claims_and_leases.py. This module keeps every name
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
    _RETRYABLE_CODES,
    BATCH_GET_TRIES,
    BATCH_WRITE_LIMIT,
    BATCH_WRITE_TRIES,
    UNPROCESSED_BASE_PAUSE_SECONDS,
    UNPROCESSED_RESERVE_SECONDS,
    ProvenanceError,
    UpdateOutcome,
    _deserializer,
    _dynamodb_client,
    _from_ddb,
    _plain,
    _serializer,
    _Update,
    deserialize,
    serialize,
)
from shared.provenance.batches import REFILE_CHUNK, WORK_RESERVE_SECONDS, BatchesMixin
from shared.provenance.caches_and_prunes import CachesAndPrunesMixin
from shared.provenance.claims_and_leases import ClaimsAndLeasesMixin
from shared.provenance.runs import DIGEST_CHUNK_BYTES, INLINE_DIGESTS_BYTES, RunsMixin, _run_order, _size
from shared.provenance.submissions import SubmissionsMixin

__all__ = [
    "BATCH_GET_TRIES",
    "BATCH_WRITE_LIMIT",
    "BATCH_WRITE_TRIES",
    "DIGEST_CHUNK_BYTES",
    "INLINE_DIGESTS_BYTES",
    "REFILE_CHUNK",
    "UNPROCESSED_BASE_PAUSE_SECONDS",
    "UNPROCESSED_RESERVE_SECONDS",
    "WORK_RESERVE_SECONDS",
    "_RETRYABLE_CODES",
    "ProvenanceError",
    "ProvenanceRepository",
    "UpdateOutcome",
    "_Update",
    "_deserializer",
    "_dynamodb_client",
    "_from_ddb",
    "_plain",
    "_run_order",
    "_serializer",
    "_size",
    "deserialize",
    "serialize",
]


class ProvenanceRepository(RunsMixin, BatchesMixin, CachesAndPrunesMixin, SubmissionsMixin, ClaimsAndLeasesMixin):
    """Every aggregate's reads and writes over one table (constructor: RepositoryBase)."""

    def _refile_chunk(self) -> int:
        # This module's REFILE_CHUNK, read at each call: the name a caller sets to change the chunk (tests do).
        return REFILE_CHUNK
