"""The provenance table's key design: one place that names every key and index.

Single table, generic keys `pk`/`sk`, four sparse GSIs, TTL on `expires_at`.

A run is identified by (run id, run uuid): HealthOmics reuses the ids of deleted runs (guide, "Working
with HealthOmics runs": the run uuid tells two runs with the same id apart). Every run that ever carried
an id lives in that id's partition, each under its own uuid, so one Query answers "every run with this id".

Items (pk / sk):
  RUN#<runId>      / SUMMARY#<uuid>                      run: latest status (ordered), outcome, GetRun details
  RUN#<runId>      / UUID#<uuid>#STATUS#<rank:02>#<time>#<status>   run status history
  RUN#<runId>      / UUID#<uuid>#TASK#<taskId>#STATUS#<rank>#<time>#<status>   task status history
  RUN#<runId>      / UUID#<uuid>#TASK#<taskId>           task details from ListRunTasks (name, cacheHit, ...)
  RUN#<runId>      / UUID#<uuid>#DIGESTS#<chunk:04>      resourceDigests of a run with too many inputs to inline
  RUN#<runId>      / UUID#<uuid>#<capability record>     re-run decisions and claims, heals (RERUN#, HEALED#)
  RUN#<runId>      / UUID#<uuid>#REPRICE#<childId>#<childUuid>   a re-run priced before this run was recorded
  RUN#<runId>      / UUID#<uuid>#SAMPLE                  an untagged run's sample (ListRunsInBatch; costTagSample=false)
  RUN#<runId>      / UUID#<uuid>#WAITING_RERUN#<childId>#<childUuid>  a run whose tags call it this run's re-run,
                                                         not (yet) proven by the re-runner's claim (standalone; TTL)
  BATCH#<batchId>  / STATUS#<rank:02>#<time>#<status>    batch status history
  BATCH#<batchId>  / SUMMARY                             batch: latest status and counts
  BATCH#<batchId>  / MEMBER#<runSettingId>               ListRunsInBatch row (runId, submission status)
  BATCH#<batchId>  / LINK                                follow-up batch -> parent/root batch, attempt
  BATCH#<batchId>  / REQUEST                             the StartRunBatch request (for resubmission / re-runs)
  BATCH#<batchId>  / WAITING_RERUN#<childId>#<childUuid> a member whose tags claim a place (a re-run, a root batch)
                                                         not (yet) proven (TTL; deleted once proven)
  SUBMISSION#<id>  / SUMMARY                             a sample sheet submission and its current batch
  SUBMISSION#<id>  / ATTEMPT#<attempt:04>                one launch attempt of it, filed under that attempt's
                                                         batch (a relaunch leaves the failed batch its record)
  CACHE#<cacheId>  / PRUNE#<time>#<passId>               prune pass audit record
  LEASE#<name>     / LEASE                               transient leases / claims (TTL)
  COST#WORKFLOW#<workflowId> / DAY#<day>#RUN#<runId>#<uuid>   a run's cost line under its workflow and start day

Cost (issue 14): a run's cost totals are the `cost` map of its run summary, so the lineage, sample and batch
indexes already answer the chain, sample and batch roll-ups in one Query each; each task item carries its
own `cost` (and a cache hit its `avoided`) map; the per-workflow-per-day roll-up is the COST#WORKFLOW line.

A run whose tags claim a place no record proves (shared/supersede.py) is recorded with `unproven_claim` and is
left out of the lineage, batch and sample indexes until proven.

GSIs (all projections ALL, all sparse):
  lineage:    lineage_pk = ROOT#<rootRunId>#<rootUuid>  lineage_sk = <attempt:04>#<runId>#<uuid>  attempt chain
  batch:      batch_pk   = BATCH#<rootBatchId>     batch_sk   = kind-prefixed sort key  batch view
  sample:     sample_pk  = SAMPLE#<sample>         sample_sk  = <time>#<runId>#<uuid>   every run of a sample
  unresolved: unresolved_pk = UNRESOLVED           unresolved_sk = <time>#<runId>#<uuid> failed, no later attempt
  active:     active_pk  = ACTIVE#RUN|ACTIVE#BATCH active_sk  = <lastEventTime>#<id>    not finished (reconciler)

Key attributes are bounded by DynamoDB (partition keys 2,048 bytes, sort keys 1,024 bytes, UTF-8): a key
built from an event's fields is checked before any write (`check_key_sizes`), so an oversized field makes
one REJECTED record instead of a write that fails the whole SQS batch.
"""

from __future__ import annotations

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"

# (index name, partition attribute, sort attribute)
GSI_LINEAGE = ("lineage", "lineage_pk", "lineage_sk")
GSI_BATCH = ("batch", "batch_pk", "batch_sk")
GSI_SAMPLE = ("sample", "sample_pk", "sample_sk")
GSI_UNRESOLVED = ("unresolved", "unresolved_pk", "unresolved_sk")
GSI_ACTIVE = ("active", "active_pk", "active_sk")
ALL_GSIS = (GSI_LINEAGE, GSI_BATCH, GSI_SAMPLE, GSI_UNRESOLVED, GSI_ACTIVE)

UNRESOLVED = "UNRESOLVED"
SUMMARY = "SUMMARY"


# DynamoDB's documented key limits (moto enforces the same ones).
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
UNKNOWN_UUID = "-"  # lineage of a run started elsewhere whose parent's uuid is not recorded


class KeyTooLarge(ValueError):
    """A key built from input data exceeds DynamoDB's limits: the input is rejected, never written."""


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_summary_sk(run_uuid: str) -> str:
    return f"SUMMARY#{run_uuid}"


def run_sk(run_uuid: str, rest: str) -> str:
    """A per-run item's sort key: `rest` (STATUS#..., TASK#..., RERUN#...) scoped to the run's uuid."""
    return f"UUID#{run_uuid}#{rest}"


def digests_sk(run_uuid: str, chunk: int) -> str:
    return run_sk(run_uuid, f"DIGESTS#{chunk:04d}")


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def active_pk(kind: str) -> str:
    """The `active` index's partition of runs or batches (kind RUN | BATCH) not finished yet."""
    return f"ACTIVE#{kind}"


def active_keys(kind: str, since: str, entity_id: str) -> dict[str, str]:
    """A run's or batch's keys in the `active` index: in flight since `since` (its last event, start or restart)."""
    return {"active_pk": active_pk(kind), "active_sk": f"{since}#{entity_id}"}


def submission_pk(submission_id: str) -> str:
    return f"SUBMISSION#{submission_id}"


def submission_attempt_sk(attempt: int) -> str:
    return f"ATTEMPT#{attempt:04d}"


def submission_batch_keys(batch_id: str, submission_id: str, attempt: int | None = None) -> dict[str, str]:
    """Where a submission shows in its batch's view: the SUMMARY (no attempt) under its current batch, and
    each launch attempt's record under that attempt's batch."""
    suffix = f"#{submission_attempt_sk(attempt)}" if attempt is not None else ""
    return {"batch_pk": batch_pk(batch_id), "batch_sk": f"SUBMISSION#{submission_id}{suffix}"}


def cache_pk(cache_id: str) -> str:
    return f"CACHE#{cache_id}"


def lease_pk(name: str) -> str:
    return f"LEASE#{name}"


def status_sk(rank: int, time: str, status: str) -> str:
    return f"STATUS#{rank:02d}#{time}#{status}"


def task_status_sk(task_id: str, rank: int, time: str, status: str) -> str:
    return f"TASK#{task_id}#STATUS#{rank:02d}#{time}#{status}"


def task_sk(task_id: str) -> str:
    return f"TASK#{task_id}"


REPRICE = "REPRICE#"
RUN_SAMPLE = "SAMPLE"


def reprice_sk(child_run_id: str, child_run_uuid: str) -> str:
    """Under the parent attempt's uuid (run_sk): a re-run whose cache hits wait for the parent's task costs."""
    return f"{REPRICE}{child_run_id}#{child_run_uuid}"


def rerun_sk(attempt: int) -> str:
    """Under a failed run's uuid (run_sk): the re-runner's decision on its next attempt `attempt`; the claim
    that makes the start happen once is this key + RERUN_CLAIM."""
    return f"RERUN#{attempt:02d}"


RERUN_CLAIM = "#CLAIM"
WAITING_RERUN = "WAITING_RERUN#"


def waiting_rerun_sk(child_run_id: str, child_run_uuid: str) -> str:
    """A run whose lineage tags claim a place that no record of ours proves (yet): under the parent's uuid
    (run_sk) for a standalone run, in its own batch's partition for a batch member (shared/supersede.py)."""
    return f"{WAITING_RERUN}{child_run_id}#{child_run_uuid}"


def member_sk(run_setting_id: str) -> str:
    return f"MEMBER#{run_setting_id}"


def cost_workflow_pk(workflow_id: str) -> str:
    return f"COST#WORKFLOW#{workflow_id}"


def cost_day_prefix(day: str) -> str:
    return f"DAY#{day}#"


def cost_workflow_sk(day: str, run_id: str, run_uuid: str) -> str:
    """Sorted by day, so a day is one begins_with Query and the latest days come first in reverse."""
    return f"{cost_day_prefix(day)}RUN#{run_id}#{run_uuid}"


def lineage_pk(root_run_id: str, root_run_uuid: str | None) -> str:
    return f"ROOT#{root_run_id}#{root_run_uuid or UNKNOWN_UUID}"


def lineage_keys(root_run_id: str, root_run_uuid: str | None, attempt: int, run_id: str,
                 run_uuid: str) -> dict[str, str]:
    return {"lineage_pk": lineage_pk(root_run_id, root_run_uuid), "lineage_sk": f"{attempt:04d}#{run_id}#{run_uuid}"}


def sample_keys(sample: str, time: str, run_id: str, run_uuid: str) -> dict[str, str]:
    return {"sample_pk": f"SAMPLE#{sample}", "sample_sk": f"{time}#{run_id}#{run_uuid}"}


def check_key_sizes(item: dict[str, object]) -> None:
    """Raise KeyTooLarge when a table or index key attribute of `item` exceeds DynamoDB's limits."""
    pairs = [(PK, SK), *((pk, sk) for _, pk, sk in ALL_GSIS)]
    for pk, sk in pairs:
        for name, limit in ((pk, MAX_PARTITION_KEY_BYTES), (sk, MAX_SORT_KEY_BYTES)):
            value = item.get(name)
            if isinstance(value, str) and len(value.encode()) > limit:
                raise KeyTooLarge(f"key attribute {name} is {len(value.encode())} bytes; DynamoDB allows {limit}")
