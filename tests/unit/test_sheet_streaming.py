"""A sheet is parsed from its file as it is decoded (issue 11: the worst accepted sheet stays under 512 MB RSS).

The launcher never holds a sheet whole as bytes and text next to what is parsed from it; these tests show
that reading this way changes nothing: the oracle is the whole-text reading (`decode` + `parse_json` /
`parse_csv`), whatever the window size.
"""

from __future__ import annotations

import io
import json

import pytest

from launcher import sheet as sheet_module
from launcher.sheet import Sheet, decode, detect_format, parse, parse_csv, parse_json
from launcher.validation import SPOOL_BYTES, EncodedRuns

JSON_SHEETS = [
    '{"runs": [{"runSettingId": "S1", "parameters": {"depth": 30, "bam": "s3://lab/a.bam"}}]}',
    '\ufeff  {"batchName": "cohort", "priority": 12345,\n "runs": [\n{"sample_id": "Ä1"},\n{"runSettingId": "S2"}\n],'
    ' "storageCapacity": 1200}  \n',
    '{"runs": [], "parameters": {"x": [1, 2.5e3, "é"]}}',
    '{"workflowId": "1", "runs": [{"runSettingId": "S1", "parameters": {"n": 1234567890123}}], "logLevel": "ALL"}',
    '{"runs": [{"runSettingId": "S1"}, 7, {"runSettingId": "S3", "cacheId": "9"}]}',
    '{"priority": 1234567}',
    '{"runs": [ {"runSettingId": "S1", "parameters": {"x": 1e5}} ,\n {"runSettingId": "S2", "parameters": '
    '{"y": "\\u00e9\\ud83d\\ude00"}},{"sample_id":"S3", "runTags": {"k": "v"}}  ]}',
]
MALFORMED_JSON = [
    '{"runs": [{"runSettingId": "S1"} {"runSettingId": "S2"}]}',
    '{"runs": []} x',
    '{"runs": [{"runSettingId": "S1", "runSettingId": "S2"}]}',
    '{"runs": [], "runs": []}',
    '{"runs": [{"runSettingId": "S1"},]}',
    '{"runs": [], }',
    '[1, 2]',
    ' \n ',
    '{"priority": 12',
]


def _as_tuple(sheet: Sheet) -> tuple[object, ...]:
    runs = [(r.row, r.fields, r.columns, r.param_bytes) for r in sheet.runs]
    return (sheet.format, sheet.settings, runs, sheet.errors, sheet.ids_known, sheet.truncated)


def _whole(body: bytes, fmt: str) -> Sheet:
    """The whole-text reading: the sheet decoded at once, then parsed from the text."""
    text, error = decode(body)
    if text is None:
        return Sheet(fmt, {}, [], [error])  # type: ignore[arg-type, list-item]
    if fmt == "json" and not text.strip():
        return Sheet("json", {}, [], [sheet_module.SheetError(None, None, "sheet is empty")])
    return parse_csv(text) if fmt == "csv" else parse_json(text)


@pytest.mark.parametrize("window", [1, 2, 7, 1 << 20])
@pytest.mark.parametrize("body", JSON_SHEETS + MALFORMED_JSON)
def test_a_json_sheet_read_window_by_window_is_the_whole_text_reading(
        body: str, window: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a JSON sheet (well formed or not) in a file, read `window` characters at a time
    monkeypatch.setattr(sheet_module, "WINDOW_CHARS", window)
    data = body.encode()
    # When it is parsed from the file
    sheet = parse(io.BytesIO(data), "json")
    # Then it is exactly what the whole-text reading finds (also every error's message and place)
    assert _as_tuple(sheet) == _as_tuple(_whole(data, "json"))


def test_a_number_cut_at_the_window_edge_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a window that ends inside a number
    monkeypatch.setattr(sheet_module, "WINDOW_CHARS", 14)
    sheet = parse(io.BytesIO(b'{"priority": 1234567, "runs": [{"runSettingId": "S1"}]}'), "json")
    # Then the number is the whole number
    assert sheet.settings == {"priority": 1234567} and not sheet.errors


def test_bytes_that_are_not_utf8_after_where_csv_reading_stopped_still_reject_the_sheet() -> None:
    # Given a malformed CSV record early, then more than the decoder's read-ahead, then a byte that is not UTF-8
    body = b'sample_id,x\nS1,"a"b\n' + b"".join(b"S%d,1\n" % i for i in range(5_000)) + b"S9,\xff\n"
    # When it is parsed from its file
    sheet = parse(io.BytesIO(body), "csv")
    # Then it is rejected as not UTF-8, with the offset and line the whole-text reading reports
    assert sheet.errors == _whole(body, "csv").errors
    assert sheet.errors[0].reason.startswith("sheet is not UTF-8: byte 0xff at offset")


@pytest.mark.parametrize("body", [b"\xef\xbb\xbfsample_id,x\r\nS1,1\r\n", b"\n\n  \n", b"sample_id,x\nS1,\xc3(\n",
                                  b'sample_id,x\nS1,"a"b\nS2,1\n'])
def test_a_csv_sheet_read_from_its_file_is_the_whole_text_reading(body: bytes) -> None:
    assert _as_tuple(parse(io.BytesIO(body), "csv")) == _as_tuple(_whole(body, "csv"))


def test_equal_csv_cells_are_kept_once() -> None:
    # Given a sheet whose rows repeat a value
    body = "sample_id,library\n" + "".join(f"S{i},LIB-{i % 3:03d}\n" for i in range(30))
    # When it is parsed
    sheet = parse(body.encode(), "csv")
    # Then the rows share one string per distinct cell
    values = [run.fields["parameters"]["library"] for run in sheet.runs]
    assert len(set(values)) == 3 and len({id(v) for v in values}) == 3


def test_the_format_of_a_file_is_found_past_a_long_blank_start() -> None:
    # Given a JSON sheet without extension that starts with more blank bytes than one read
    body = io.BytesIO(b"\n" * 100_000 + b'{"runs": []}')
    # Then it is JSON, and the file is read from its start afterwards
    assert detect_format(None, body) == "json" and body.tell() == 0
    assert detect_format(None, io.BytesIO(b"   \n")) == detect_format(None, b"   \n") == "csv"


def test_encoded_runs_read_back_the_same_pieces_each_time_also_from_disk() -> None:
    # Given more encoded entries than stay in memory
    pieces = [json.dumps([{"runSettingId": f"S{i}", "x": "é" * 1000}])[1:-1] for i in range(2 * SPOOL_BYTES // 1000)]
    encoded = EncodedRuns(pieces)
    # Then every reading returns exactly the pieces written, in order
    assert list(encoded) == pieces and list(encoded) == pieces and len(encoded) == len(pieces)


@pytest.mark.parametrize("tail", [b"", b'"\xff"'])
def test_a_json_sheet_over_the_batch_limit_stops_reading_unless_its_bytes_are_not_utf8(
        tail: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a JSON sheet of more runs than a batch holds (a smaller limit here), maybe with a byte that is not UTF-8
    monkeypatch.setattr(sheet_module, "MAX_RUNS", 3)
    data = b'{"runs": [' + b",".join(b'{"runSettingId": "S%d"}' % i for i in range(6)) + b'], "batchName": ' + \
        (tail or b'"x"') + b"}"
    # When it is parsed from its file, Then it is what the whole-text reading says
    assert _as_tuple(parse(io.BytesIO(data), "json")) == _as_tuple(_whole(data, "json"))
