"""Cost-allocation tags across an attempt chain (issue 14): a re-run keeps the launched run's submission,
sample and chain tags and adds its root run, so billed cost groups by chain, sample or submission."""

from __future__ import annotations

from sandbox.omics import FaultPlan, RunFault
from shared.lineage import TAG_CHAIN, TAG_ROOT_RUN, TAG_SAMPLE, TAG_STACK, TAG_SUBMISSION, chain_id
from tests.integration.rerun_harness import STACK_ID

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_rerun_carries_the_chain_sample_submission_and_root(make) -> None:
    # Given a run started as the launcher starts it (submission, sample, chain, stack tags), failing once
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_name="s1")]))
    chain = chain_id("sub-1", "s1")
    failed = h.start_run("s1", tags={TAG_SUBMISSION: "sub-1", TAG_SAMPLE: "s1", TAG_CHAIN: chain,
                                     TAG_STACK: STACK_ID})
    # When the account runs until quiet
    h.run()
    # Then the re-run's tags keep the chain, sample and submission, and name the attempt root
    (rerun,) = h.reruns_of(failed)
    tags = h.omics.list_tags_for_resource(resourceArn=rerun.arn)["tags"]
    assert tags[TAG_CHAIN] == chain and tags[TAG_SAMPLE] == "s1" and tags[TAG_SUBMISSION] == "sub-1"
    assert tags[TAG_ROOT_RUN] == failed and tags[TAG_STACK] == STACK_ID
