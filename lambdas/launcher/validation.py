"""All-or-nothing validation of a parsed sheet against the batch API's rules and the deploy configuration.

Every problem is collected (row, column, reason); a sheet with any error submits nothing. What passes is
turned into the exact StartRunBatch pieces: the merged defaultRunSetting and one entry per run (with our
lineage tags), encoded once as compact JSON in pieces of ENCODE_GROUP entries for the settings file.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from json.encoder import encode_basestring as encode_string  # what compact() does with a str, at C speed
from operator import itemgetter
from typing import Any

from launcher.policy import SheetPolicy, as_prefix
from launcher.sheet import (
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    RESERVED_TAG_PREFIX,
    S3_LIKE_PREFIXES,
    UNSET,
    CsvColumn,
    CsvTable,
    RunRow,
    Sheet,
    SheetError,
    parameter_value_problem,
    s3_uri_problem,
    s3_uris_fine,
    tag_key_problem,
    too_many_runs,
)
from shared.api_limits import MAX_RUNS, ApiLimits, api_limits
from shared.lineage import ALL_TAGS, LaunchTagger, launch_tagger, stack_id_from_env

MAX_PARAMETER_BYTES = 50_000
MAX_TAGS_PER_RUN = 50
# Every autopilot:* lineage tag a run of this product may carry at some attempt (shared/lineage.py ALL_TAGS:
# submission, sample, chain, root-run and parent-run with their uuids, attempt, root-batch, rerun-reason,
# remediation, stack). They are reserved up front so a follow-up batch (re-runner) can always add its lineage
# without breaking the limit.
RESERVED_TAGS = len(ALL_TAGS)
MAX_USER_TAGS = MAX_TAGS_PER_RUN - RESERVED_TAGS
MAX_BATCH_TAGS = 50 - 2  # the launcher adds autopilot:submission and autopilot:stack to the batch's
ENCODE_GROUP = 1_000  # entries encoded per json.dumps call (C speed, bounded piece size)

ENUMS = {
    "cacheBehavior": ("CACHE_ON_FAILURE", "CACHE_ALWAYS"),
    "storageType": ("STATIC", "DYNAMIC"),
    "retentionMode": ("RETAIN", "REMOVE"),
    "logLevel": ("OFF", "FATAL", "ERROR", "ALL"),
    "workflowType": ("PRIVATE", "READY2RUN"),
    "networkingMode": ("RESTRICTED", "VPC"),
    "scratchStorageMode": ("LOCAL", "SHARED"),
}
NUMERIC_IDS = ("workflowId", "cacheId", "runGroupId")

# s3://bucket/key: bucket names as S3 allows them (3-63 lowercase letters, digits, dots, hyphens).
_ACCOUNT = re.compile(r"[0-9]{12}")
_DIGITS = re.compile(r"[0-9]{1,18}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._]{0,63}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact(value: Any) -> str:
    """Compact JSON, as the settings file and the 50,000-byte parameter limit count it (one shared encoder)."""
    return _ENCODER.encode(value)


SPOOL_BYTES = 1 << 20  # encoded runs beyond this wait for the upload in /tmp, not in memory


class EncodedRuns:
    """The settings file's entries as compact JSON pieces (each: consecutive entries joined by ","), kept
    as UTF-8 in a spooled temporary file: a 100,000-run file (tens of MB) is not held in memory while it
    is hashed and uploaded. Iterating reads the pieces back as text, any number of times."""

    def __init__(self, pieces: Iterable[str] = ()) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (lives with self)
        self._sizes: list[int] = []
        for piece in pieces:
            self.append(piece)

    def append(self, piece: str) -> None:
        data = piece.encode()
        self._file.seek(0, io.SEEK_END)
        self._file.write(data)
        self._sizes.append(len(data))

    def __iter__(self) -> Iterator[str]:
        offset = 0
        for size in self._sizes:
            self._file.seek(offset)
            yield self._file.read(size).decode()
            offset += size

    def __len__(self) -> int:
        return len(self._sizes)


@dataclass
class Validated:
    """What a valid sheet becomes (errors empty), or every reason it is not."""

    errors: list[SheetError]
    default_run_setting: dict[str, Any] = field(default_factory=dict)
    batch_name: str | None = None
    batch_tags: dict[str, str] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    # The settings file's entries as compact JSON pieces: each piece is consecutive entries joined by ","
    encoded: EncodedRuns = field(default_factory=EncodedRuns)
    # How many runs; `entries` is kept only for a batch that may go inline (≤ the API's inline maximum)
    run_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def default_policy(deploy_defaults: Mapping[str, Any]) -> SheetPolicy:
    """The narrowest allow-lists: exactly the deployment's own workflow, output location, run group, cache,
    storage type."""
    workflow, group, output = (deploy_defaults.get(k) for k in ("workflowId", "runGroupId", "outputUri"))
    return SheetPolicy(workflows=frozenset({(workflow, None)} if workflow else ()),
                       output_prefixes=(as_prefix(output),) if output else (),
                       run_group_ids=frozenset({group} if group else ()), cache_id=deploy_defaults.get("cacheId"),
                       dynamic_storage=deploy_defaults.get("storageType") == "DYNAMIC")


def validate(sheet: Sheet, deploy_defaults: Mapping[str, Any], submission_id: str,
             policy: SheetPolicy | None = None) -> Validated:
    """Check everything; on success return the merged defaults and the per-run entries. `policy` holds the
    deployer's allow-lists (default: only what `deploy_defaults` names)."""
    errors = list(sheet.errors)
    limits = api_limits()
    policy = policy or default_policy(deploy_defaults)
    default, batch_name, batch_tags = _batch_settings(sheet.settings, deploy_defaults, errors, limits, policy)
    count = sheet.run_count
    if count == 0 and not sheet.errors:
        errors.append(SheetError(None, None, "sheet has no runs"))
    if count > MAX_RUNS and not sheet.truncated:
        errors.append(too_many_runs())
    default_params = default.get("parameters") or {}
    default_params_size = len(compact(default_params).encode()) if default_params else 0
    default_tags = default.get("runTags") or {}
    has_default_output = "outputUri" in default
    has_default_name = "name" in default
    first_seen: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    tags_for = launch_tagger(submission_id, stack_id_from_env())
    plain = not errors and has_default_output and sheet.ids_known
    if plain and sheet.table is not None and count > limits.inline_max and \
            _table_plainly_valid(sheet.table, default_params_size, len(default_tags), limits):
        # A CSV sheet the batch gets from the settings file: its entries' JSON straight from the columns
        encoded = EncodedRuns(_table_pieces(sheet.table, not has_default_name, tags_for))
        sheet.release_runs()
        return Validated([], default, batch_name, batch_tags, [], encoded, count)
    if plain and _plainly_valid(sheet.runs, default_params_size, len(default_tags), limits):
        entries = _plain_entries(sheet.runs, not has_default_name, tags_for)
    else:  # row by row: every problem with its row and column
        for run in sheet.runs:
            entry = _run_entry(run, errors, first_seen, default_params, default_params_size, default_tags,
                               has_default_output, has_default_name, tags_for, sheet.ids_known, limits, policy)
            if entry is not None and not errors:
                entries.append(entry)
    if errors:
        return Validated(sorted(set(errors), key=_error_order))
    run_count = len(entries)
    if run_count > limits.inline_max:
        # Only the settings file's bytes are needed from here on: encode the entries group by group and let
        # each group's dicts (and the sheet's rows) go, so they never coexist whole with their encoding.
        sheet.release_runs()
        encoded = EncodedRuns()
        while entries:
            encoded.append(compact(entries[:ENCODE_GROUP])[1:-1])
            del entries[:ENCODE_GROUP]
    else:
        encoded = EncodedRuns([compact(entries)[1:-1]] if entries else [])
    return Validated([], default, batch_name, batch_tags, entries, encoded, run_count)


def _error_order(error: SheetError) -> tuple[int, str, str]:
    return (error.row or 0, error.column or "", error.reason)


# ------------------------------------------------------------------------------------- batch level
def _batch_settings(settings: Mapping[str, Any], deploy: Mapping[str, Any], errors: list[SheetError],
                    limits: ApiLimits, policy: SheetPolicy) -> tuple[dict[str, Any], str | None, dict[str, str]]:
    merged = {**deploy, **{k: v for k, v in settings.items() if k not in ("batchName", "tags")}}
    if merged.get("workflowId") != deploy.get("workflowId") and "workflowVersionName" not in settings:
        merged.pop("workflowVersionName", None)  # names a version of the deployment's workflow, not the sheet's
    if merged.get("storageType") == "DYNAMIC" and "storageCapacity" not in settings:
        merged.pop("storageCapacity", None)  # the deployment's STATIC capacity: HealthOmics refuses it with DYNAMIC
    if "cacheId" in settings and "cacheBehavior" not in settings and merged.get("cacheId"):
        merged["cacheBehavior"] = deploy.get("cacheBehavior", "CACHE_ON_FAILURE")
    if not merged.get("workflowId"):
        errors.append(SheetError(None, "workflowId", "no workflow: set workflowId in the sheet or the deploy "
                                                     "configuration (workflowId)"))
    if not merged.get("roleArn"):
        errors.append(SheetError(None, "roleArn", "no HealthOmics service role is configured (OMICS_ROLE_ARN)"))
    for key in NUMERIC_IDS:
        value = merged.get(key)
        if value is not None and not (isinstance(value, str) and _DIGITS.fullmatch(value)):
            errors.append(SheetError(None, key, f"{key} must be a numeric id as a string, not {value!r}"))
    for key, allowed in ENUMS.items():
        value = merged.get(key)
        if value is not None and value not in allowed:
            errors.append(SheetError(None, key, f"{key} must be one of {', '.join(allowed)}, not {value!r}"))
    if merged.get("networkingMode") == "VPC":
        errors.append(SheetError(None, "networkingMode", "networkingMode VPC needs a HealthOmics configuration, "
                                                         "which this deployment does not grant; leave networkingMode "
                                                         "out (RESTRICTED)"))
    version = merged.get("workflowVersionName")
    if version is not None and not (isinstance(version, str) and _VERSION.fullmatch(version)):
        errors.append(SheetError(None, "workflowVersionName", f"invalid workflow version name {version!r}"))
    if merged.get("cacheBehavior") and not merged.get("cacheId"):
        errors.append(SheetError(None, "cacheBehavior", "cacheBehavior needs a run cache (cacheId)"))
    if "outputUri" in merged and (problem := _output_problem(merged["outputUri"], policy)):
        errors.append(SheetError(None, "outputUri", problem))
    _check_allowed(settings, merged, policy, errors)
    capacity = merged.get("storageCapacity")
    if capacity is not None and not _int_in(capacity, 0, limits.storage_max):
        errors.append(SheetError(None, "storageCapacity", f"storageCapacity must be a whole number of GiB "
                                                          f"from 0 to {limits.storage_max}, not {capacity!r}"))
    elif capacity is not None and (problem := policy.storage_problem(capacity)):
        errors.append(SheetError(None, "storageCapacity", problem))
    if merged.get("storageType") == "STATIC" and capacity is None:
        errors.append(SheetError(None, "storageCapacity", "STATIC storage needs storageCapacity (GiB)"))
    elif merged.get("storageType") == "DYNAMIC" and capacity is not None:
        errors.append(SheetError(None, "storageCapacity", "storageCapacity applies to STATIC storage only; "
                                                          "DYNAMIC storage takes none"))
    if "priority" in merged and not _int_in(merged["priority"], 0, limits.priority_max):
        errors.append(SheetError(None, "priority", f"priority must be a whole number from 0 to {limits.priority_max}"))
    if "name" in merged and (problem := limits.run_name.problem("name", merged["name"])):
        errors.append(SheetError(None, "name", problem))
    if "outputBucketOwnerId" in merged and not _account_ok(merged["outputBucketOwnerId"]):
        errors.append(SheetError(None, "outputBucketOwnerId", "outputBucketOwnerId must be a 12-digit account id"))
    params = merged.get("parameters")
    if params is not None:
        if not isinstance(params, dict):
            errors.append(SheetError(None, "parameters", "parameters must be a JSON object"))
        else:
            _check_parameter_values(None, params, errors)
    run_tags = merged.get("runTags")
    if run_tags is not None:
        _check_tags(None, run_tags, "runTags", errors, user_limit=MAX_USER_TAGS)
    for key in ("engineSettings",):
        if key in merged and not isinstance(merged[key], dict):
            errors.append(SheetError(None, key, f"{key} must be a JSON object"))
    batch_name = settings.get("batchName")
    if batch_name is not None and (problem := limits.batch_name.problem("batchName", batch_name)):
        errors.append(SheetError(None, "batchName", problem))
        batch_name = None
    batch_tags = settings.get("tags") or {}
    if not _check_tags(None, batch_tags, "tags", errors, user_limit=MAX_BATCH_TAGS):
        batch_tags = {}
    return merged, batch_name, batch_tags


def _output_problem(uri: Any, policy: SheetPolicy) -> str | None:
    return s3_uri_problem(uri) or policy.output_problem(uri)


def _check_allowed(settings: Mapping[str, Any], merged: Mapping[str, Any], policy: SheetPolicy,
                   errors: list[SheetError]) -> None:
    """The deployer's allow-lists for what a sheet chose at batch level (well-formed values only: a
    malformed one already has its own error)."""
    workflow, version = merged.get("workflowId"), merged.get("workflowVersionName")
    if type(workflow) is str and _DIGITS.fullmatch(workflow) and (version is None or type(version) is str) \
            and (problem := policy.workflow_problem(workflow, version)):
        errors.append(SheetError(None, "workflowVersionName" if "workflowVersionName" in settings
                                 and "workflowId" not in settings else "workflowId", problem))
    group = merged.get("runGroupId")
    if type(group) is str and _DIGITS.fullmatch(group) and (problem := policy.run_group_problem(group)):
        errors.append(SheetError(None, "runGroupId", problem))
    cache = settings.get("cacheId")
    if type(cache) is str and _DIGITS.fullmatch(cache) and (problem := policy.cache_problem(cache)):
        errors.append(SheetError(None, "cacheId", problem))
    storage_type = merged.get("storageType")
    if type(storage_type) is str and (problem := policy.storage_type_problem(storage_type)):
        errors.append(SheetError(None, "storageType", problem))


# ------------------------------------------------------------------------------------ whole sheet
_PLAIN_RUN_KEYS = frozenset({"runSettingId", "parameters", "runTags"})
_DICT_OR_NONE = {dict, type(None)}


def _plainly_valid(runs: list[RunRow], default_params_size: int, default_tag_count: int, limits: ApiLimits) -> bool:
    """True when every run would pass _run_entry without an error, shown for the whole sheet at once in
    passes over its ids, values and tags (C speed where it can), for the usual sheet: runs of an id,
    parameters and tags only, the output location from the batch. False: the runs are checked one by one
    (which also says where each problem is)."""
    fields = [run.fields for run in runs]
    if not all(map(_PLAIN_RUN_KEYS.issuperset, fields)):
        return False
    ids: list[Any] = [entry.get("runSettingId") for entry in fields]
    if set(map(type, ids)) != {str} or len(set(ids)) != len(ids) or any(map(str.isspace, ids)) \
            or not limits.run_setting_id.allows_all(ids):
        return False
    params: list[Any] = [entry.get("parameters") for entry in fields]
    tags: list[Any] = [entry.get("runTags") for entry in fields]
    if not set(map(type, params)) <= _DICT_OR_NONE or not set(map(type, tags)) <= _DICT_OR_NONE:
        return False
    bounds: list[Any] = [run.param_bytes for run in runs]
    if None in bounds or max(bounds) + default_params_size > MAX_PARAMETER_BYTES:
        return False  # some run's parameters may be too large: their exact sizes decide
    tags = [run_tags for run_tags in tags if run_tags]
    if default_tag_count + max(map(len, tags), default=0) > MAX_USER_TAGS:
        return False
    if all(run.values_checked for run in runs):
        return True
    return _values_plain(params) and _tags_plain(tags)


def _values_plain(params: list[Any]) -> bool:
    """parameter_value_problem finds nothing in the runs' parameters: no value is null, and every S3 URI (a
    value, or an element of a list value) is well formed. Only the values it would look into are listed."""
    values = [value for run_params in params if run_params for value in run_params.values()
              if value is None or (kind := type(value)) is list or (kind is str and value.startswith(S3_LIKE_PREFIXES))]
    if None in values:
        return False
    uris = [value for value in values if type(value) is str]
    uris += [item for value in values if type(value) is list for item in value
             if type(item) is str and item.startswith(S3_LIKE_PREFIXES)]
    return s3_uris_fine(uris)


def _tags_plain(tags: list[dict[str, Any]]) -> bool:
    """Every key and value of the runs' tags passes _check_tags."""
    values = [value for run_tags in tags for value in run_tags.values()]
    if not set(map(type, values)) <= {str} or max(map(len, values), default=0) > MAX_TAG_VALUE:
        return False
    return not any(map(tag_key_problem, {key for run_tags in tags for key in run_tags}))


def _plain_entries(runs: list[RunRow], name_from_id: bool, tags_for: Callable[[str | None], dict[str, str]]
                   ) -> list[dict[str, Any]]:
    """The batch entries of plainly valid runs: what _run_entry makes of them, without its checks."""
    entries: list[dict[str, Any]] = []
    append = entries.append
    for run in runs:
        entry = run.fields
        run_id = entry["runSettingId"]
        if name_from_id and run_id:
            entry["name"] = run_id
        tags = entry.get("runTags")
        if tags is None:
            entry["runTags"] = tags_for(run_id)
        else:
            tags.update(tags_for(run_id))
        append(entry)
    return entries


def _table_plainly_valid(table: CsvTable, default_params_size: int, default_tag_count: int,
                         limits: ApiLimits) -> bool:
    """_plainly_valid of the table's runs, shown from its columns, for the sheets whose entries all have one
    shape (what _table_pieces encodes): an id, parameters if the sheet has parameter columns, tags if it
    has tag columns, in every run. False: the runs are made and checked as rows."""
    ids = table.ids
    if ids is None or table.fields or "" in ids or len(set(ids)) != len(ids) or any(map(str.isspace, ids)) \
            or not limits.run_setting_id.allows_all(ids):
        return False
    if max(table.param_bytes) + default_params_size > MAX_PARAMETER_BYTES:
        return False
    if default_tag_count + len(table.tags) > MAX_USER_TAGS:
        return False
    return _every_run_sets(table.params) and _every_run_sets(table.tags)


def _every_run_sets(columns: list[CsvColumn]) -> bool:
    """Every run sets one of the columns (or there are none); values are checked (CSV): only "" is unset."""
    if not columns or any("" not in column.values for column in columns):
        return True
    return all(map(any, zip(*(column.texts for column in columns), strict=True)))


_AFTER_FIRST = itemgetter(slice(1, None))


def _table_pieces(table: CsvTable, name_from_id: bool, tagger: LaunchTagger) -> Iterator[str]:
    """What _plain_entries and the settings file's encoding make of a plainly valid table, ENCODE_GROUP
    entries a piece: each entry's compact JSON put together from its cells' (each distinct cell encoded once),
    with the same keys in the same order, byte for byte."""
    ids = table.ids
    assert ids is not None
    params = [(_member_json(column.name, column.values), column.texts) for column in table.params]
    tags = [(_member_json(column.name, column.values), column.texts) for column in table.tags]
    for start in range(0, len(ids), ENCODE_GROUP):
        end = start + ENCODE_GROUP
        group = ids[start:end]
        id_json = list(map(encode_string, group))
        parts: list[Iterable[str]] = [repeat('{"runSettingId":'), id_json]
        if params:  # ',"p1":v1,"p2":v2' less its first comma, for each run
            parts += [repeat(',"parameters":{'), _members(params, start, end), repeat("}")]
        lineage = [repeat(f",{compact(key)}:{encode_string(value)}") if isinstance(value, str) else
                   map(f",{compact(key)}:".__add__, id_json if value is group else map(encode_string, value))
                   for key, value in tagger.columns(group)]  # the sample tag: the run's id
        name = [repeat(',"name":'), id_json] if name_from_id else []
        if tags:  # the run's own tags, then the lineage tags; its name after them
            parts += [repeat(',"runTags":{'), _members(tags, start, end), *lineage, repeat("}"), *name]
        else:
            parts += [*name, repeat(',"runTags":{'), map(_AFTER_FIRST, lineage[0]), *lineage[1:], repeat("}")]
        parts.append(repeat("}"))
        yield ",".join(map("".join, zip(*parts, strict=False)))  # to the lists' end


def _member_json(name: str, values: dict[str, Any]) -> dict[str, str]:
    """Each distinct cell text of a column -> ',"name":<its value as compact JSON>' ("" when unset)."""
    key = f",{compact(name)}:"
    kinds = set(map(type, values.values()))
    if kinds <= {str}:  # texts (ids, paths, labels): often one per run
        encoded = map(encode_string, values.values())
    elif kinds <= {int}:
        encoded = map(int.__repr__, values.values())  # as json writes an int
    else:
        return {text: "" if value is UNSET else key + compact(value) for text, value in values.items()}
    return dict(zip(values, map(key.__add__, encoded), strict=True))


def _members(columns: list[tuple[dict[str, str], list[str]]], start: int, end: int) -> Iterator[str]:
    """Each run's members of the columns, rows start to end, as a JSON object's inside (no braces)."""
    joined = map("".join, zip(*(map(members.__getitem__, texts[start:end]) for members, texts in columns), strict=True))
    return map(_AFTER_FIRST, joined)


# ----------------------------------------------------------------------------------------- per run
def _run_entry(run: RunRow, errors: list[SheetError], first_seen: dict[str, int],
               default_params: Mapping[str, Any], default_params_size: int, default_tags: Mapping[str, str],
               has_default_output: bool, has_default_name: bool,
               tags_for: Callable[[str | None], dict[str, str]], ids_known: bool, limits: ApiLimits,
               policy: SheetPolicy) -> dict[str, Any] | None:
    """Check one run and turn its fields (a fresh dict per run) into its batch entry, in place."""
    entry = run.fields
    row = run.row
    before = len(errors)
    run_id = entry.get("runSettingId")
    id_rule = limits.run_setting_id
    if not ids_known:
        run_id = None
    elif type(run_id) is str and run_id not in first_seen and id_rule.allows(run_id) and not run_id.isspace():
        first_seen[run_id] = row
    else:
        id_column = run.column("runSettingId")
        if not isinstance(run_id, str) or not run_id or run_id.isspace():
            errors.append(SheetError(row, id_column, "runSettingId is missing" if not run_id or
                                     isinstance(run_id, str) else
                                     f"runSettingId must be text, not {type(run_id).__name__}"))
            run_id = None
        elif run_id in first_seen:
            errors.append(SheetError(row, id_column, f"duplicate runSettingId {run_id!r} (first at row "
                                                     f"{first_seen[run_id]})"))
        else:
            errors.append(SheetError(row, id_column, id_rule.problem("runSettingId", run_id) or "invalid"))
    if len(entry) > 1 + ("parameters" in entry) + ("runTags" in entry):  # optional per-run settings present
        _check_optional_fields(run, errors, limits, policy)
    if "name" not in entry and not has_default_name and run_id:
        entry["name"] = run_id
    if "outputUri" not in entry and not has_default_output:
        errors.append(SheetError(row, "outputUri", "no output location: set outputUri for this run, in the "
                                                   "sheet, or in the deploy configuration"))
    params = entry.get("parameters")
    if params is not None:
        if type(params) is not dict:
            errors.append(SheetError(row, run.column("parameters"), "parameters must be a JSON object"))
        else:
            if not run.values_checked:
                _check_parameter_values(run, params, errors)
            size = _merged_size(params, default_params, default_params_size, run.param_bytes)
            if size > MAX_PARAMETER_BYTES:
                errors.append(SheetError(row, run.column("parameters"), f"parameters are {size} bytes after "
                                         f"merging with the batch defaults; at most {MAX_PARAMETER_BYTES}"))
    tags = entry.get("runTags")
    tag_count = len(default_tags)
    if tags is not None and (run.values_checked or _check_tags(row, tags, run.column("runTags"), errors,
                                                                user_limit=None, run=run)):
        tag_count += len(tags) if not default_tags else sum(1 for k in tags if k not in default_tags)
    if tag_count > MAX_USER_TAGS:
        errors.append(SheetError(row, run.column("runTags"), f"{tag_count} run tags after merging with "
                                 f"the batch runTags; at most {MAX_USER_TAGS} ({MAX_TAGS_PER_RUN} per run minus "
                                 f"{RESERVED_TAGS} reserved for autopilot:* lineage tags)"))
    if len(errors) > before:
        return None
    if type(tags) is dict:
        tags.update(tags_for(run_id))
    else:
        entry["runTags"] = tags_for(run_id)
    return entry


def _check_optional_fields(run: RunRow, errors: list[SheetError], limits: ApiLimits, policy: SheetPolicy) -> None:
    fields, row = run.fields, run.row
    if "name" in fields and (problem := limits.run_name.problem("name", fields["name"])):
        errors.append(SheetError(row, run.column("name"), problem))
    if "outputUri" in fields and (problem := _output_problem(fields["outputUri"], policy)):
        errors.append(SheetError(row, run.column("outputUri"), problem))
    if "priority" in fields and not _int_in(fields["priority"], 0, limits.priority_max):
        errors.append(SheetError(row, run.column("priority"),
                                 f"priority must be a whole number from 0 to {limits.priority_max}"))
    if "outputBucketOwnerId" in fields and not _account_ok(fields["outputBucketOwnerId"]):
        errors.append(SheetError(row, run.column("outputBucketOwnerId"),
                                 "outputBucketOwnerId must be a 12-digit account id"))
    if "engineSettings" in fields and not isinstance(fields["engineSettings"], dict):
        errors.append(SheetError(row, run.column("engineSettings"), "engineSettings must be a JSON object"))


def _merged_size(params: Mapping[str, Any], defaults: Mapping[str, Any], defaults_size: int,
                 own_bound: int | None = None) -> int:
    """Bytes of the merged parameters as compact JSON, or a bound of it when the bound already fits.

    `own_bound` bounds the run's own parameters as compact JSON (RunRow.param_bytes: from the characters
    the sheet spent on them); None: they are encoded to know."""
    if own_bound is not None and own_bound + defaults_size <= MAX_PARAMETER_BYTES:
        return own_bound + defaults_size
    own = len(compact(params).encode())
    if not defaults:
        return own
    if own + defaults_size <= MAX_PARAMETER_BYTES:
        return own + defaults_size  # an upper bound of the merged size, and it fits: no exact merge needed
    return len(compact({**defaults, **params}).encode())


def _check_parameter_values(run: RunRow | None, params: Mapping[str, Any], errors: list[SheetError]) -> None:
    """S3 URIs (a value, or an element of a list value, starting with s3:) must be well formed; no nulls."""
    row = run.row if run else None
    for name, value in params.items():
        # What parameter_value_problem would pass (most values of a sheet) is passed over without a call.
        kind = type(value)
        if kind is str:
            if not value.startswith(S3_LIKE_PREFIXES):
                continue
        elif kind is list:
            for item in value:
                if type(item) is str and item.startswith(S3_LIKE_PREFIXES):
                    break
            else:
                continue
        elif value is not None:
            continue
        if problem := parameter_value_problem(value):
            column = run.column(f"parameters.{name}") if run else f"parameters.{name}"
            errors.append(SheetError(row, column, problem))


def _check_tags(row: int | None, tags: Any, column: str, errors: list[SheetError], *, user_limit: int | None,
                run: RunRow | None = None) -> bool:
    if not isinstance(tags, dict):
        errors.append(SheetError(row, column, f"{column} must be a JSON object of text values"))
        return False
    ok = True
    for key, value in tags.items():
        if type(value) is str and len(value) <= MAX_TAG_VALUE and 0 < len(key) <= MAX_TAG_KEY \
                and not key.startswith(RESERVED_TAG_PREFIX):
            continue  # the usual tag (the checks below, passed without a call)
        where = run.column(f"runTags.{key}") if run else column
        if problem := tag_key_problem(key):
            errors.append(SheetError(row, where, problem))
            ok = False
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            errors.append(SheetError(row, where, f"tag {key!r} needs a text value of at most {MAX_TAG_VALUE} "
                                                 "characters"))
            ok = False
    if user_limit is not None and len(tags) > user_limit:
        errors.append(SheetError(row, column, f"{len(tags)} tags; at most {user_limit}"))
        ok = False
    return ok


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _account_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(_ACCOUNT.fullmatch(value))
