"""Sample sheets: CSV and JSON documents -> batch-level settings plus one run entry per sample.

Parsing never raises on bad content: every problem becomes a `SheetError(row, column, reason)` so the
whole sheet is reported at once (validation.py adds the checks that need the deploy configuration).

CSV (UTF-8, header row first):
    runSettingId | sample_id        the run's id in the batch (exactly one of the two columns)
    name, outputUri, priority       per-run settings the batch API accepts
    outputBucketOwnerId             per-run setting (12-digit account id)
    engineSettings                  per-run setting (JSON object)
    tag:<key>                       a run tag <key> = cell text
    param:<name>                    workflow parameter <name> (escape for names that collide with the above)
    <anything else>                 workflow parameter of that name
  Cells are typed the way HealthOmics parameters allow: `true`/`false` -> boolean, numbers -> number
  (no leading zeros: `007` stays text), `[...]`/`{...}` -> JSON array/object, `"..."` -> JSON string (to
  force text, e.g. `"42"`), anything else -> text. An empty cell leaves the parameter unset for that run.
  Rows are numbered as a spreadsheet shows them: the header is row 1, the first sample row 2.

JSON (UTF-8): {"batchName": ..., "tags": {...}, <defaultRunSetting fields>..., "runs": [{...}, ...]}
  Batch-level fields are those of StartRunBatch's defaultRunSetting (workflowId, workflowVersionName,
  outputUri, cacheId, cacheBehavior, storageType, storageCapacity, runGroupId, retentionMode, logLevel,
  priority, parameters, runTags, name, ...); each run carries only per-run fields (runSettingId or
  sample_id, name, outputUri, priority, parameters, outputBucketOwnerId, runTags, engineSettings).
  Runs are numbered from 1 in the order of the list.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import math
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, islice, repeat
from typing import IO, Any, Literal, TextIO

from shared.api_limits import MAX_RUNS, api_limits

SheetFormat = Literal["csv", "json"]

ID_COLUMNS = ("runSettingId", "sample_id")
# Fields of defaultRunSetting that a sheet may set (roleArn is the deployment's: it is the only role the
# launcher may pass to HealthOmics). Sheet-level-only extras: batchName, tags (batch resource tags).
BATCH_FIELDS = frozenset({"workflowId", "workflowType", "workflowVersionName", "workflowOwnerId", "name",
                          "cacheId", "cacheBehavior", "runGroupId", "priority", "parameters", "storageCapacity",
                          "storageType", "outputUri", "logLevel", "runTags", "retentionMode",
                          "outputBucketOwnerId", "networkingMode", "engineSettings", "scratchStorageMode"})
SHEET_ONLY_FIELDS = frozenset({"batchName", "tags"})
# The deployment's alone: the role and its session policy bound what runs may read and write; reading
# requester-pays inputs bills this account; a HealthOmics configuration (VPC networking) opens the runs'
# network and StartRun authorizes on it, which the stack grants for none. tests/unit/test_sheet_fields_model.py
# checks that these and BATCH_FIELDS are exactly botocore's defaultRunSetting members.
FIXED_BY_DEPLOYMENT = frozenset({"roleArn", "sessionPolicy", "requesterPaysEnabled", "configurationName"})
# Per-run fields a CSV column sets as they are: not the id, nor the objects made of many columns.
_NOT_COLUMN_FIELDS = frozenset({"runSettingId", "parameters", "runTags"})


def per_run_fields() -> frozenset[str]:
    """The fields one run of a batch may set (everything else is batch-level only): botocore's StartRunBatch
    inline run setting, read with the first sheet (as validation's limits are), not at import."""
    return api_limits().per_run_fields


@lru_cache(maxsize=1)
def batch_only_fields() -> frozenset[str]:
    return (BATCH_FIELDS | FIXED_BY_DEPLOYMENT) - per_run_fields()


TAG_PREFIX = "tag:"
PARAM_PREFIX = "param:"

MAX_URI = 750
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
RESERVED_TAG_PREFIX = "autopilot:"  # shared.lineage.TAG_PREFIX: lineage tags are the product's own

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
# s3://bucket/key: bucket names as S3 allows them (3-63 lowercase letters, digits, dots, hyphens).
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^\x00-\x1f]*)?")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def s3_uri_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be an s3:// URI, not {type(value).__name__}"
    if len(value) > MAX_URI:
        return f"S3 URI is {len(value)} characters; at most {MAX_URI}"
    match = _S3_URI.fullmatch(value)
    if not match or ".." in match.group(1):
        return f"{value!r} is not a well-formed s3://bucket/key URI"
    return None


# Lines of what s3_uri_problem passes, but the length: _S3_URI, with no ".." in the bucket (up to the first "/").
# Compiled on first use (re's cache), not by every cold start.
_WELL_FORMED_S3_URI_LINES = r"(?:s3://(?![a-z0-9.-]*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/[^\x00-\x1f]*)?\n)*+"


def s3_uris_fine(values: Collection[str]) -> bool:
    """No s3_uri_problem in any of `values` (strings), shown at C speed for them all at once (a sheet's
    100,000 inputs): one match over their lines (no well-formed URI holds a line break)."""
    if not values:
        return True
    lines = "\n".join(values) + "\n"
    return max(map(len, values)) <= MAX_URI and lines.count("\n") == len(values) and \
        re.fullmatch(_WELL_FORMED_S3_URI_LINES, lines) is not None


S3_LIKE_PREFIXES = ("s3:", "S3:")  # a value starting so is meant as an S3 URI, and checked as one


def _s3_like(value: Any) -> bool:
    return type(value) is str and value.startswith(S3_LIKE_PREFIXES)


def parameter_value_problem(value: Any) -> str | None:
    """A parameter value's problem: a malformed S3 URI (the value, or an element of a list), or null."""
    if _s3_like(value):
        return s3_uri_problem(value)
    if type(value) is list:
        return next((p for item in value if _s3_like(item) and (p := s3_uri_problem(item))), None)
    if value is None:
        return "null is not a parameter value; leave the cell empty (or omit the key) to leave it unset"
    return None


def tag_key_problem(key: str) -> str | None:
    if key.startswith(RESERVED_TAG_PREFIX):
        return f"tag key {key!r} uses the reserved prefix {RESERVED_TAG_PREFIX!r}"
    if not 1 <= len(key) <= MAX_TAG_KEY:
        return f"tag key must be 1 to {MAX_TAG_KEY} characters"
    return None


@dataclass(frozen=True, order=True)
class SheetError:
    """One problem: where (row, column; None when it concerns the whole sheet) and why."""

    row: int | None
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"row {self.row}" if self.row else "",
                                      f"column {self.column}" if self.column else "") if p)
        return f"{where}: {self.reason}" if where else self.reason


@dataclass(slots=True)
class RunRow:
    """One run of the sheet: where it came from and its per-run fields (batch API names).

    `columns` maps a field (or `parameters.<name>` / `runTags.<key>`) to the column that set it, so a
    later check can point at the cell."""

    row: int
    fields: dict[str, Any]
    columns: dict[str, str] = field(default_factory=dict)
    # A cheap upper bound of the run's own parameters as compact JSON (UTF-8 bytes), from the characters the
    # sheet spent on the run; None: unknown (validation then encodes them to know)
    param_bytes: int | None = None
    # CSV: parameter values and tags were already checked column by column (each distinct cell once)
    values_checked: bool = False

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


@dataclass
class Sheet:
    format: SheetFormat
    settings: dict[str, Any]
    _runs: list[RunRow]
    errors: list[SheetError]
    ids_known: bool = True  # False when the header has no usable id column (already one error for it)
    truncated: bool = False  # more than MAX_RUNS runs: reading stopped (already one error for it)
    # CSV: the runs column by column, made into RunRows on first use of `runs` (validation encodes a plainly
    # valid sheet's entries straight from the columns: no dict per run)
    table: CsvTable | None = field(default=None, repr=False, compare=False)

    @property
    def runs(self) -> list[RunRow]:
        if self.table is not None:
            self._runs, self.table = self.table.run_rows(), None
        return self._runs

    @property
    def run_count(self) -> int:
        return len(self.table) if self.table is not None else len(self._runs)

    def release_runs(self) -> None:
        """Let the runs go (their entries are encoded): they need not coexist with the encoding."""
        self.table = None
        self._runs.clear()


class CsvColumn:
    """A typed column of a CSV sheet: the field, parameter or tag key it sets, each run's cell text
    (stripped), and each distinct text's value (UNSET: empty, or rejected with an error)."""

    __slots__ = ("name", "texts", "values")  # a plain class: a dataclass costs every cold start its making

    def __init__(self, name: str, texts: list[str], values: dict[str, Any]) -> None:
        self.name, self.texts, self.values = name, texts, values

    def run_values(self) -> list[Any]:
        return list(map(self.values.__getitem__, self.texts))


class CsvTable:
    """A CSV sheet's runs, column by column (blank lines left out; as many entries in each list as runs):
    each run's spreadsheet row, id text ("": none; `ids` None without a usable id column), field, parameter
    and tag columns, RunRow.columns (shared by every run) and each run's RunRow.param_bytes."""

    __slots__ = ("fields", "ids", "labels", "lines", "param_bytes", "params", "tags")

    def __init__(self, lines: list[int], ids: list[str] | None, fields: list[CsvColumn], params: list[CsvColumn],
                 tags: list[CsvColumn], labels: dict[str, str], param_bytes: list[int]) -> None:
        self.lines, self.ids, self.fields, self.params, self.tags = lines, ids, fields, params, tags
        self.labels, self.param_bytes = labels, param_bytes

    def __len__(self) -> int:
        return len(self.lines)

    def run_rows(self) -> list[RunRow]:
        count = len(self.lines)
        ids: list[Any] = [v or None for v in self.ids] if self.ids is not None else [None] * count
        param_dicts = _row_dicts(self.params, count)
        tag_dicts = _row_dicts(self.tags, count)
        field_dicts = _row_dicts(self.fields, count)
        if not self.fields and None not in ids and all(param_dicts) and (not self.tags or all(tag_dicts)):
            entries = [{"runSettingId": i, "parameters": p, "runTags": t} if self.tags else
                       {"runSettingId": i, "parameters": p}
                       for i, p, t in zip(ids, param_dicts, tag_dicts, strict=True)]
        else:
            entries = []
            for run_id, row_fields, row_params, row_tags in zip(ids, field_dicts, param_dicts, tag_dicts, strict=True):
                if run_id is not None:
                    row_fields["runSettingId"] = run_id
                if row_params:
                    row_fields["parameters"] = row_params
                if row_tags:
                    row_fields["runTags"] = row_tags
                entries.append(row_fields)
        labels = self.labels
        return [RunRow(line, entry, labels, bound, True)
                for line, entry, bound in zip(self.lines, entries, self.param_bytes, strict=True)]


def detect_format(name: str | None, data: bytes | IO[bytes]) -> SheetFormat:
    """By file extension; otherwise a document starting with `{` is JSON, anything else CSV. `data`: the
    sheet's bytes, or a seekable file of them (read up to its first non-blank byte, then rewound)."""
    lowered = (name or "").lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    if isinstance(data, bytes | bytearray):
        return "json" if data.lstrip(_BLANK)[:1] == b"{" else "csv"
    head = data.read(64)
    while head and not head.lstrip(_BLANK):  # only blank bytes so far: what follows decides
        head = data.read(1 << 16)
    data.seek(0)
    return "json" if head.lstrip(_BLANK)[:1] == b"{" else "csv"


_BLANK = b"\xef\xbb\xbf \t\r\n"


def decode(data: bytes) -> tuple[str | None, SheetError | None]:
    """UTF-8 text (a UTF-8 byte-order mark is allowed and dropped); anything else is rejected clearly."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None, SheetError(None, None, "sheet is UTF-16 encoded; save it as UTF-8 (e.g. 'CSV UTF-8')")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1].hex()
        return None, SheetError(None, None, f"sheet is not UTF-8: byte 0x{byte} at offset {error.start} "
                                            f"(line {line}) is invalid; save it as UTF-8 (e.g. 'CSV UTF-8')")
    return text.removeprefix("\ufeff"), None


def parse(source: bytes | IO[bytes], fmt: SheetFormat) -> Sheet:
    """`source`: the sheet's bytes, or a seekable binary file of them (the launcher's spooled S3 body).

    Both formats are decoded as they are read: the sheet is never held whole as bytes and text at once,
    next to what is parsed from it. A JSON sheet that cannot be read that way (any error) is read again
    whole by parse_json, which says what is wrong."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    if stream.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return Sheet(fmt, {}, [], [SheetError(None, None, "sheet is UTF-16 encoded; save it as UTF-8 (e.g. "
                                                          "'CSV UTF-8')")])
    stream.seek(0)
    if fmt == "csv":
        return _parse_csv_stream(stream)
    text_stream = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        return _parse_json_stream(text_stream)
    except _RunsOverflow:  # as parse_json says, once the rest of the sheet is known to be UTF-8 too
        with contextlib.suppress(UnicodeDecodeError):
            while text_stream.read(CHUNK_CHARS):
                pass
            return Sheet("json", {}, [], [too_many_runs()], truncated=True)
    except Exception:  # anything but a well-formed sheet: read whole, for the exact same error
        pass
    finally:
        text_stream.detach()
    stream.seek(0)
    data = source if isinstance(source, bytes | bytearray) else stream.read()
    text, error = decode(bytes(data) if isinstance(data, bytearray) else data)
    del data
    if text is None:
        assert error is not None
        return Sheet(fmt, {}, [], [error])
    if not text.strip():
        return Sheet(fmt, {}, [], [SheetError(None, None, "sheet is empty")])
    return parse_json(text)


def _parse_csv_stream(stream: IO[bytes]) -> Sheet:
    """parse_csv over an incremental UTF-8 decoder. Bytes that are not UTF-8 anywhere in the sheet (also
    after where reading stopped) reject it as decode() does, with the same message (read again: errors only).
    A sheet of only whitespace is "empty" for parse_csv too: no row has a non-blank cell."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        sheet = parse_csv(text)
        while text.read(CHUNK_CHARS):  # the rest must be UTF-8 as well
            pass
        return sheet
    except UnicodeDecodeError:
        stream.seek(0)
        _, error = decode(stream.read())
        assert error is not None
        return Sheet("csv", {}, [], [error])
    finally:
        text.detach()  # the caller's file stays open


CHUNK_CHARS = 1 << 20


# ---------------------------------------------------------------------------------------------- CSV
def typed_cell(text: str) -> tuple[Any, str | None]:
    """A cell's value as a HealthOmics parameter value; (value, error)."""
    if text in ("true", "TRUE", "True"):
        return True, None
    if text in ("false", "FALSE", "False"):
        return False, None
    first = text[0]
    if first in "-0123456789":
        if _INT.fullmatch(text):
            return _int(text)
        if _FLOAT.fullmatch(text):
            value = float(text)
            if math.isfinite(value):
                return value, None
            return None, f"number {text} is out of range"
        return text, None
    if first in "[{\"":
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as error:
            return None, f"invalid JSON value: {error.msg} at character {error.pos + 1}"
        except ValueError as error:  # a number too long to convert, NaN, Infinity
            return None, f"invalid JSON value: {_value_error(error)}"
        if first == "\"" and not isinstance(value, str):
            return None, "invalid JSON value: a quoted cell must be one JSON string"
        if _SURROGATE_ESCAPE.search(text) and (escape := lone_surrogate(value)):
            return None, f"invalid JSON value: {escape} is {_SURROGATE_ADVICE}"
        return value, None
    return text, None


def _classify(header: list[str], row: int = 1) -> tuple[list[tuple[str, str, str]], list[SheetError], str | None]:
    """Each column -> (kind, name, header label): kind in id | field | tag | param | skip; `row`: the header's."""
    errors: list[SheetError] = []
    kinds: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    parameters: dict[str, str] = {}  # parameter -> the column setting it (`ref` and `param:ref` both name ref)
    id_columns = [name for name in map(str.strip, header) if name in ID_COLUMNS]  # as the cells are classified
    field_columns, batch_only = per_run_fields() - _NOT_COLUMN_FIELDS, batch_only_fields()
    for index, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            errors.append(SheetError(row, f"#{index}", "header cell is empty"))
            kinds.append(("skip", "", ""))
            continue
        if name in seen:
            errors.append(SheetError(row, name, f"column appears twice (columns {seen[name]} and {index})"))
            kinds.append(("skip", name, name))
            continue
        seen[name] = index
        if name in ID_COLUMNS:
            kinds.append(("id", name, name))
        elif name in field_columns:
            kinds.append(("field", name, name))
        elif name.startswith(TAG_PREFIX):
            key = name[len(TAG_PREFIX):]
            if not key:
                errors.append(SheetError(row, name, "tag column needs a key: tag:<key>"))
                kinds.append(("skip", name, name))
            elif problem := tag_key_problem(key):
                errors.append(SheetError(row, name, problem))
                kinds.append(("skip", name, name))
            else:
                kinds.append(("tag", key, name))
        elif name.startswith(PARAM_PREFIX):
            param = name[len(PARAM_PREFIX):]
            if not param:
                errors.append(SheetError(row, name, "parameter column needs a name: param:<name>"))
                kinds.append(("skip", name, name))
            else:
                kinds.append(("param", param, name))
        elif name in batch_only or name in ("parameters", "runTags"):
            reason = (f"{name} is a batch-level setting and cannot vary per run; set it in the deploy "
                      f"configuration or a JSON sheet (name a workflow parameter param:{name})")
            if name in ("parameters", "runTags"):
                reason = f"{name} is not a column: use one column per parameter, or tag:<key> for tags"
            errors.append(SheetError(row, name, reason))
            kinds.append(("skip", name, name))
        else:
            kinds.append(("param", name, name))
        kind, target, _ = kinds[-1]
        if kind == "param" and target in parameters:
            errors.append(SheetError(row, name, f"column sets parameter {target!r}, as column "
                                                f"{parameters[target]} does; keep one"))
            kinds[-1] = ("skip", name, name)
        elif kind == "param":
            parameters[target] = name
    id_column: str | None = None
    if not id_columns:
        errors.append(SheetError(row, None, "header has no runSettingId or sample_id column"))
    elif len(set(id_columns)) > 1:
        errors.append(SheetError(row, None, "header has both runSettingId and sample_id; keep one"))
    else:
        id_column = id_columns[0]
    return kinds, errors, id_column


def too_many_runs() -> SheetError:
    return SheetError(None, None, f"sheet has more than {MAX_RUNS} runs; one batch holds at most {MAX_RUNS} "
                                  "(reading stopped there)")


def parse_csv(text: str | TextIO) -> Sheet:
    """Rows are read by the csv module, then typed column by column: each distinct cell text of a column is
    typed once (sample sheets repeat most values), which keeps a 100,000-row sheet to a few seconds.

    Rows are numbered by record, as a spreadsheet shows them (a quoted cell that spans lines is one row);
    reading stops after MAX_RUNS + 1 rows, so a sheet far over the limit costs no more than one just over."""
    reader = csv.reader(io.StringIO(text, newline="") if isinstance(text, str) else text, strict=True)
    errors: list[SheetError] = []
    lines: Any = []
    rows: Any = []
    id_column: str | None = None
    try:
        header_row, header = 0, None
        for cells in reader:  # blank lines before the header are rows too, as a spreadsheet shows them
            header_row += 1
            if any(cell.strip() for cell in cells):
                header = cells
                break
        if header is None:
            return Sheet("csv", {}, [], [SheetError(None, None, "sheet is empty")])
        kinds, header_errors, id_column = _classify(header, header_row)
        errors.extend(header_errors)
        width = len(kinds)
        lines, raw_rows = _records(reader, header_row + 1)
        if len(raw_rows) > MAX_RUNS:
            errors.append(too_many_runs())
            return Sheet("csv", {}, [], errors, ids_known=id_column is not None, truncated=True)
        if set(map(len, raw_rows)) <= {width}:
            rows = raw_rows
        else:
            kept_lines, kept_rows = [], []
            for line, cells in zip(lines, raw_rows, strict=True):
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    errors.append(SheetError(line, None, f"row has {len(cells)} cells but the header has {width}"))
                    continue
                kept_lines.append(line)
                kept_rows.append(cells if len(cells) == width else (cells + [""] * width)[:width])
            lines, rows = kept_lines, kept_rows
        del raw_rows  # `rows` is the one reference left: _csv_runs empties it
    except csv.Error as error:
        errors.append(SheetError(_failing_row(text), None, f"malformed CSV: {error}"))
        return Sheet("csv", {}, [], errors, ids_known=id_column is not None)
    if not isinstance(rows, list):
        rows = list(rows)
    table = _csv_table(list(lines), rows, kinds, id_column, errors)  # takes the rows: they are emptied
    return Sheet("csv", {}, [], errors, ids_known=id_column is not None, table=table)


def _records(reader: Any, first: int) -> tuple[Any, list[list[str]]]:
    """(spreadsheet row numbers, cells) of the non-empty records, at most MAX_RUNS + 1 of them (C-speed
    reading; row numbers are only listed one by one when blank lines make them differ from a range)."""
    # Each distinct cell text is kept once (sample sheets repeat most values): equal cells of a wide sheet
    # share one string instead of holding millions of copies (setdefault at C speed, one dict per sheet).
    memo: dict[str, str] = {}
    keep = memo.setdefault
    rows = [list(map(keep, cells, cells)) if cells else cells for cells in islice(reader, MAX_RUNS + 1)]
    full = len(rows) > MAX_RUNS
    if [] not in rows and not full:
        return range(first, first + len(rows)), rows
    # Over the limit, records of blank cells (",,,,," a spreadsheet exports) are left out here, not only in
    # _csv_table: they are not runs, so they must not count towards the limit either.
    is_run = _has_text if full else bool
    numbered = [(row, cells) for row, cells in enumerate(rows, start=first) if is_run(cells)]
    if full and len(numbered) <= MAX_RUNS:  # the slice held blank records: runs may follow it
        for row, cells in enumerate(reader, start=first + len(rows)):
            if _has_text(cells):
                numbered.append((row, cells))
                if len(numbered) > MAX_RUNS:
                    break
    return [row for row, _ in numbered], [cells for _, cells in numbered]


def _has_text(cells: list[str]) -> bool:
    return any(map(str.strip, cells))


def _failing_row(text: str | TextIO) -> int:
    """The spreadsheet row of the record the csv module cannot read (counted again: errors only)."""
    if not isinstance(text, str):
        text.seek(0)
    reader = csv.reader(io.StringIO(text, newline="") if isinstance(text, str) else text, strict=True)
    row = 0
    try:
        for row, _ in enumerate(reader, start=1):  # noqa: B007
            pass
    except csv.Error:
        return row + 1
    return row


UNSET: Any = object()  # the value of a cell that sets nothing: empty, or rejected (with an error)


def _typed_column(values: list[str], lines: list[int], label: str, errors: list[SheetError],
                  convert: Any, check: Any = None, kept: set[str] | None = None,
                  distinct: set[str] | None = None) -> dict[str, Any]:
    """Each distinct text's value, converted (and checked) once; `convert(text) -> (value, error)`,
    `check(value) -> error | None`; empty cells -> UNSET. `kept`: texts known to be their own value
    without a problem (neither converted nor checked again); `distinct`: set(values), when known."""
    table: dict[str, Any] = dict(zip(kept, kept, strict=True)) if kept else {}
    bad: dict[str, str] = {}
    distinct = set(values) if distinct is None else distinct
    for text in distinct.difference(kept) if kept else distinct:
        if not text:
            table[text] = UNSET
            continue
        value, problem = convert(text)
        if not problem and check is not None:
            problem = check(value)
        if problem:
            bad[text] = problem
            table[text] = UNSET
        else:
            table[text] = value
    if bad:
        errors.extend(SheetError(line, label, bad[text]) for line, text in zip(lines, values, strict=True)
                      if text in bad)
    return table


# Matches (at its start) a cell that typed_cell keeps as it is: one whose first character is none of those of
# the cells it types (booleans, numbers, JSON).
_KEPT_AS_IS = re.compile(r'[^tTfF\-0-9\[{"]')


def _parameter_column(values: list[str], lines: list[int], label: str, errors: list[SheetError]) -> dict[str, Any]:
    """_typed_column with typed_cell and parameter_value_problem; the texts typed_cell keeps as they are (most
    distinct cells of a sheet: ids, paths, labels) are taken without a call each, S3 URIs among them checked."""
    distinct = set(values)
    kept = set(filter(_KEPT_AS_IS.match, distinct))
    uris = list(compress(kept, map(str.startswith, kept, repeat(S3_LIKE_PREFIXES))))
    if not s3_uris_fine(uris):
        kept.difference_update([text for text in uris if s3_uri_problem(text)])
    return _typed_column(values, lines, label, errors, typed_cell, parameter_value_problem, kept, distinct)


def _int(text: str) -> tuple[Any, str | None]:
    """int(text), or why not: Python refuses to convert more digits than sys.get_int_max_str_digits()."""
    try:
        return int(text), None
    except ValueError:
        return None, f"number has {len(text.lstrip('-'))} digits; at most {sys.get_int_max_str_digits()}"


def _value_error(error: ValueError) -> str:
    if "int_max_str_digits" in str(error) or "Exceeds the limit" in str(error):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return str(error)


def _priority(text: str) -> tuple[Any, str | None]:
    if _INT.fullmatch(text):
        return _int(text)
    return None, f"priority must be a whole number, not {text!r}"


def _engine_settings(text: str) -> tuple[Any, str | None]:
    value, problem = typed_cell(text)
    if problem or not isinstance(value, dict):
        return None, problem or "engineSettings must be a JSON object"
    return value, None


def _text(text: str) -> tuple[Any, str | None]:
    return text, None


def _tag_value_problem(value: str) -> str | None:
    return f"tag value must be at most {MAX_TAG_VALUE} characters" if len(value) > MAX_TAG_VALUE else None


def _csv_table(lines: list[int], rows: list[list[str]], kinds: list[tuple[str, str, str]], id_column: str | None,
               errors: list[SheetError]) -> CsvTable | None:
    if not rows:
        return None
    labels = _column_labels(kinds, id_column)
    columns = [list(map(str.strip, column)) for column in zip(*rows, strict=True)]
    count = len(rows)
    rows.clear()  # the cells live on in `columns`: the row lists need not
    blank = {index for index, cells in enumerate(zip(*columns, strict=True)) if not any(cells)} \
        if not all(map(all, columns)) else set()
    if blank:  # blank lines (e.g. trailing, or only commas) are not runs
        keep = [index for index in range(count) if index not in blank]
        lines = [lines[i] for i in keep]
        columns = [[column[i] for i in keep] for column in columns]
        count = len(keep)
        if not count:
            return None
    ids: list[str] | None = None
    fields: list[CsvColumn] = []
    params: list[CsvColumn] = []
    tags: list[CsvColumn] = []
    for (kind, name, label), values in zip(kinds, columns, strict=True):
        if kind == "id" and name == id_column:
            ids = values
        elif kind == "param":
            params.append(CsvColumn(name, values, _parameter_column(values, lines, label, errors)))
        elif kind == "tag":
            tags.append(CsvColumn(name, values, _typed_column(values, lines, label, errors, _text,
                                                              _tag_value_problem)))
        elif kind == "field":
            convert = _priority if name == "priority" else _engine_settings if name == "engineSettings" else _text
            fields.append(CsvColumn(name, values, _typed_column(values, lines, label, errors, convert)))
    # A bound of each row's parameters as compact JSON (validation._merged_size computes exact sizes only
    # above it): each character of the row's cells and of the names becomes at most 6 bytes (a \uXXXX
    # escape), plus 6 bytes of quotes and separators a parameter and 2 of braces.
    names = sum(len(column.name) for column in params)
    extra = 6 * len(params) + 2
    widest = 6 * (sum(max(map(len, column)) for column in columns) + names) + extra  # bounds every row at once
    bounds = [widest] * count if widest <= 50_000 else \
        [6 * (sum(cells) + names) + extra for cells in zip(*(map(len, column) for column in columns), strict=True)]
    return CsvTable(lines, ids, fields, params, tags, labels, bounds)


def _row_dicts(columns: list[CsvColumn], count: int) -> list[dict[str, Any]]:
    """Per row {name: value} of the given columns, leaving out unset cells."""
    if not columns:
        return [{} for _ in range(count)]
    names = [column.name for column in columns]
    values = [column.run_values() for column in columns]
    if not any(UNSET in column.values.values() for column in columns):
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return [{n: v for n, v in zip(names, row, strict=True) if v is not UNSET} for row in zip(*values, strict=True)]


def _column_labels(kinds: list[tuple[str, str, str]], id_column: str | None) -> dict[str, str]:
    """Field (or parameters.<name> / runTags.<key>) -> the header cell that sets it; one map per sheet."""
    labels = {"runSettingId": id_column or "runSettingId"}
    for kind, name, label in kinds:
        if kind == "param":
            labels[f"parameters.{name}"] = label
        elif kind == "tag":
            labels[f"runTags.{name}"] = label
        elif kind == "field":
            labels[name] = label
    return labels


# --------------------------------------------------------------------------------------------- JSON
class DuplicateKey(ValueError):
    """A JSON object names the same key twice (json.loads would silently keep the last value)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# JSON may escape half of a UTF-16 surrogate pair ("\ud800"): json decodes it to a lone surrogate, which is
# no character, so no UTF-8 text (the settings file, an API request) can carry it. Only text holding such an
# escape (found at C speed) is searched value by value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ADVICE = "half of a UTF-16 surrogate pair and no character on its own; write the character itself " \
                    "(or both halves of its pair)"


def lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a decoded JSON value's strings (keys included), as its escape."""
    if isinstance(value, str):
        found = _LONE_SURROGATE.search(value)
        return f"\\u{ord(found.group()):04x}" if found else None
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((escape for item in items if (escape := lone_surrogate(item))), None)


def _surrogate_error(row: int | None, name: str, value: Any) -> SheetError | None:
    escape = lone_surrogate(value)
    return SheetError(row, name, f"{escape} in {name} is {_SURROGATE_ADVICE}") if escape else None


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant)
_SPACE = re.compile(r"[ \t\n\r]*")


class _RunsOverflow(Exception):
    """More than MAX_RUNS runs: reading stopped."""


def parse_json(text: str) -> Sheet:
    """The top-level object is read key by key and its "runs" list run by run (json's own C decoder for each
    value), so duplicate keys are found where they are and reading stops after MAX_RUNS + 1 runs."""
    try:
        document, runs, run_chars = _read_document(text)
    except _RunsOverflow:
        return Sheet("json", {}, [], [too_many_runs()], truncated=True)
    except json.JSONDecodeError as error:
        return Sheet("json", {}, [], [SheetError(None, None, f"sheet is not valid JSON: {error.msg} at line "
                                                             f"{error.lineno} column {error.colno}")])
    except _At as located:
        where, cause = (located.row, located.column), located.cause
        if isinstance(cause, DuplicateKey):
            return Sheet("json", {}, [], [SheetError(*where, f"key {cause.key!r} appears twice in one JSON object "
                                                             "(only one value can count)")])
        return Sheet("json", {}, [], [SheetError(*where, f"sheet is not valid JSON: {_value_error(cause)}")])
    if runs is not None:
        document["runs"] = runs
    return from_document(document, run_chars, may_hold_surrogates=bool(_SURROGATE_ESCAPE.search(text)))


class _Window:
    """A JSON document's text read WINDOW_CHARS at a time: only what is not decoded yet is held. A value
    is taken only when text follows it (or the document ends): a number cut at the window's end is not."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.text, self.eof = stream, "", False
        self.surrogate_escapes = False  # seen in the text read so far

    def more(self, pos: int) -> int:
        """Drop the decoded text before `pos`, read more; the new position of `pos`."""
        piece = self.stream.read(max(WINDOW_CHARS, len(self.text) - pos))  # doubling: linear re-reads
        self.eof = not piece
        self.text = self.text[pos:] + piece
        self.surrogate_escapes = self.surrogate_escapes or bool(_SURROGATE_ESCAPE.search(self.text))
        return 0

    def space(self, pos: int) -> int:
        while True:
            pos = _SPACE.match(self.text, pos).end()  # type: ignore[union-attr]
            if pos < len(self.text) or self.eof:
                return pos
            pos = self.more(pos)

    def char(self, pos: int) -> tuple[str, int]:
        while pos >= len(self.text) and not self.eof:
            pos = self.more(pos)
        return self.text[pos : pos + 1], pos

    def value(self, pos: int) -> tuple[Any, int]:
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, pos)
                if end < len(self.text) or self.eof:
                    return value, end
            except json.JSONDecodeError:
                if self.eof:
                    raise
            pos = self.more(pos)


WINDOW_CHARS = 1 << 20


def _parse_json_stream(stream: TextIO) -> Sheet:
    """parse_json for a well-formed sheet of the usual shape ({... "runs": [...] ...}), read window by
    window; raises on anything else (the caller then reads the sheet whole with parse_json)."""
    window = _Window(stream)
    char, pos = window.char(window.space(0))
    if char != "{":
        raise ValueError("not a JSON object")
    document: dict[str, Any] = {}
    runs: list[Any] | None = None
    run_chars: list[int] | None = None
    char, pos = window.char(window.space(pos + 1))
    while char != "}":
        if char != '"':
            raise ValueError("expecting a key")
        key, pos = window.value(pos)
        char, pos = window.char(window.space(pos))
        if char != ":" or key in document:
            raise ValueError("expecting ':' or a new key")
        char, pos = window.char(window.space(pos + 1))
        if key == "runs" and char == "[":
            runs, run_chars, pos = _window_runs(window, pos)
            document[key] = None
        else:
            document[key], pos = window.value(pos)
        char, pos = window.char(window.space(pos))
        if char == ",":
            char, pos = window.char(window.space(pos + 1))
            if char == "}":
                raise ValueError("trailing comma")
        elif char != "}":
            raise ValueError("expecting ',' or '}'")
    char, pos = window.char(window.space(pos + 1))
    if char:
        raise ValueError("extra data")
    if runs is not None:
        document["runs"] = runs
    return from_document(document, run_chars, may_hold_surrogates=window.surrogate_escapes)


def _window_runs(window: _Window, pos: int) -> tuple[list[Any], list[int], int]:
    """The "runs" array from its "[" at `pos`: (runs, each run's characters in the sheet, position after "]").
    Runs are decoded straight from the window's text; its methods (which read more) only at its end."""
    runs: list[Any] = []
    chars: list[int] = []
    append, count = runs.append, chars.append
    scan, space = _DECODER.scan_once, _SPACE.match  # type: ignore[attr-defined]
    char, pos = window.char(window.space(pos + 1))
    if char == "]":
        return runs, chars, pos + 1
    while True:
        if len(runs) == MAX_RUNS:
            raise _RunsOverflow
        text = window.text
        try:
            run, end = scan(text, pos)  # raw_decode without its Python wrapper
        except (StopIteration, json.JSONDecodeError):
            end = len(text)
        if end < len(text):
            count(end - pos)
        else:  # at the window's end (or malformed): value() reads more (the run then starts at 0) or raises
            run, end = window.value(pos)
            count(end - (pos if window.text is text else 0))
            text = window.text
        append(run)
        pos = space(text, end).end()  # type: ignore[union-attr]
        if pos < len(text):
            char = text[pos]
        else:
            char, pos = window.char(window.space(end))
            text = window.text
        if char == ",":
            end = pos + 1
            pos = space(text, end).end()  # type: ignore[union-attr]
            if pos >= len(text):
                pos = window.space(end)
        elif char == "]":
            return runs, chars, pos + 1
        else:
            raise ValueError("expecting ',' or ']'")


class _At(Exception):
    """A ValueError (duplicate key, over-long number) while decoding a value: where it was."""

    def __init__(self, row: int | None, column: str | None, cause: ValueError) -> None:
        super().__init__(str(cause))
        self.row, self.column, self.cause = row, column, cause


def _decode(text: str, pos: int, row: int | None, column: str | None) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError:
        raise
    except ValueError as error:
        raise _At(row, column, error) from error


def _read_document(text: str) -> tuple[Any, list[Any] | None, list[int] | None]:
    """(the document with "runs" left None, its runs, each run's characters); a document that is not an
    object: (it, None, None)."""
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != "{":
        value, end = _decode(text, pos, None, None)
        end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
        return value, None, None
    document: dict[str, Any] = {}
    runs: list[Any] | None = None
    run_chars: list[int] | None = None
    pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] == "}":
        pos += 1
    else:
        while True:
            if text[pos : pos + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            if key in document:
                raise _At(None, key, DuplicateKey(key))
            if key == "runs" and text[pos : pos + 1] == "[":
                runs, run_chars, pos = _read_runs(text, pos)
                document[key] = None  # placeholder: the key was seen
            else:
                document[key], pos = _decode(text, pos, None, key)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] == ",":
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text[pos : pos + 1] != "}":
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            pos += 1
            break
    end = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return document, runs, run_chars


def _read_runs(text: str, pos: int) -> tuple[list[Any], list[int], int]:
    """The "runs" array from its "[" at `pos`: (runs, each run's characters, position after "]")."""
    runs: list[Any] = []
    chars: list[int] = []
    decode = _DECODER.raw_decode
    space = _SPACE.match
    pos = space(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] == "]":
        return runs, chars, pos + 1
    append, count = runs.append, chars.append
    while True:
        if len(runs) == MAX_RUNS:
            raise _RunsOverflow
        try:
            run, end = decode(text, pos)
        except json.JSONDecodeError:
            raise
        except ValueError as error:
            raise _At(len(runs) + 1, None, error) from error
        append(run)
        count(end - pos)
        pos = space(text, end).end()  # type: ignore[union-attr]
        char = text[pos : pos + 1]
        if char == ",":
            pos = space(text, pos + 1).end()  # type: ignore[union-attr]
        elif char == "]":
            return runs, chars, pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def from_document(document: Any, run_chars: list[int] | None = None, *, may_hold_surrogates: bool = True) -> Sheet:
    """A parsed JSON sheet (also what the CLI/direct invocation may send as an object); `run_chars`: each
    run's characters in the sheet's text, when it was read from one (they bound its parameters' size);
    `may_hold_surrogates`: False when that text escapes no surrogate (its strings then need no search)."""
    errors: list[SheetError] = []
    unsendable: set[int] = set()
    if may_hold_surrogates and isinstance(document, dict):
        document, unsendable = _without_lone_surrogates(document, errors)
    if not isinstance(document, dict):
        return Sheet("json", {}, [], [SheetError(None, None, 'a JSON sheet is an object with batch settings '
                                                             'and a "runs" list')])
    settings: dict[str, Any] = {}
    for key, value in document.items():
        if key == "runs":
            continue
        if key in FIXED_BY_DEPLOYMENT:
            errors.append(SheetError(None, key, f"{key} is fixed by the deployment and cannot be set in a sheet"))
        elif value is None and (key in BATCH_FIELDS or key in SHEET_ONLY_FIELDS):
            # null is no value StartRunBatch takes (botocore refuses it before sending): a clear error instead
            errors.append(SheetError(None, key, f"{key} is null: leave it out to use the deployment's value"))
        elif key in BATCH_FIELDS or key in SHEET_ONLY_FIELDS:
            settings[key] = value
        else:
            errors.append(SheetError(None, key, f"unknown batch setting {key!r}"))
    raw_runs = document.get("runs")
    if raw_runs is None:
        errors.append(SheetError(None, "runs", 'a JSON sheet needs a "runs" list'))
        return Sheet("json", settings, [], errors)
    if not isinstance(raw_runs, list):
        errors.append(SheetError(None, "runs", '"runs" must be a list of run objects'))
        return Sheet("json", settings, [], errors)
    return Sheet("json", settings, _json_runs(raw_runs, errors, run_chars, unsendable), errors)


def _without_lone_surrogates(document: dict[str, Any], errors: list[SheetError]) -> tuple[dict[str, Any], set[int]]:
    """The document less each batch setting that holds a lone surrogate, and the rows of the runs that hold
    one (one error each, at its first such field): nothing of them could be sent."""
    kept: dict[str, Any] = {}
    rows: set[int] = set()
    for key, value in document.items():
        if key == "runs" and isinstance(value, list):
            for row, run in enumerate(value, start=1):
                fields = run.items() if isinstance(run, dict) else ()
                if error := next((e for name, item in fields if (e := _surrogate_error(row, name, item))), None):
                    errors.append(error)
                    rows.add(row)
            kept[key] = value
        elif (error := _surrogate_error(None, key, value)) is not None:
            errors.append(error)
        else:
            kept[key] = value
    return kept, rows


_JSON_LABELS = {"runSettingId": "runSettingId"}
_JSON_BYTES_PER_CHAR = 8


def _json_runs(raw_runs: list[Any], errors: list[SheetError], run_chars: list[int] | None,
               unsendable: Collection[int] = ()) -> list[RunRow]:
    # A run's parameters as compact JSON take at most 8 bytes per character the sheet spent on the whole run:
    # a character of text becomes at most 4 UTF-8 bytes, an escape at most 6 (as many as \uXXXX has
    # characters), integers and literals keep their characters, structure and spacing only shrink, and a
    # float of at least 3 characters ("1e5") is re-encoded in at most 24 ("100000.0", "Infinity").
    bounds: list[Any] = [_JSON_BYTES_PER_CHAR * chars for chars in run_chars] \
        if run_chars is not None and len(run_chars) == len(raw_runs) else [None] * len(raw_runs)
    runs: list[RunRow] = []
    append = runs.append
    per_run, batch_only = per_run_fields(), batch_only_fields()
    for index, (raw, bound) in enumerate(zip(raw_runs, bounds, strict=True), start=1):
        if index in unsendable:  # already one error for it
            continue
        if not isinstance(raw, dict):
            errors.append(SheetError(index, None, "a run must be a JSON object"))
            continue
        if "runSettingId" in raw and raw.keys() <= per_run:  # the usual run: taken as it is
            append(RunRow(index, raw, _JSON_LABELS, bound))
            continue
        fields: dict[str, Any] = {}
        present_ids = [k for k in ID_COLUMNS if k in raw]
        if len(present_ids) > 1:
            errors.append(SheetError(index, None, "run has both runSettingId and sample_id; keep one"))
        for key, value in raw.items():
            if key in ID_COLUMNS:
                fields["runSettingId"] = value
            elif key in per_run:
                fields[key] = value
            elif key in batch_only:
                errors.append(SheetError(index, key, f"{key} is a batch-level setting and cannot be set per run"))
            else:
                errors.append(SheetError(index, key, f"unknown run field {key!r} (workflow parameters go in "
                                                     f'"parameters")'))
        append(RunRow(index, fields, {"runSettingId": present_ids[0]} if present_ids else {}, bound))
    return runs
