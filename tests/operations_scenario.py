"""A small cohort played through the whole sandbox (LocalAccount), shared by the operations tests
(reconciler, replay, CLI): standalone runs with lineage tags, a failure re-run from the run cache
(attempt 1 of its root), and one batch, with the given faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.local import STACK_NAME, LocalAccount
from sandbox.omics import OutputSpec, RunFault, TaskSpec
from shared.lineage import TAG_SAMPLE, TAG_SUBMISSION, Lineage, lineage_tags, stack_tags
from shared.status import iso_time

TASKS = (
    TaskSpec("align", (), 600.0, (OutputSpec("bam", 4096),), cpus=8, memory=32),
    TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 1024),), cpus=4, memory=16),
)
FAILING_SAMPLE = "S-0042"
UNRESOLVED_SAMPLE = "S-0003"  # fails for a reason not worth a re-run: stays an unresolved failure
# These tests fire the reconciler themselves at chosen virtual times, so the stack's own schedule is set
# far enough out not to sweep in the middle of a scenario (which would heal before the test looks). The
# cohort's workflow is registered after synthesis and named by the sheets (test_cli): every workflow is
# allowed. One context for every module here: each context is a synthesis of its own (~2-3 s, cold).
CONTEXT = {"reconcileSchedule": "rate(7 days)", "sheetWorkflows": "*"}


@dataclass
class Cohort:
    workflow_id: str
    runs: dict[str, str] = field(default_factory=dict)  # sample -> first run id
    rerun_id: str | None = None  # attempt 1 of FAILING_SAMPLE's run (None: its FAILED event was lost)
    batch_id: str | None = None

    @property
    def failed_run_id(self) -> str:
        return self.runs[FAILING_SAMPLE]


def failing_faults() -> list[RunFault]:
    return [RunFault(reason="RUN_TASK_FAILED", at_task="call", run_name=f"run-{FAILING_SAMPLE}"),
            RunFault(reason="OUT_OF_MEMORY_ERROR", at_task="align", run_name=f"run-{UNRESOLVED_SAMPLE}")]


def play_cohort(account: LocalAccount, samples: int = 4, batch_size: int = 6) -> Cohort:
    """Start the cohort and let it finish; the failure of FAILING_SAMPLE is re-run once from the run cache
    (by the stack's re-runner, or here as the re-runner would when the stack has none)."""
    outputs = account.outputs
    role, cache, bucket = outputs["OmicsServiceRoleArn"], outputs["RunCacheId"], outputs["RunOutputsBucketName"]
    cohort = Cohort(account.emulator.register_workflow("germline", tasks=list(TASKS)))
    names = [FAILING_SAMPLE] + [f"S-{i:04d}" for i in range(1, samples)]
    for sample in names:
        started = account.omics.start_run(
            workflowId=cohort.workflow_id, roleArn=role, outputUri=f"s3://{bucket}/runs", name=f"run-{sample}",
            requestId=f"sheet-1#{sample}", cacheId=cache, cacheBehavior="CACHE_ON_FAILURE",
            parameters={"reads": f"s3://{bucket}/inputs/{sample}.fastq.gz"},
            tags={TAG_SAMPLE: sample, TAG_SUBMISSION: "sheet-1", **stack_tags(STACK_NAME)})  # as this stack starts
        cohort.runs[sample] = started["id"]
    if batch_size:
        batch = account.omics.start_run_batch(
            batchName="cohort-b", requestId="sheet-2",
            defaultRunSetting={"workflowId": cohort.workflow_id, "roleArn": role, "outputUri": f"s3://{bucket}/b",
                               "cacheId": cache, "cacheBehavior": "CACHE_ON_FAILURE"},
            batchRunSettings={"inlineSettings": [
                {"runSettingId": f"B-{i:03d}", "name": f"batch-B-{i:03d}",
                 "parameters": {"reads": f"s3://{bucket}/inputs/B-{i:03d}.fastq.gz"},
                 "runTags": {TAG_SAMPLE: f"B-{i:03d}"}} for i in range(batch_size)]})
        cohort.batch_id = batch["id"]
    account.run_until_quiet(max_seconds=6 * 3600)
    failed = cohort.failed_run_id
    try:
        account.function("rerunner")
    except KeyError:  # no re-runner in the stack: re-run the failure as it would (attempt 1, from the cache)
        rerun = account.omics.start_run(
            runId=failed, roleArn=role, outputUri=f"s3://{bucket}/runs", requestId=f"{failed}#1", cacheId=cache,
            tags=lineage_tags(Lineage(root_run_id=failed, parent_run_id=failed, attempt=1, sample=FAILING_SAMPLE,
                                      submission_id="sheet-1", rerun_reason="RUN_TASK_FAILED")))
        cohort.rerun_id = rerun["id"]
        account.run_until_quiet(max_seconds=6 * 3600)
    else:  # the stack's re-runner re-ran it (when its FAILED event was delivered)
        later_attempts = [a for a in account.repository.attempt_chain(failed) if a["run_id"] != failed]
        cohort.rerun_id = later_attempts[0]["run_id"] if later_attempts else None
    return cohort


def later(account: LocalAccount, minutes: float) -> str:
    """The virtual clock `minutes` from now, as the scheduler's scheduled time."""
    moment: datetime = account.clock.now() + timedelta(minutes=minutes)
    return iso_time(moment)


def scan(account: LocalAccount) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the provenance table, keyed by (pk, sk)."""
    from shared.provenance.repository import deserialize

    items: dict[tuple[str, str], dict[str, Any]] = {}
    paginator = account.dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=account.table_name):
        for raw in page["Items"]:
            item = deserialize(raw)
            items[(item["pk"], item["sk"])] = item
    return items
