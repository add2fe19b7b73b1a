"""Sheet bounds come from the API (botocore's omics model, the guide's batch limit), not from our own guesses.

Each test reproduces a defect of issue 11 ("Bounds from the API, not by hand") with a sheet a careless or
hostile user could send: the sheet is REJECTED with a clear reason, never an exception out of the launcher.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterator

import botocore.session
import pytest
from moto import mock_aws

from launcher import sheet as sheet_module
from launcher.plan import SheetIdentity, batch_name_for
from launcher.sheet import parse
from launcher.validation import compact, validate
from sandbox.moto_speedups import speedups
from shared.api_limits import MAX_RUNS, api_limits, category_classes
from tests.launcher_env import BUCKET, LauncherEnv, csv_sheet, launcher_env

DEFAULTS = {"workflowId": "1", "roleArn": "arn:aws:iam::123456789012:role/r", "outputUri": "s3://lab-out/"}
MODEL = botocore.session.get_session().get_service_model("omics")
BATCH = MODEL.operation_model("StartRunBatch").input_shape
ENTRY = BATCH.members["batchRunSettings"].members["inlineSettings"].member


def _errors(body: bytes | str, fmt: str = "csv") -> list[tuple[int | None, str | None, str]]:
    data = body.encode() if isinstance(body, str) else body
    return [(e.row, e.column, e.reason) for e in validate(parse(data, fmt), DEFAULTS, "sub").errors]  # type: ignore[arg-type]


@pytest.fixture
def env() -> Iterator[LauncherEnv]:
    with speedups(), mock_aws(), launcher_env() as environment:
        yield environment


# ------------------------------------------------------------------------------- the service model
def test_limits_are_the_service_models() -> None:
    """The model is the oracle: lengths of runSettingId, name, batchName and the bounds the sheet module uses."""
    limits = api_limits()
    assert limits.run_setting_id.max_length == ENTRY.members["runSettingId"].metadata["max"]
    assert limits.run_name.max_length == ENTRY.members["name"].metadata["max"]
    assert limits.batch_name.max_length == BATCH.members["batchName"].metadata["max"] == 64
    assert limits.inline_max == BATCH.members["batchRunSettings"].members["inlineSettings"].metadata["max"]
    assert ENTRY.members["outputUri"].metadata["max"] == sheet_module.MAX_URI
    assert ENTRY.members["runTags"].key.metadata["max"] == sheet_module.MAX_TAG_KEY
    assert ENTRY.members["runTags"].value.metadata["max"] == sheet_module.MAX_TAG_VALUE


@pytest.mark.parametrize("char", ["\u200b", "\u00ad", "\u0085", "\u0007"])
def test_ids_with_characters_the_start_run_batch_pattern_forbids_are_rejected(char: str) -> None:
    """StartRunBatch's runSettingId pattern admits Unicode letters, marks, separators, symbols, numbers and
    punctuation only; U+200B / U+00AD are format characters (Cf), U+0085 a control (Cc)."""
    pattern = ENTRY.members["runSettingId"].metadata["pattern"]
    allowed = set(re.findall(r"\\p\{([A-Z])\}", pattern))
    assert unicodedata.category(char)[0] not in allowed  # the oracle: the model forbids it
    errors = _errors(f"sample_id\nS{char}1\n")
    assert errors == [(2, "sample_id", f"runSettingId contains a character the HealthOmics API does not accept "
                                       f"(U+{ord(char):04X}; RunSettingId allows only Unicode letters, marks, "
                                       "separators, symbols, numbers, punctuation)")]


def test_ids_the_pattern_allows_pass_including_non_ascii_letters_and_spaces() -> None:
    assert _errors("sample_id\nNA12878\nÉchantillon 7\n患者-3\nS\u00a01\n") == []


def test_a_pattern_of_another_form_is_refused_loudly_not_guessed() -> None:
    assert category_classes("[\\p{L}||\\p{N}]+") == {"L", "N"}
    with pytest.raises(ValueError, match="unsupported service-model pattern"):
        category_classes("[A-Za-z0-9]+")


def test_batch_name_is_bounded_by_the_model_not_by_hand() -> None:
    """The API allows 64 characters of batchName: a longer one in a sheet is an error, a derived one is cut."""
    limit = BATCH.members["batchName"].metadata["max"]
    long_name = "b" * (limit + 1)
    body = json.dumps({"batchName": long_name, "runs": [{"runSettingId": "S1"}]})
    assert _errors(body, "json") == [(None, "batchName", f"batchName is {limit + 1} characters; 1 to {limit} allowed")]
    identity = SheetIdentity("s3", "0" * 64, bucket="b", key="submissions/" + "n" * 200 + ".csv")
    assert len(batch_name_for(identity, None)) == limit


# ----------------------------------------------------------------------------------------- JSON
def test_json_sheet_with_runs_twice_is_rejected_not_silently_the_last_list() -> None:
    body = '{"runs": [{"runSettingId": "A"}], "runs": [{"runSettingId": "B"}]}'
    assert _errors(body, "json") == [
        (None, "runs", "key 'runs' appears twice in one JSON object (only one value can count)")]


def test_duplicate_key_inside_a_run_names_its_row() -> None:
    body = '{"runs": [{"runSettingId": "A"}, {"runSettingId": "B", "parameters": {"x": 1, "x": 2}}]}'
    assert _errors(body, "json") == [
        (2, None, "key 'x' appears twice in one JSON object (only one value can count)")]


def test_whitespace_only_run_setting_id_is_rejected_from_json_as_from_csv() -> None:
    assert _errors('{"runs": [{"runSettingId": "  "}, {"runSettingId": "\\t"}]}', "json") == [
        (1, "runSettingId", "runSettingId is missing"), (2, "runSettingId", "runSettingId is missing")]
    assert _errors("sample_id,x\n  ,1\n") == [(2, "sample_id", "runSettingId is missing")]


def test_json_reading_stops_after_the_batch_limit() -> None:
    """Guide: one batch holds at most 100,000 runs; the 100,001st stops reading."""
    body = '{"runs": [' + ",".join(f'{{"runSettingId": "S{i}"}}' for i in range(MAX_RUNS + 5)) + "]}"
    sheet = parse(body.encode(), "json")
    assert sheet.truncated and not sheet.runs
    assert [e.reason for e in sheet.errors] == [
        f"sheet has more than {MAX_RUNS} runs; one batch holds at most {MAX_RUNS} (reading stopped there)"]


def test_json_errors_keep_their_line_and_column() -> None:
    assert _errors('{"runs": [{"runSettingId": "S1"} {"runSettingId": "S2"}]}', "json") == [
        (None, None, "sheet is not valid JSON: Expecting ',' delimiter at line 1 column 34")]
    assert _errors('{"runs": []} x', "json") == [
        (None, None, "sheet is not valid JSON: Extra data at line 1 column 14")]
    assert _errors("[1, 2]", "json") == [
        (None, None, 'a JSON sheet is an object with batch settings and a "runs" list')]


# Parameter values whose compact JSON is longer than the text that wrote them (or as long, per character).
GROWING_VALUES = ["1e5", "1e15", "-9e15", "1e-7", "-2.2250738585072014e-308", "1e400", '"\\u001f\\"\\\\"', '"é😀\\/"',
                  '"\\u00e9\\ud83d\\ude00"', '"😀😀😀😀😀😀"', '[1E2,{"a":[0.1,true,null]}]', "12345678901234567890"]


@pytest.mark.parametrize("value", GROWING_VALUES)
def test_a_json_runs_parameter_bound_holds_for_values_whose_encoding_grows(value: str) -> None:
    # Given a run whose parameter is written as briefly as JSON allows (its encoding as the settings file
    # writes it may be longer than the sheet's text)
    many = ",".join([value] * 1000)  # the value, not the run's other text, makes the size
    body = f'{{"runs": [{{"runSettingId": "S1","parameters":{{"v":[{many}],"w":{value}}}}}]}}'
    for reading in (parse(body.encode(), "json"), sheet_module.parse_json(body)):  # window by window, whole text
        run = reading.runs[0]
        # Then the size bound the launcher takes from the sheet's text is never below the exact size
        exact = len(compact(run.fields["parameters"]).encode())
        assert run.param_bytes is not None and run.param_bytes >= exact


def test_json_parameters_over_the_limit_are_measured_exactly_and_under_it_accepted() -> None:
    # Given JSON runs with parameters over the limit, and under it by far less than the bound says
    big = {"runs": [{"runSettingId": "S1", "parameters": {"bam": "x" * 50_000}},
                    {"runSettingId": "S2", "parameters": {"bam": "x" * 10_000, "n": 1e5}}]}
    # Then only the first is rejected, with its exact size, as a CSV row's
    assert _errors(json.dumps(big), "json") == [
        (1, "parameters", "parameters are 50010 bytes after merging with the batch defaults; at most 50000")]


# ------------------------------------------------------------------------------------------ CSV
def test_row_numbers_are_spreadsheet_rows_after_a_multi_line_quoted_cell() -> None:
    """A quoted cell that spans lines is one spreadsheet row: the rows after it keep their numbers."""
    body = 'sample_id,note,input_bam\nS1,"line one\nline two\nline three",s3://lab/a.bam\nS2,ok,s3:/bad\nS1,x,\n'
    assert _errors(body) == [
        (3, "input_bam", "'s3:/bad' is not a well-formed s3://bucket/key URI"),
        (4, "sample_id", "duplicate runSettingId 'S1' (first at row 2)"),
    ]


def test_blank_lines_are_rows_too_as_a_spreadsheet_shows_them() -> None:
    assert _errors("\nsample_id,input_bam\n\nS1,s3:/bad\n") == [
        (4, "input_bam", "'s3:/bad' is not a well-formed s3://bucket/key URI")]


def test_csv_reading_stops_after_the_batch_limit() -> None:
    body = "sample_id\n" + "".join(f"S{i}\n" for i in range(2 * MAX_RUNS))
    sheet = parse(body.encode(), "csv")
    assert sheet.truncated and not sheet.runs and len(sheet.errors) == 1


def test_a_full_100000_sample_csv_with_a_trailing_row_of_commas_is_not_refused_as_too_many_runs() -> None:
    """Spreadsheets export trailing rows of empty cells (",,,,,") after the data. They are not runs (the parser
    leaves them out), but the 100,000-runs-a-batch limit (the guide, 3. Batch runs / 5. Quotas) was applied
    before that, to records counted with them: a valid sheet of exactly 100,000 samples was REJECTED with "sheet
    has more than 100000 runs". Blank records no longer count; 100,001 samples still do not fit."""
    one_too_many = csv_sheet(100_001)
    full = one_too_many[: one_too_many.rindex("\n", 0, -1) + 1]  # the same sheet but its last row (built once)
    sheet = parse((full + ",,,,,\n,,\n").encode(), "csv")
    assert sheet.errors == [] and sheet.run_count == MAX_RUNS
    over = parse((one_too_many + ",,,,,\n").encode(), "csv")
    assert [e.reason for e in over.errors] == [
        "sheet has more than 100000 runs; one batch holds at most 100000 (reading stopped there)"]


def test_a_numeric_cell_over_the_int_digit_limit_is_a_clear_rejection(env: LauncherEnv) -> None:
    limit = sys.get_int_max_str_digits()
    digits = "7" * (limit + 1)
    env.upload("submissions/long-number.csv", f"sample_id,depth,ranks,priority\nS1,{digits},[{digits}],{digits}\n")
    outcome = env.launcher.launch_object(BUCKET, "submissions/long-number.csv")
    assert outcome is not None and outcome.status == "REJECTED"
    assert [(e["row"], e["column"], e["reason"]) for e in outcome.errors] == [
        (2, "depth", f"number has {limit + 1} digits; at most {limit}"),
        (2, "priority", f"number has {limit + 1} digits; at most {limit}"),
        (2, "ranks", f"invalid JSON value: a number has more than {limit} digits"),
    ]


def test_a_json_sheet_with_an_over_long_number_is_a_clear_rejection() -> None:
    limit = sys.get_int_max_str_digits()
    body = '{"runs": [{"runSettingId": "S1", "parameters": {"n": ' + "9" * (limit + 1) + "}}]}"
    assert _errors(body, "json") == [(1, None, f"sheet is not valid JSON: a number has more than {limit} digits")]


# ------------------------------------------------------------------------------------ sheet size
def test_a_sheet_over_the_size_cap_is_rejected_before_it_is_read(env: LauncherEnv) -> None:
    """The cap (sheetMaxBytes) is checked on the object's size, before its body is downloaded."""
    env.launcher.config = env.launcher.config.model_copy(update={"max_sheet_bytes": 1000})
    env.upload("submissions/huge.csv", "sample_id\n" + "S\n" * 600)
    reads: list[str] = []
    env.s3.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    outcome = env.launcher.launch_object(BUCKET, "submissions/huge.csv")
    assert outcome is not None and outcome.status == "REJECTED"
    assert outcome.errors == [{"row": None, "column": None,
                               "reason": "sheet is 1210 bytes; at most 1000 (sheetMaxBytes)"}]
    assert "submissions/huge.csv" not in reads
    report = env.read_json(f"s3://{BUCKET}/submissions/huge.csv.errors.json")
    assert report["status"] == "REJECTED"
    assert env.omics_calls == 1  # the fixture's CreateRunCache only
