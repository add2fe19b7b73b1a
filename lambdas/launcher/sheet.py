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
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

SheetFormat = Literal["csv", "json"]

ID_COLUMNS = ("runSettingId", "sample_id")
# Per-run fields the batch API accepts (HEALTHOMICS.md §3); everything else is batch-level only.
PER_RUN_FIELDS = frozenset({"runSettingId", "name", "outputUri", "priority", "parameters",
                            "outputBucketOwnerId", "runTags", "engineSettings"})
# Fields of defaultRunSetting that a sheet may set (roleArn is the deployment's: it is the only role the
# launcher may pass to HealthOmics). Sheet-level-only extras: batchName, tags (batch resource tags).
BATCH_FIELDS = frozenset({"workflowId", "workflowType", "workflowVersionName", "workflowOwnerId", "name",
                          "cacheId", "cacheBehavior", "runGroupId", "priority", "parameters", "storageCapacity",
                          "storageType", "outputUri", "logLevel", "runTags", "retentionMode",
                          "outputBucketOwnerId", "networkingMode", "configurationName", "engineSettings",
                          "scratchStorageMode"})
SHEET_ONLY_FIELDS = frozenset({"batchName", "tags"})
FIXED_BY_DEPLOYMENT = frozenset({"roleArn", "sessionPolicy"})
BATCH_ONLY_FIELDS = (BATCH_FIELDS | FIXED_BY_DEPLOYMENT) - PER_RUN_FIELDS
TAG_PREFIX = "tag:"
PARAM_PREFIX = "param:"
STRING_COLUMNS = frozenset({"name", "outputUri", "outputBucketOwnerId"})

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


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


@dataclass
class RunRow:
    """One run of the sheet: where it came from and its per-run fields (batch API names).

    `columns` maps a field (or `parameters.<name>` / `runTags.<key>`) to the column that set it, so a
    later check can point at the cell."""

    row: int
    fields: dict[str, Any]
    columns: dict[str, str] = field(default_factory=dict)
    # CSV: characters of the raw parameter cells (a cheap bound of the encoded size); None: unknown
    param_chars: int | None = None

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


@dataclass
class Sheet:
    format: SheetFormat
    settings: dict[str, Any]
    runs: list[RunRow]
    errors: list[SheetError]
    ids_known: bool = True  # False when the header has no usable id column (already one error for it)


def detect_format(name: str | None, data: bytes) -> SheetFormat:
    """By file extension; otherwise a document starting with `{` is JSON, anything else CSV."""
    lowered = (name or "").lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    return "json" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


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


def parse(data: bytes, fmt: SheetFormat) -> Sheet:
    text, error = decode(data)
    if text is None:
        assert error is not None
        return Sheet(fmt, {}, [], [error])
    if not text.strip():
        return Sheet(fmt, {}, [], [SheetError(None, None, "sheet is empty")])
    return parse_csv(text) if fmt == "csv" else parse_json(text)


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
            return int(text), None
        if _FLOAT.fullmatch(text):
            value = float(text)
            if math.isfinite(value):
                return value, None
            return None, f"number {text} is out of range"
        return text, None
    if first in "[{\"":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            return None, f"invalid JSON value: {error.msg} at character {error.pos + 1}"
        if first == "\"" and not isinstance(value, str):
            return None, "invalid JSON value: a quoted cell must be one JSON string"
        return value, None
    return text, None


def _classify(header: list[str]) -> tuple[list[tuple[str, str, str]], list[SheetError], str | None]:
    """Each column -> (kind, name, header label): kind in id | field | tag | param | skip."""
    errors: list[SheetError] = []
    kinds: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    id_columns = [name for name in header if name in ID_COLUMNS]
    for index, raw in enumerate(header, start=1):
        name = raw.strip()
        if not name:
            errors.append(SheetError(1, f"#{index}", "header cell is empty"))
            kinds.append(("skip", "", ""))
            continue
        if name in seen:
            errors.append(SheetError(1, name, f"column appears twice (columns {seen[name]} and {index})"))
            kinds.append(("skip", name, name))
            continue
        seen[name] = index
        if name in ID_COLUMNS:
            kinds.append(("id", name, name))
        elif name in ("name", "outputUri", "priority", "outputBucketOwnerId", "engineSettings"):
            kinds.append(("field", name, name))
        elif name.startswith(TAG_PREFIX):
            key = name[len(TAG_PREFIX):]
            if not key:
                errors.append(SheetError(1, name, "tag column needs a key: tag:<key>"))
                kinds.append(("skip", name, name))
            else:
                kinds.append(("tag", key, name))
        elif name.startswith(PARAM_PREFIX):
            param = name[len(PARAM_PREFIX):]
            if not param:
                errors.append(SheetError(1, name, "parameter column needs a name: param:<name>"))
                kinds.append(("skip", name, name))
            else:
                kinds.append(("param", param, name))
        elif name in BATCH_ONLY_FIELDS or name in ("parameters", "runTags"):
            reason = (f"{name} is a batch-level setting and cannot vary per run; set it in the deploy "
                      f"configuration or a JSON sheet (name a workflow parameter param:{name})")
            if name in ("parameters", "runTags"):
                reason = f"{name} is not a column: use one column per parameter, or tag:<key> for tags"
            errors.append(SheetError(1, name, reason))
            kinds.append(("skip", name, name))
        else:
            kinds.append(("param", name, name))
    id_column: str | None = None
    if not id_columns:
        errors.append(SheetError(1, None, "header has no runSettingId or sample_id column"))
    elif len(set(id_columns)) > 1:
        errors.append(SheetError(1, None, "header has both runSettingId and sample_id; keep one"))
    else:
        id_column = id_columns[0]
    return kinds, errors, id_column


def parse_csv(text: str) -> Sheet:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[SheetError] = []
    runs: list[RunRow] = []
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            return Sheet("csv", {}, [], [SheetError(None, None, "sheet is empty")])
        kinds, header_errors, id_column = _classify(header)
        errors.extend(header_errors)
        width = len(kinds)
        labels = _column_labels(kinds, id_column)
        cache: dict[str, tuple[Any, str | None]] = {}
        for cells in reader:
            row = reader.line_num
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                errors.append(SheetError(row, None, f"row has {len(cells)} cells but the header has {width}"))
                continue
            run = _csv_run(row, cells, kinds, id_column, errors, labels, cache)
            if run is not None:
                runs.append(run)
    except csv.Error as error:
        errors.append(SheetError(reader.line_num, None, f"malformed CSV: {error}"))
    return Sheet("csv", {}, runs, errors, ids_known=id_column is not None)


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


_CACHEABLE = 64  # short cells repeat across rows (true, 30, ["chr1"], a project name): type them once


def _csv_run(row: int, cells: list[str], kinds: list[tuple[str, str, str]], id_column: str | None,
             errors: list[SheetError], labels: dict[str, str],
             cache: dict[str, tuple[Any, str | None]]) -> RunRow | None:
    fields: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    tags: dict[str, str] = {}
    chars = 0
    blank = True
    for (kind, name, label), cell in zip(kinds, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        blank = False
        if kind == "param":
            typed = cache.get(value)
            if typed is None:
                typed = typed_cell(value)
                if len(value) <= _CACHEABLE and len(cache) < 100_000:
                    cache[value] = typed
            if typed[1]:
                errors.append(SheetError(row, label, typed[1]))
                continue
            parameters[name] = typed[0]
            chars += len(value) + len(name)
        elif kind == "id":
            if name == id_column:
                fields["runSettingId"] = value
        elif kind == "tag":
            tags[name] = value
        elif kind == "skip":
            continue
        elif name == "priority":
            if _INT.fullmatch(value):
                fields["priority"] = int(value)
            else:
                errors.append(SheetError(row, name, f"priority must be a whole number, not {value!r}"))
        elif name == "engineSettings":
            parsed, problem = typed_cell(value)
            if problem or not isinstance(parsed, dict):
                errors.append(SheetError(row, name, problem or "engineSettings must be a JSON object"))
            else:
                fields[name] = parsed
        else:
            fields[name] = value
    if blank:
        return None  # blank lines (e.g. trailing) are not runs
    if parameters:
        fields["parameters"] = parameters
    if tags:
        fields["runTags"] = tags
    return RunRow(row, fields, labels, chars)


# --------------------------------------------------------------------------------------------- JSON
def parse_json(text: str) -> Sheet:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        return Sheet("json", {}, [], [SheetError(None, None, f"sheet is not valid JSON: {error.msg} at line "
                                                             f"{error.lineno} column {error.colno}")])
    except ValueError as error:
        return Sheet("json", {}, [], [SheetError(None, None, f"sheet is not valid JSON: {error}")])
    return from_document(document)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def from_document(document: Any) -> Sheet:
    """A parsed JSON sheet (also what the CLI/direct invocation may send as an object)."""
    errors: list[SheetError] = []
    if not isinstance(document, dict):
        return Sheet("json", {}, [], [SheetError(None, None, 'a JSON sheet is an object with batch settings '
                                                             'and a "runs" list')])
    settings: dict[str, Any] = {}
    for key, value in document.items():
        if key == "runs":
            continue
        if key in FIXED_BY_DEPLOYMENT:
            errors.append(SheetError(None, key, f"{key} is fixed by the deployment and cannot be set in a sheet"))
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
    runs = [run for run in _json_runs(raw_runs, errors) if run is not None]
    return Sheet("json", settings, runs, errors)


def _json_runs(raw_runs: list[Any], errors: list[SheetError]) -> Iterator[RunRow | None]:
    for index, raw in enumerate(raw_runs, start=1):
        if not isinstance(raw, dict):
            errors.append(SheetError(index, None, "a run must be a JSON object"))
            yield None
            continue
        fields: dict[str, Any] = {}
        present_ids = [k for k in ID_COLUMNS if k in raw]
        if len(present_ids) > 1:
            errors.append(SheetError(index, None, "run has both runSettingId and sample_id; keep one"))
        for key, value in raw.items():
            if key in ID_COLUMNS:
                fields["runSettingId"] = value
            elif key in PER_RUN_FIELDS:
                fields[key] = value
            elif key in BATCH_ONLY_FIELDS:
                errors.append(SheetError(index, key, f"{key} is a batch-level setting and cannot be set per run"))
            else:
                errors.append(SheetError(index, key, f"unknown run field {key!r} (workflow parameters go in "
                                                     f'"parameters")'))
        yield RunRow(index, fields, {"runSettingId": present_ids[0]} if present_ids else {})
