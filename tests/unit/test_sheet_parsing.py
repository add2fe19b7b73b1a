"""Sheet parsing: typed CSV cells, reserved columns, JSON sheets, and how they become batch entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.plan import SheetIdentity, build_plan, settings_chunks, settings_digest
from launcher.sheet import detect_format, parse, typed_cell
from launcher.validation import validate
from shared.lineage import TAG_CHAIN, TAG_SAMPLE, TAG_SUBMISSION, chain_id

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sheets"
DEFAULTS = {"workflowId": "1234567", "roleArn": "arn:aws:iam::123456789012:role/omics", "outputUri": "s3://lab-out/",
            "cacheId": "555", "cacheBehavior": "CACHE_ON_FAILURE"}


@pytest.mark.parametrize(("cell", "value"), [
    ("true", True), ("FALSE", False), ("42", 42), ("-3", -3), ("2.5", 2.5), ("1e3", 1000.0),
    ("007", "007"), ("0", 0), ("chr1", "chr1"), ("s3://lab/a.bam", "s3://lab/a.bam"),
    ('["a", 1]', ["a", 1]), ('{"k": [true]}', {"k": [True]}), ('"42"', "42"), ("-", "-"), ("1-2", "1-2"),
])
def test_cells_are_typed_as_healthomics_parameters_allow(cell: str, value: object) -> None:
    assert typed_cell(cell) == (value, None)
    assert type(typed_cell(cell)[0]) is type(value)


def test_csv_columns_map_to_per_run_fields_tags_and_parameters() -> None:
    body = (b"runSettingId,name,outputUri,priority,tag:project,param:name,reads,engineSettings\n"
            b'S1,Sample one,s3://lab-out/s1/,7,p1,bob,"[""r1.fq"",""r2.fq""]","{""k"":1}"\n'
            b"S2,,,,,,,\n")
    sheet = parse(body, "csv")
    assert sheet.errors == []
    assert sheet.runs[0].fields == {"runSettingId": "S1", "name": "Sample one", "outputUri": "s3://lab-out/s1/",
                                    "priority": 7, "runTags": {"project": "p1"}, "engineSettings": {"k": 1},
                                    "parameters": {"name": "bob", "reads": ["r1.fq", "r2.fq"]}}
    assert sheet.runs[1].fields == {"runSettingId": "S2"}
    assert [r.row for r in sheet.runs] == [2, 3]


def test_an_id_header_with_a_trailing_space_is_read_as_the_id_column() -> None:
    """Spreadsheets leave stray spaces in header cells, and every other header cell is stripped before it is
    classified; the id column alone was looked for among the raw cells, so a sheet whose header read
    `sample_id ` was REJECTED with "header has no runSettingId or sample_id column" while the user was looking
    at one. The id column is now found among the stripped cells (the CSV format in launcher/sheet.py)."""
    sheet = parse(b"sample_id ,input\nS1,s3://lab-data/S1.bam\n", "csv")
    assert sheet.errors == []
    result = validate(sheet, DEFAULTS, "sub-1")
    assert result.ok and [(e["runSettingId"], e["parameters"]) for e in result.entries] == [
        ("S1", {"input": "s3://lab-data/S1.bam"})]


def test_valid_sheet_becomes_entries_with_lineage_tags_and_defaults_from_the_deployment() -> None:
    body = b"\xef\xbb\xbfsample_id,bam\r\nA1,s3://lab/a1.bam\r\n\r\nA2,s3://lab/a2.bam\r\n"  # BOM, CRLF, blank line
    result = validate(parse(body, "csv"), DEFAULTS, "sub-9")
    assert result.ok
    assert result.default_run_setting == DEFAULTS
    assert result.entries == [
        {"runSettingId": "A1", "name": "A1", "parameters": {"bam": "s3://lab/a1.bam"},
         "runTags": {TAG_SUBMISSION: "sub-9", TAG_SAMPLE: "A1",
          TAG_CHAIN: chain_id("sub-9", "A1")}},
        {"runSettingId": "A2", "name": "A2", "parameters": {"bam": "s3://lab/a2.bam"},
         "runTags": {TAG_SUBMISSION: "sub-9", TAG_SAMPLE: "A2",
          TAG_CHAIN: chain_id("sub-9", "A2")}},
    ]
    assert json.loads("[" + ",".join(result.encoded) + "]") == result.entries


def test_json_sheet_settings_override_the_deployment_and_merge_tags() -> None:
    document = {"batchName": "wgs-2026-03", "workflowVersionName": "v2", "storageType": "STATIC",
                "storageCapacity": 2400, "cacheBehavior": "CACHE_ALWAYS", "runTags": {"lab": "core"},
                "tags": {"cost-center": "42"},
                "parameters": {"ref": "s3://lab-ref/hg38.fa"},
                "runs": [{"runSettingId": "S1", "parameters": {"bam": "s3://lab/s1.bam"}, "runTags": {"x": "1"}}]}
    result = validate(parse(json.dumps(document).encode(), "json"), DEFAULTS, "sub")
    assert result.ok
    assert result.default_run_setting == {**DEFAULTS, "workflowVersionName": "v2", "storageType": "STATIC",
                                          "storageCapacity": 2400,
                                          "cacheBehavior": "CACHE_ALWAYS", "runTags": {"lab": "core"},
                                          "parameters": {"ref": "s3://lab-ref/hg38.fa"}}
    assert result.batch_name == "wgs-2026-03" and result.batch_tags == {"cost-center": "42"}
    assert result.entries[0]["runTags"] == {"x": "1", TAG_SUBMISSION: "sub", TAG_SAMPLE: "S1",
          TAG_CHAIN: chain_id("sub", "S1")}


def test_merged_parameter_size_counts_batch_defaults() -> None:
    defaults = {**DEFAULTS, "parameters": {"ref": "r" * 30_000}}
    body = ("sample_id,bam\nS1," + "b" * 20_000 + "\n").encode()
    result = validate(parse(body, "csv"), defaults, "sub")
    assert [e.reason for e in result.errors] == [
        "parameters are 50019 bytes after merging with the batch defaults; at most 50000"]
    # the same parameter overriding the default's key does not count twice
    body = ("sample_id,ref\nS1," + "b" * 20_000 + "\n").encode()
    assert validate(parse(body, "csv"), defaults, "sub").ok


def test_plan_inline_vs_settings_file_and_identity() -> None:
    identity = SheetIdentity("s3", "c0ffee", bucket="b", key="submissions/x.csv", version_id="v1", name="x.csv")
    assert identity.submission_id == SheetIdentity("s3", "c0ffee", bucket="b", key="submissions/x.csv",
                                                   version_id="v2").submission_id  # version is not identity
    assert identity.submission_id != SheetIdentity("s3", "c0ffee", bucket="b", key="submissions/y.csv").submission_id
    small = validate(parse(b"sample_id\n" + b"".join(b"S%d\n" % i for i in range(100)), "csv"), DEFAULTS, "s")
    plan = build_plan(small, identity, "batch-settings/")
    assert plan.inline and plan.request["requestId"] == f"autopilot-sheet-{identity.submission_id}"
    assert plan.request["batchName"] == "x.csv"
    large = validate(parse(b"sample_id\n" + b"".join(b"S%d\n" % i for i in range(101)), "csv"), DEFAULTS, "s")
    plan = build_plan(large, identity, "batch-settings/")
    body = b"".join(settings_chunks(large.encoded, chunk_bytes=64))
    assert not plan.inline and [e["runSettingId"] for e in json.loads(body)] == [f"S{i}" for i in range(101)]
    assert json.loads(body)[0] == {"runSettingId": "S0", "name": "S0",
                                   "runTags": {TAG_SUBMISSION: "s", TAG_SAMPLE: "S0",
          TAG_CHAIN: chain_id("s", "S0")}}
    assert large.run_count == plan.run_count == 101 and large.entries == []  # only the encoding is kept
    digest, size = settings_digest(large.encoded)
    assert plan.settings_key == f"batch-settings/{digest}.json" and plan.settings_bytes == size == len(body)


def test_format_detection() -> None:
    assert detect_format("a.JSON", b"x") == "json"
    assert detect_format("a.csv", b"{") == "csv"
    assert detect_format(None, b'\xef\xbb\xbf  {"runs": []}') == "json"
    assert detect_format("sheet", b"sample_id\n") == "csv"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*") if p.suffix in (".csv", ".json")))
def test_example_sheets_are_valid(example: str) -> None:
    data = (EXAMPLES / example).read_bytes()
    result = validate(parse(data, detect_format(example, data)), DEFAULTS, "sub")
    assert result.errors == [] and result.entries
