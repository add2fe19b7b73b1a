"""Cost-allocation tags on the runs the launcher starts (issue 14): submission, sample (unless the
deployment leaves it out: config costTagSample), attempt chain, stack; within HealthOmics' tag limits as
botocore's omics model states them."""

from __future__ import annotations

import botocore.session
import pytest

from launcher.sheet import parse
from launcher.validation import MAX_USER_TAGS, validate
from shared.lineage import (
    ALL_TAGS,
    ENV_TAG_SAMPLE,
    TAG_CHAIN,
    TAG_SAMPLE,
    TAG_STACK,
    TAG_SUBMISSION,
    chain_id,
    launch_tags,
    lineage_of,
    lineage_tags,
)

DEFAULTS = {"workflowId": "1234567", "roleArn": "arn:aws:iam::123456789012:role/omics", "outputUri": "s3://lab-out/"}
SHEET = b"sample_id,bam\nPATIENT-0042,s3://lab/a.bam\nPATIENT-0043,s3://lab/b.bam\n"
OMICS = botocore.session.get_session().get_service_model("omics")


def run_tags(sample_tag: str | None, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    if sample_tag is None:
        monkeypatch.delenv(ENV_TAG_SAMPLE, raising=False)
    else:
        monkeypatch.setenv(ENV_TAG_SAMPLE, sample_tag)
    result = validate(parse(SHEET, "csv"), DEFAULTS, "sub-7")
    assert result.ok
    return [entry["runTags"] for entry in result.entries]


def test_launched_runs_carry_submission_sample_chain_and_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the default deployment (and its stack id), When a sheet is validated, Then every run's tags name
    its submission, its sample, its attempt chain and the stack."""
    monkeypatch.setenv("AUTOPILOT_STACK_ID", "omics-autopilot-prod")
    first, second = run_tags(None, monkeypatch)
    assert first == {TAG_SUBMISSION: "sub-7", TAG_SAMPLE: "PATIENT-0042", TAG_CHAIN: chain_id("sub-7", "PATIENT-0042"),
                     TAG_STACK: "omics-autopilot-prod"}
    assert first[TAG_CHAIN] != second[TAG_CHAIN]


def test_the_sample_tag_can_be_left_out_and_the_chain_tag_holds_no_sample_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given costTagSample=false (AUTOPILOT_TAG_SAMPLE=false), When a sheet is validated, Then no run carries
    its sample id in a tag, and the chain tag (an opaque digest) still tells the samples' chains apart."""
    tags = run_tags("false", monkeypatch)
    assert all(TAG_SAMPLE not in t for t in tags)
    assert all("PATIENT" not in value for t in tags for value in t.values())
    assert len({t[TAG_CHAIN] for t in tags}) == 2 and tags[0][TAG_CHAIN] == chain_id("sub-7", "PATIENT-0042")


def test_a_rerun_keeps_the_chain_and_leaves_the_sample_out_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a launched run's tags, When its re-run's lineage tags are built with the sample tag off, Then
    the sample is not written again from lineage."""
    monkeypatch.setenv(ENV_TAG_SAMPLE, "false")
    lineage = lineage_of("1111111", {TAG_SAMPLE: "PATIENT-0042", TAG_SUBMISSION: "sub-7"}, None, "B1", "uuid-1")
    assert TAG_SAMPLE not in lineage_tags(lineage)
    monkeypatch.setenv(ENV_TAG_SAMPLE, "true")
    assert lineage_tags(lineage)[TAG_SAMPLE] == "PATIENT-0042"


def test_tags_fit_healthomics_tag_limits_from_botocores_model() -> None:
    """botocore's omics model bounds tag keys and values (StartRunBatch runTags, StartRun tags); the 50 tags
    of a run leave room for every autopilot:* tag at any attempt."""
    for operation, member in (("StartRun", "tags"), ("StartRunBatch", "tags")):
        shape = OMICS.operation_model(operation).input_shape.members[member]
        key_max, value_max = int(shape.key.metadata["max"]), int(shape.value.metadata["max"])
        tags = launch_tags("a" * 64, "S" * 127, "omics-autopilot-prod")  # a 127-character runSettingId
        assert all(len(k) <= key_max and len(v) <= value_max for k, v in tags.items())
    assert all(len(k) <= key_max for k in ALL_TAGS)
    assert MAX_USER_TAGS + len(ALL_TAGS) == 50
