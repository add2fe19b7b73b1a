"""Run tags that carry lineage from whoever starts a run (launcher, re-runner) to the recorder.

GetRun returns a run's tags, and batch per-run `runTags` become run tags, so a run's place in its
lineage travels with the run itself: the recorder needs no extra lookup to know it.

A run is (run id, run uuid): HealthOmics reuses the ids of deleted runs, so the root and parent are
tagged with their uuids too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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


def stack_id_from_env() -> str | None:
    """This function's stack (ENV_STACK_ID); None outside a stack (scripts, older deployments)."""
    return os.environ.get(ENV_STACK_ID) or None


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
    try:
        attempt = int(tags.get(TAG_ATTEMPT, "1" if parent else "0"))
    except ValueError:
        attempt = 1 if parent else 0
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
        TAG_SAMPLE: lineage.sample,
        TAG_ROOT_BATCH: lineage.root_batch_id,
        TAG_SUBMISSION: lineage.submission_id,
        TAG_RERUN_REASON: lineage.rerun_reason,
        TAG_REMEDIATION: lineage.remediation,
    }
    return {key: value for key, value in values.items() if value}
