"""A CSV sheet's settings file is put together from its columns (issue 13: the launcher within 2x a plain
JSON load+dump).

validation._table_pieces encodes a plainly valid CSV sheet's entries from its cells' JSON, without a dict per
run; the oracle is the row-by-row way (the runs made into RunRows, _plain_entries, json): both must give the
same settings file, byte for byte, whatever the sheet and the deployment (a re-launched sheet must hash the
same). Sheets the columns cannot show plainly valid take the row-by-row way.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from launcher import validation
from launcher.plan import settings_chunks
from launcher.sheet import MAX_URI, CsvTable, parse, s3_uri_problem, s3_uris_fine
from launcher.validation import ENCODE_GROUP, validate
from shared.api_limits import api_limits
from shared.lineage import ENV_STACK_ID, ENV_TAG_SAMPLE, launch_tagger

ROLE = "arn:aws:iam::123456789012:role/r"
DEFAULTS = {"workflowId": "1", "roleArn": ROLE, "outputUri": "s3://lab-out/"}
ROWS = api_limits().inline_max + ENCODE_GROUP + 3  # beyond inline: the settings file; over one piece


def _csv(header: str, row: Any, rows: int = ROWS, blank_every: int = 0) -> bytes:
    lines = [header]
    for i in range(rows):
        lines.append(row(i))
        if blank_every and i % blank_every == 0:
            lines.append(",,")  # a blank line: not a run
    return ("\n".join(lines) + "\n").encode()


SHEETS: dict[str, bytes] = {
    "usual": _csv("sample_id,bam,depth,call,intervals,tag:project",
                  lambda i: f'S{i},s3://lab/S{i}.bam,{30 + i % 5},{"true" if i % 2 else "false"},'
                            f'"[""chr1"",""chr{i % 3}""]",cohort-a'),
    "every type, escapes, unicode": _csv(
        "runSettingId,param:name,f,j,q,t,tag:k é,tag:x",
        lambda i: f'  R{i}é ,"a ""quoted"" \\ value",{i}.5e-3,"{{""a"": [1, null, {{}}]}}","""42""",'
                  f'tab\there,v {i % 4},"ü\u2028"'),
    "unset cells (every run still sets one)": _csv(
        "sample_id,a,b,tag:p,tag:q", lambda i: f"S{i},{i if i % 3 else ''},{'' if i % 3 else 'x'},"
                                               f"{'' if i % 2 else 'p'},{'q' if i % 2 else ''}", blank_every=97),
    "no tag columns": _csv("sample_id,bam", lambda i: f"S{i},s3://lab/{i}.bam"),
    "no parameter columns": _csv("sample_id,tag:p", lambda i: f"S{i},v{i % 7}"),
    "only ids": _csv("runSettingId", lambda i: f"S{i}"),
    # not one shape, or not plainly valid from the columns: row by row
    "a run without parameters": _csv("sample_id,bam", lambda i: f"S{i},{'' if i == 500 else 'x'}"),
    "a run without tags": _csv("sample_id,bam,tag:p", lambda i: f"S{i},x,{'' if i == 7 else 'p'}"),
    "a field column": _csv("sample_id,name,bam", lambda i: f"S{i},n{i},x"),
    "an empty field column": _csv("sample_id,priority,bam", lambda i: f"S{i},,x"),
    "a large cell": _csv("sample_id,bam", lambda i: f"S{i},{'b' * (9_000 if i == 3 else 1)}"),
}
DEPLOYS: list[dict[str, Any]] = [
    DEFAULTS,
    {**DEFAULTS, "name": "cohort"},
    {**DEFAULTS, "runTags": {"d": "v"}, "parameters": {"ref": "r" * 40_000}},
]


def _settings_file(body: bytes, deploy: dict[str, Any]) -> bytes:
    validated = validate(parse(body, "csv"), deploy, "sub-1")
    assert validated.ok, validated.errors[:3]
    return b"".join(settings_chunks(validated.encoded))


@pytest.fixture(params=[(None, None), ("stack-a", "false")], ids=["no stack", "stack, no sample tag"])
def lineage_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    stack, sample_tag = request.param
    for name, value in ((ENV_STACK_ID, stack), (ENV_TAG_SAMPLE, sample_tag)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize("deploy", DEPLOYS, ids=["defaults", "batch name", "batch tags and parameters"])
@pytest.mark.parametrize("name", list(SHEETS))
def test_a_csv_sheets_settings_file_from_its_columns_is_the_row_by_row_one(
        name: str, deploy: dict[str, Any], lineage_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    made_rows: list[int] = []
    run_rows = CsvTable.run_rows

    def counted(table: CsvTable) -> Any:
        made_rows.append(len(table))
        return run_rows(table)

    monkeypatch.setattr(CsvTable, "run_rows", counted)
    from_columns = _settings_file(SHEETS[name], deploy)
    took_columns = not made_rows
    monkeypatch.setattr(validation, "_table_plainly_valid", lambda *_: False)
    row_by_row = _settings_file(SHEETS[name], deploy)
    assert hashlib.sha256(from_columns).hexdigest() == hashlib.sha256(row_by_row).hexdigest()
    assert from_columns == row_by_row
    one_shape = list(SHEETS).index(name) < list(SHEETS).index("a run without parameters")
    assert took_columns == one_shape


def test_an_inline_batch_keeps_its_entries() -> None:
    body = _csv("sample_id,bam", lambda i: f"S{i},x", rows=api_limits().inline_max)
    validated = validate(parse(body, "csv"), DEFAULTS, "sub-1")
    assert validated.ok and len(validated.entries) == validated.run_count == api_limits().inline_max


@pytest.mark.parametrize("sample_tag", ["true", "false"])
@pytest.mark.parametrize("stack", [None, "stack-a"])
def test_lineage_tags_column_by_column_are_each_samples_tags(
        sample_tag: str, stack: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TAG_SAMPLE, sample_tag)
    tagger = launch_tagger("sub-1", stack)
    samples = ["S1", "é ü", "S1", "x" * 300]
    columns = tagger.columns(samples)
    per_sample = [{key: value if isinstance(value, str) else value[i] for key, value in columns}
                  for i in range(len(samples))]
    assert [list(tags.items()) for tags in per_sample] == [list(tagger(s).items()) for s in samples]


URIS = ["s3://lab/a.bam", "s3://lab", "s3://la/x", "s3://a.b-c/..//x", "s3://a..b/x", "s3://ab../x", "s3://ab.-/x",
        "s3://Lab/x", "S3://lab/x", "s3:/lab/x", "s3://lab/\x1fx", "s3://lab/é ü", "s3://" + "b" * 63 + "/x",
        "s3://" + "b" * 64 + "/x", "s3://lab/" + "k" * (MAX_URI - 9), "s3://lab/" + "k" * (MAX_URI - 8), "s3://lab/\n",
        "s3://lab.", "s3://-lab/x", "s3://lab/x\u2028", "s3://lab/a\ns3://lab/b", "s3://a..b\ns3://lab/b"]


@pytest.mark.parametrize("uri", URIS)
def test_s3_uris_are_fine_together_as_each_is_alone(uri: str) -> None:
    assert s3_uris_fine([uri]) == (s3_uri_problem(uri) is None)
    assert s3_uris_fine(["s3://lab/a", uri, "s3://lab/b"]) == (s3_uri_problem(uri) is None)
