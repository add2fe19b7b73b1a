"""The provenance table's key design: one place that names every key and index.

Single table, generic keys `pk`/`sk`, four sparse GSIs, TTL on `expires_at`.

Items (pk / sk):
  RUN#<runId>      / STATUS#<rank:02>#<time>#<status>    run status history (one per distinct observation)
  RUN#<runId>      / SUMMARY                             run: latest status (ordered), GetRun details, lineage
  RUN#<runId>      / TASK#<taskId>#STATUS#<rank>#<time>#<status>    task status history
  RUN#<runId>      / TASK#<taskId>                       task details from ListRunTasks (name, cacheHit, ...)
  BATCH#<batchId>  / STATUS#<rank:02>#<time>#<status>    batch status history
  BATCH#<batchId>  / SUMMARY                             batch: latest status and counts
  BATCH#<batchId>  / MEMBER#<runSettingId>               ListRunsInBatch row (runId, submission status)
  BATCH#<batchId>  / LINK                                follow-up batch -> parent/root batch, attempt
  BATCH#<batchId>  / REQUEST                             the StartRunBatch request (for resubmission / re-runs)
  SUBMISSION#<id>  / SUMMARY                             a sample sheet submission and its batch
  CACHE#<cacheId>  / PRUNE#<time>#<passId>               prune pass audit record
  LEASE#<name>     / LEASE                               transient leases / claims (TTL)

GSIs (all projections ALL, all sparse):
  lineage:    lineage_pk = ROOT#<rootRunId>        lineage_sk = <attempt:04>#<runId>   attempt chain
  batch:      batch_pk   = BATCH#<rootBatchId>     batch_sk   = kind-prefixed sort key  batch view
  sample:     sample_pk  = SAMPLE#<sample>         sample_sk  = <time>#<runId>          every run of a sample
  unresolved: unresolved_pk = UNRESOLVED           unresolved_sk = <time>#<runId>       failed, no later attempt
  active:     active_pk  = ACTIVE#RUN|ACTIVE#BATCH active_sk  = <lastEventTime>#<id>    non-terminal (reconciler)
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


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def submission_pk(submission_id: str) -> str:
    return f"SUBMISSION#{submission_id}"


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


def member_sk(run_setting_id: str) -> str:
    return f"MEMBER#{run_setting_id}"


def lineage_keys(root_run_id: str, attempt: int, run_id: str) -> dict[str, str]:
    return {"lineage_pk": f"ROOT#{root_run_id}", "lineage_sk": f"{attempt:04d}#{run_id}"}


def sample_keys(sample: str, time: str, run_id: str) -> dict[str, str]:
    return {"sample_pk": f"SAMPLE#{sample}", "sample_sk": f"{time}#{run_id}"}
