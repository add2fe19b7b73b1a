"""Malformed sample sheets: each is REJECTED with its exact message(s) and costs zero HealthOmics calls."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto import mock_aws

from launcher.sheet import BATCH_FIELDS, FIXED_BY_DEPLOYMENT, SHEET_ONLY_FIELDS, parse
from launcher.validation import validate
from sandbox.moto_speedups import speedups
from tests.conftest import offline_aws
from tests.launcher_env import BUCKET, LauncherEnv, launcher_env

HEADER = "sample_id,input_bam\n"
BIG = "x" * 50_000


def _tags_header(count: int) -> str:
    return "sample_id," + ",".join(f"tag:k{i}" for i in range(count)) + "\n"


# (name, file name, bytes, expected errors as (row, column, reason))
MALFORMED: list[tuple[str, str, bytes, list[tuple[int | None, str | None, str]]]] = [
    ("duplicate ids", "dup.csv", (HEADER + "S1,s3://lab/a.bam\nS2,s3://lab/b.bam\nS1,s3://lab/c.bam\n").encode(),
     [(4, "sample_id", "duplicate runSettingId 'S1' (first at row 2)")]),
    ("missing id column", "noid.csv", b"sample,input_bam\nS1,s3://lab/a.bam\n",
     [(1, None, "header has no runSettingId or sample_id column")]),
    ("both id columns", "both.csv", b"runSettingId,sample_id,x\nA,B,1\n",
     [(1, None, "header has both runSettingId and sample_id; keep one")]),
    ("bad JSON cell", "json-cell.csv", b'sample_id,intervals\nS1,"[""chr1"" ""chr2""]"\n',
     [(2, "intervals", "invalid JSON value: Expecting ',' delimiter at character 9")]),
    ("oversize parameters", "big.csv", (HEADER + f"S1,{BIG}\n").encode(),
     [(2, "parameters", "parameters are 50016 bytes after merging with the batch defaults; at most 50000")]),
    ("too many tags", "tags.csv", (_tags_header(42) + "S1," + ",".join("v" for _ in range(42)) + "\n").encode(),
     [(2, "runTags", "42 run tags after merging with the batch runTags; at most 38 (50 per run minus 12 "
                     "reserved for autopilot:* lineage tags)")]),
    ("reserved tag", "reserved.csv", b"sample_id,tag:autopilot:sample\nS1,other\n",
     [(1, "tag:autopilot:sample", "tag key 'autopilot:sample' uses the reserved prefix 'autopilot:'")]),
    ("bad S3 URI parameter", "uri.csv", (HEADER + "S1,s3:/lab/a.bam\n").encode(),
     [(2, "input_bam", "'s3:/lab/a.bam' is not a well-formed s3://bucket/key URI")]),
    ("bad output URI", "out.csv", b"sample_id,outputUri\nS1,https://lab/out/\n",
     [(2, "outputUri", "'https://lab/out/' is not a well-formed s3://bucket/key URI")]),
    ("empty sheet", "empty.csv", b"", [(None, None, "sheet is empty")]),
    ("header only", "header.csv", HEADER.encode(), [(None, None, "sheet has no runs")]),
    ("wrong encoding (Latin-1)", "latin1.csv", (HEADER + "S1,s3://lab/é.bam\n").encode("latin-1"),
     [(None, None, "sheet is not UTF-8: byte 0xe9 at offset 32 (line 2) is invalid; save it as UTF-8 "
                   "(e.g. 'CSV UTF-8')")]),
    ("wrong encoding (UTF-16)", "utf16.csv", (HEADER + "S1,s3://lab/a.bam\n").encode("utf-16"),
     [(None, None, "sheet is UTF-16 encoded; save it as UTF-8 (e.g. 'CSV UTF-8')")]),
    ("batch-level column", "storage.csv", b"sample_id,storageType\nS1,STATIC\n",
     [(1, "storageType", "storageType is a batch-level setting and cannot vary per run; set it in the deploy "
                         "configuration or a JSON sheet (name a workflow parameter param:storageType)")]),
    ("priority not a number", "prio.csv", b"sample_id,priority\nS1,high\n",
     [(2, "priority", "priority must be a whole number, not 'high'")]),
    ("priority out of range", "prio2.csv", b"sample_id,priority\nS1,100001\n",
     [(2, "priority", "priority must be a whole number from 0 to 100000")]),
    ("more cells than header", "wide.csv", (HEADER + "S1,s3://lab/a.bam,extra\n").encode(),
     [(2, None, "row has 3 cells but the header has 2")]),
    ("missing id cell", "blank-id.csv", (HEADER + ",s3://lab/a.bam\n").encode(),
     [(2, "sample_id", "runSettingId is missing")]),
    ("duplicate column", "dupcol.csv", b"sample_id,x,x\nS1,1,2\n",
     [(1, "x", "column appears twice (columns 2 and 3)")]),
    ("invalid JSON document", "bad.json", b'{"runs": [{"runSettingId": "S1",}]}',
     [(None, None, "sheet is not valid JSON: Expecting property name enclosed in double quotes at line 1 "
                   "column 33")]),
    ("JSON run sets a batch-level field", "wf.json",
     json.dumps({"runs": [{"runSettingId": "S1", "workflowId": "123"}]}).encode(),
     [(1, "workflowId", "workflowId is a batch-level setting and cannot be set per run")]),
    ("JSON run with unknown field", "unk.json", json.dumps({"runs": [{"runSettingId": "S1", "bam": "x"}]}).encode(),
     [(1, "bam", "unknown run field 'bam' (workflow parameters go in \"parameters\")")]),
    ("JSON sets the role", "role.json",
     json.dumps({"roleArn": "arn:aws:iam::1:role/x", "runs": [{"runSettingId": "S1"}]}).encode(),
     [(None, "roleArn", "roleArn is fixed by the deployment and cannot be set in a sheet")]),
    # botocore's StartRunBatch model accepts it; reading requester-pays inputs bills this account
    ("JSON sets requester pays", "requester-pays.json",
     json.dumps({"requesterPaysEnabled": True, "runs": [{"runSettingId": "S1"}]}).encode(),
     [(None, "requesterPaysEnabled", "requesterPaysEnabled is fixed by the deployment and cannot be set in a "
                                     "sheet")]),
    # StartRun authorizes on the HealthOmics configuration too (the IAM Service Authorization Reference, as
    # cfn-lint ships it: configuration, run, runBatch, ...), and the stack grants none: every run would fail
    ("JSON sets a VPC configuration", "vpc.json",
     json.dumps({"networkingMode": "VPC", "configurationName": "open-egress",
                 "runs": [{"runSettingId": "S1"}]}).encode(),
     [(None, "configurationName", "configurationName is fixed by the deployment and cannot be set in a sheet"),
      (None, "networkingMode", "networkingMode VPC needs a HealthOmics configuration, which this deployment does "
                               "not grant; leave networkingMode out (RESTRICTED)")]),
    ("JSON runs not a list", "runs.json", json.dumps({"runs": {"S1": {}}}).encode(),
     [(None, "runs", '"runs" must be a list of run objects')]),
    ("JSON null parameter", "null.json",
     json.dumps({"runs": [{"runSettingId": "S1", "parameters": {"bam": None}}]}).encode(),
     [(1, "parameters.bam", "null is not a parameter value; leave the cell empty (or omit the key) to leave "
                            "it unset")]),
    # JSON can escape half of a UTF-16 surrogate pair ("\ud800"): no character, so no UTF-8 request carries it
    ("JSON lone surrogate in a parameter", "surrogate.json",
     b'{"runs": [{"runSettingId": "S1", "parameters": {"x": "a\\ud800b"}}, '
     b'{"runSettingId": "S2", "parameters": {"y": "s3:/lab"}}]}',
     [(1, "parameters", "\\ud800 in parameters is half of a UTF-16 surrogate pair and no character on its own; "
                        "write the character itself (or both halves of its pair)"),
      (2, "parameters.y", "'s3:/lab' is not a well-formed s3://bucket/key URI")]),
    ("JSON lone surrogate in a tag key", "surrogate-tag.json",
     b'{"runTags": {"t": "\\udc00"}, "runs": [{"runSettingId": "S1", "runTags": {"k\\ud800": "v"}}]}',
     [(None, "runTags", "\\udc00 in runTags is half of a UTF-16 surrogate pair and no character on its own; "
                        "write the character itself (or both halves of its pair)"),
      (1, "runTags", "\\ud800 in runTags is half of a UTF-16 surrogate pair and no character on its own; "
                     "write the character itself (or both halves of its pair)")]),
    ("CSV JSON cell with a lone surrogate", "surrogate.csv", b'sample_id,x\nS1,"[""a\\ud800""]"\n',
     [(2, "x", "invalid JSON value: \\ud800 is half of a UTF-16 surrogate pair and no character on its own; "
               "write the character itself (or both halves of its pair)")]),
    # botocore refuses None before sending: a null batch setting crashed StartRunBatch (the message went to the DLQ)
    ("JSON null batch settings", "null-settings.json",
     json.dumps({"runGroupId": None, "cacheId": None, "runs": [{"runSettingId": "S1"}]}).encode(),
     [(None, "cacheId", "cacheId is null: leave it out to use the deployment's value"),
      (None, "runGroupId", "runGroupId is null: leave it out to use the deployment's value")]),
    ("bad batch enum and storage", "enum.json",
     json.dumps({"storageType": "STATIC", "logLevel": "DEBUG", "runs": [{"runSettingId": "S1"}]}).encode(),
     [(None, "logLevel", "logLevel must be one of OFF, FATAL, ERROR, ALL, not 'DEBUG'"),
      (None, "storageCapacity", "STATIC storage needs storageCapacity (GiB)")]),
]


def test_at_least_fifteen_distinct_malformed_sheets() -> None:
    assert len({name for name, *_ in MALFORMED}) >= 15


class TestEachMalformedSheet:
    """One moto account for the class (its fixture ends with the class, before the module's other tests
    set up their own): each malformed sheet has its own key, so its own submission and report, and a
    rejection costs no HealthOmics call, so the tests do not see each other's work."""

    @pytest.fixture(scope="class")
    def env(self) -> Iterator[LauncherEnv]:
        with pytest.MonkeyPatch.context() as monkeypatch:
            offline_aws(monkeypatch)
            with speedups(), mock_aws(), launcher_env() as environment:
                yield environment

    def test_every_malformed_sheet_has_its_own_key(self) -> None:
        assert len({filename for _, filename, *_ in MALFORMED}) == len(MALFORMED)

    @pytest.mark.parametrize(("name", "filename", "body", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
    def test_malformed_sheet_is_rejected_with_its_exact_message_and_no_healthomics_call(
        self, env: LauncherEnv, name: str, filename: str, body: bytes,
        expected: list[tuple[int | None, str | None, str]],
    ) -> None:
        # Given a malformed sheet uploaded under submissions/
        key = f"submissions/malformed/{filename}"
        env.upload(key, body)
        calls_before = env.omics_calls
        # When the launcher handles it
        outcome = env.launcher.launch_object(BUCKET, key)
        # Then it is rejected with exactly these errors, a report beside it, and no HealthOmics call
        assert outcome is not None and outcome.status == "REJECTED", name
        assert [(e["row"], e["column"], e["reason"]) for e in outcome.errors] == expected
        assert env.omics_calls == calls_before
        report = env.read_json(f"s3://{BUCKET}/{key}.errors.json")
        assert [(e["row"], e["column"], e["reason"]) for e in report["errors"]] == expected
        submission = env.repository.get_submission(outcome.submission_id)
        assert submission is not None and submission["status"] == "REJECTED"
        assert submission["error_count"] == len(expected)


def test_every_error_of_a_sheet_is_reported_at_once() -> None:
    body = (b"sample_id,input_bam,priority,tag:autopilot:x\n"
            b"S1,s3://lab/a.bam,1,\n"
            b"S1,s3:/lab/b.bam,-1,y\n"
            b",s3://lab/c.bam,2,\n")
    sheet = parse(body, "csv")
    defaults = {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r", "outputUri": "s3://lab-out/"}
    result = validate(sheet, defaults, "sub")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (1, "tag:autopilot:x", "tag key 'autopilot:x' uses the reserved prefix 'autopilot:'"),
        (3, "input_bam", "'s3:/lab/b.bam' is not a well-formed s3://bucket/key URI"),
        (3, "priority", "priority must be a whole number from 0 to 100000"),
        (3, "sample_id", "duplicate runSettingId 'S1' (first at row 2)"),
        (4, "sample_id", "runSettingId is missing"),
    ]


def test_csv_parameter_set_by_two_aliased_columns_is_rejected_not_silently_dropped() -> None:
    """A `ref` column and a `param:ref` column both name the workflow parameter `ref` (launcher/sheet.py's CSV
    format: `param:<name>` and a bare `<name>` are the same parameter; a run's parameters are one JSON object,
    StartRunBatch in botocore's omics model). Duplicates were found by header text only, so the last column won
    and the sample ran against a reference the user did not choose, with nothing said. Now refused like a column
    that appears twice, on the second column."""
    sheet = parse(b"sample_id,ref,param:ref\nS1,s3://lab-data/hg19.fa,s3://lab-data/hg38.fa\n", "csv")
    result = validate(sheet, {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r", "outputUri": "s3://lab-out/"},
                      "sub")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (1, "param:ref", "column sets parameter 'ref', as column ref does; keep one")]


def test_more_than_one_hundred_thousand_runs_is_rejected() -> None:
    body = ("sample_id\n" + "".join(f"S{i}\n" for i in range(100_001))).encode()
    result = validate(parse(body, "csv"), {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r",
                                           "outputUri": "s3://lab-out/"}, "sub")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (None, None, "sheet has more than 100000 runs; one batch holds at most 100000 (reading stopped there)")]


def test_missing_deploy_settings_are_reported() -> None:
    with speedups(), mock_aws(), launcher_env(with_workflow_default=False, output_uri=None) as env:
        env.upload("submissions/x.csv", HEADER + "S1,s3://lab/a.bam\n")
        outcome = env.launcher.launch_object(BUCKET, "submissions/x.csv")
        assert outcome is not None and env.emu.calls["StartRunBatch"] == 0
    assert [(e["row"], e["column"], e["reason"]) for e in outcome.errors] == [
        (None, "workflowId", "no workflow: set workflowId in the sheet or the deploy configuration (workflowId)"),
        (2, "outputUri", "no output location: set outputUri for this run, in the sheet, or in the deploy "
                         "configuration"),
    ]


@pytest.mark.parametrize("field", sorted((BATCH_FIELDS | SHEET_ONLY_FIELDS) - FIXED_BY_DEPLOYMENT))
def test_a_null_batch_setting_is_an_error_of_the_sheet_not_a_failed_request(field: str) -> None:
    # Given a JSON sheet that sets a batch setting (any of botocore's defaultRunSetting members, or the sheet's
    # own batchName and tags) to null
    sheet = parse(json.dumps({field: None, "runs": [{"runSettingId": "S1"}]}).encode(), "json")
    defaults = {"workflowId": "1", "roleArn": "arn:aws:iam::1:role/r", "outputUri": "s3://lab-out/",
                "runGroupId": "2", "cacheId": "3", "storageType": "STATIC", "storageCapacity": 1200}
    # Then the sheet is refused with one error naming the field (never a request botocore would refuse)
    result = validate(sheet, defaults, "sub")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (None, field, f"{field} is null: leave it out to use the deployment's value")]
