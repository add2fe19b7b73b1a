"""The usual sheet is checked as a whole (issue 13: the launcher within 2x a plain JSON load+dump).

validation._plainly_valid shows for the whole sheet at once that no run has a problem; the oracle is the
run-by-run check, which also says where each problem is: both must give the same result for any sheet,
valid or not, whatever the deploy configuration.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from launcher import validation
from launcher.sheet import parse
from launcher.validation import MAX_USER_TAGS, Validated, validate

DEFAULTS = {"workflowId": "1", "roleArn": "arn:aws:iam::123456789012:role/r", "outputUri": "s3://lab-out/"}
DEPLOYS: list[dict[str, Any]] = [
    DEFAULTS,
    {**DEFAULTS, "name": "cohort"},
    {**DEFAULTS, "runTags": {f"d{i}": "v" for i in range(3)}},
    {**DEFAULTS, "parameters": {"ref": "r" * 49_000}},
    {key: value for key, value in DEFAULTS.items() if key != "outputUri"},
]


def _json(*runs: dict[str, Any]) -> tuple[str, bytes]:
    return "json", json.dumps({"runs": list(runs)}).encode()


def _tags(count: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(count)}


SHEETS: list[tuple[str, bytes]] = [
    ("csv", b"sample_id,bam,n,intervals,tag:p\nS1,s3://lab/a.bam,1,\"[\"\"chr1\"\"]\",x\nS2,s3://lab/b.bam,2,,y\n"),
    ("csv", b"sample_id,bam\nS1,s3://lab/a.bam\nS1,s3://lab/b.bam\n"),
    ("csv", b"sample_id,bam\nS1,s3:/lab/a.bam\nS2,s3://lab/b.bam\n"),
    ("csv", b"sample_id,bam\n,s3://lab/a.bam\nS\x01,s3://lab/b.bam\n"),
    ("csv", b"sample_id,name,outputUri,bam\nS1,n1,s3://lab-out/x/,1\nS2,,,2\n"),
    ("csv", ("sample_id," + ",".join(f"tag:k{i}" for i in range(MAX_USER_TAGS - 2)) + "\nS1"
             + ",v" * (MAX_USER_TAGS - 2) + "\n").encode()),
    ("csv", b"sample_id,bam\nS1," + b"b" * 20_000 + b"\n"),
    _json({"runSettingId": "S1", "parameters": {"bam": "s3://lab/a.bam", "n": [1, "s3://lab/x.bam"], "f": 1.5},
           "runTags": {"p": "x"}}, {"runSettingId": "S2"}, {"runSettingId": "S3", "runTags": {}, "parameters": None}),
    _json({"runSettingId": "S1", "parameters": {"bam": ["s3://lab/a.bam", "S3://lab/b"]}}),
    _json({"runSettingId": "S1", "parameters": {"bam": None}}),
    _json({"runSettingId": "S1", "parameters": {"bam": "s3://x"}}, {"runSettingId": "S2"}),
    _json({"runSettingId": "S1", "parameters": []}, {"runSettingId": "S2", "runTags": ["x"]}),
    _json({"runSettingId": "S1", "runTags": {"p": 1}}),
    _json({"runSettingId": "S1", "runTags": {"p": "v" * 257}}),
    _json({"runSettingId": "S1", "runTags": {"autopilot:x": "v"}}, {"runSettingId": "S2", "runTags": {"": "v"}}),
    _json({"runSettingId": "S1", "runTags": _tags(MAX_USER_TAGS - 2)}, {"runSettingId": "S2", "runTags": _tags(2)}),
    _json({"runSettingId": "S1", "runTags": _tags(MAX_USER_TAGS)}),
    _json({"runSettingId": 7}, {"runSettingId": "S2"}),
    _json({"runSettingId": "S1"}, {"runSettingId": "S1"}),
    _json({"runSettingId": " "}, {"runSettingId": "S2"}),
    _json({"runSettingId": ""}, {"runSettingId": "x" * 200}),
    _json({"sample_id": "S1"}, {"runSettingId": "S2", "name": "two", "outputUri": "s3://lab-out/2/"}),
    _json({"runSettingId": "S1", "parameters": {"big": "x" * 10_000}}, {"runSettingId": "S2"}),
    _json({"runSettingId": "S1", "parameters": {"big": "x" * 50_000}}),
]


def _outcome(validated: Validated) -> tuple[object, ...]:
    return (validated.errors, validated.entries, list(validated.encoded), validated.run_count,
            validated.default_run_setting, validated.batch_tags)


@pytest.mark.parametrize("deploy", DEPLOYS)
@pytest.mark.parametrize(("fmt", "body"), SHEETS)
def test_the_whole_sheet_check_is_the_run_by_run_check(fmt: str, body: bytes, deploy: dict[str, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a sheet checked as a whole where it can be
    whole = validate(parse(body, fmt), deploy, "sub")  # type: ignore[arg-type]
    # When it is checked run by run instead
    monkeypatch.setattr(validation, "_plainly_valid", lambda *_: False)
    by_run = validate(parse(body, fmt), deploy, "sub")  # type: ignore[arg-type]
    # Then the outcome is the same: the same errors in the same places, or the same entries and settings file
    assert _outcome(whole) == _outcome(by_run)


def test_the_usual_sheets_are_the_ones_checked_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    check = validation._plainly_valid

    def spy(*args: Any) -> bool:
        taken.append(check(*args))
        return taken[-1]

    monkeypatch.setattr(validation, "_plainly_valid", spy)
    for fmt, body in (SHEETS[0], SHEETS[7]):
        assert validate(parse(body, fmt), DEFAULTS, "sub").ok  # type: ignore[arg-type]
    assert taken == [True, True]
