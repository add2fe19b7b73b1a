"""Cost-allocation tags end to end in the sandbox (issue 14), with the sample tag left out
(costTagSample=false): no run the stack starts, first attempt or follow-up, carries a sample id in a tag;
every attempt of a sample shares its chain tag; the batch view still maps every sample to its runs."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.local import LocalAccount
from sandbox.omics import FaultPlan, OmicsEmulator, OutputSpec, RunFault, TaskSpec
from shared.lineage import TAG_CHAIN, TAG_ROOT_RUN, TAG_SAMPLE, TAG_SUBMISSION
from shared.provenance.views import batch_view, sample_view
from tests.launcher_env import csv_sheet

TASKS = [TaskSpec("align", (), 600.0, (OutputSpec("bam", 4096),)), TaskSpec("call", ("align",), 300.0, ())]

pytestmark = pytest.mark.slow


def _prepare(emulator: OmicsEmulator) -> dict[str, Any]:
    return {"workflowId": emulator.register_workflow("germline", tasks=TASKS)}


def test_without_the_sample_tag_attempts_share_their_chain_and_the_batch_view_holds() -> None:
    faults = FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_setting_id="S000001")])
    with LocalAccount({"costTagSample": "false"}, prepare=_prepare, faults=faults) as account:
        bucket = account.outputs["SubmissionsBucketName"]
        # Given a sheet of three samples, one of which fails once with a re-run reason
        account.s3.put_object(Bucket=bucket, Key="submissions/cohort.csv", Body=csv_sheet(3).encode())
        # When the account runs until nothing is left to do
        assert account.run_until_quiet()
        # Then no run carries a sample tag, and every run carries its submission and chain
        runs = list(account.emulator.runs.values())
        assert len(runs) == 4  # three first attempts and one re-run
        tags = {run.id: account.omics.list_tags_for_resource(resourceArn=run.arn)["tags"] for run in runs}
        assert all(TAG_SAMPLE not in t and TAG_SUBMISSION in t and TAG_CHAIN in t for t in tags.values())
        (rerun_id,) = [run_id for run_id, t in tags.items() if TAG_ROOT_RUN in t]
        root = tags[rerun_id][TAG_ROOT_RUN]
        assert tags[rerun_id][TAG_CHAIN] == tags[root][TAG_CHAIN]
        assert len({t[TAG_CHAIN] for t in tags.values()}) == 3
        # and the batch view still maps each sample to its attempts and their outcome
        root_batch = next(b for b in account.emulator.batches.values() if not b.tags.get("autopilot:parent-batch"))
        view = batch_view(account.repository, root_batch.id)
        assert set(view.samples) == {"S000000", "S000001", "S000002"}
        assert [a.status for a in view.samples["S000001"].attempts] == ["FAILED", "COMPLETED"]
        # and so does the sample view, each attempt with its status: the recorder takes a run's sample from
        # its batch membership (runSettingId) or its parent attempt when the run carries no sample tag
        shown = sample_view(account.repository, "S000001")
        assert [(a.attempt, a.status) for a in shown] == [(0, "FAILED"), (1, "COMPLETED")], shown
        assert [a.status for a in sample_view(account.repository, "S000000")] == ["COMPLETED"]
