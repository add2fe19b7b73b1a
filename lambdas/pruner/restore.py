"""Undo an enforce pass: bring back what it deleted from the cache bucket's noncurrent versions.

On a versioned bucket, DeleteObject does not remove data: it puts a delete marker on top of the object,
and the object becomes a noncurrent version (kept `pruneUndoRetentionDays` by the bucket's lifecycle).
The pass report lists every key it deleted with the version id of the marker it created
(`{"action": "deleted", "key", "deleteMarkerVersionId"}` lines); removing exactly that marker makes the
previous version current again. Removing a version that is already gone is a no-op in S3, so a restore
can be repeated, and a repeat after an interruption ends where one uninterrupted restore would have.
Deleted keys are grouped by cache entry (`{cacheUuid}/{runId}/{taskId}/{entryUuid}/`): an entry's data
objects are restored first, and its manifest only once every one of them, and every file the manifest names
(an earlier pass may have deleted some), is current again, so HealthOmics never sees a manifest whose files are
not back (the reverse of the pruner's delete order). An entry with a
data object that did not come back (its version expired, an unversioned bucket, an error) keeps its manifest
deleted and is reported as partial.

Only a finished pass is restored: while a pass runs, its workers (a redelivered message, a continuation)
may still delete, and would delete again what a restore brought back. A pass that cannot finish (a work item
dead-lettered) is settled INCOMPLETE first (settle.py); its report lists what it deleted, as a finished one's.
A restore is not an exemption either: a later enforce pass under the same rules judges the restored entries
stale again and deletes them.

A DeleteObjects that answered a whole-request error after deleting was sent again by the pruner, which put a
second delete marker on each key it had deleted; the report keeps the last. Under the pass's marker, the restore
also removes the markers made while the pass ran (at most one a retry), and no version of data.

A restore deletes object versions, so it trusts its input no more than the pruner does: it reads only the
pass's own report parts (service.REPORT_PART, directly under the pass's report prefix), skips keys outside
the cache prefix, and removes a version only when S3 lists it as a delete marker of that key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pruner.entries import entry_prefix_of
from pruner.manifest import MAX_MANIFEST_BYTES, CacheEntryManifest
from pruner.service import REPORT_PART, split_s3_uri
from shared.provenance.repository import ProvenanceRepository
from shared.status import from_iso_time


class RestoreError(Exception):
    """The pass cannot be restored (not an enforce pass, no report, not finished)."""


class PassNotFound(RestoreError):
    """No such pass of this run cache."""


# What Pruner._close writes, with finished_at, once every work item is done, and what settle.py writes for a
# pass that could not finish (INCOMPLETE): no worker of the pass deletes again (a redelivered message is a
# duplicate, or finds the pass settled). Until then the pass is RUNNING.
FINISHED_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "ABORTED", "INCOMPLETE"})
# A retried DeleteObjects stacks at most one marker a try (S3Store's retries of a refused request).
MAX_STACKED_MARKERS = 6


@dataclass
class RestoreResult:
    cache_id: str
    pass_id: str
    bucket: str
    restored: int = 0  # keys whose previous version is current again
    restored_bytes: int = 0  # their sizes: storage the pass no longer reclaims
    not_restorable: list[str] = field(default_factory=list)  # no marker (unversioned) or version expired
    failed: dict[str, str] = field(default_factory=dict)  # key -> error code
    entries_restored: int = 0  # entries whose every deleted key is current again, manifest included
    partial_entries: list[str] = field(default_factory=list)  # entry prefixes whose manifest stays deleted

    @property
    def complete(self) -> bool:
        return not (self.not_restorable or self.failed or self.partial_entries)

    def as_dict(self) -> dict[str, Any]:
        """Counts under their historical names, and the keys themselves for the operator (never logged)."""
        return {
            "cache_id": self.cache_id,
            "pass_id": self.pass_id,
            "bucket": self.bucket,
            "restored": self.restored,
            "restored_bytes": self.restored_bytes,
            "not_restorable": len(self.not_restorable),
            "failed": len(self.failed),
            "entries_restored": self.entries_restored,
            "entries_partial": len(self.partial_entries),
            "not_restorable_keys": sorted(self.not_restorable),
            "failed_keys": dict(sorted(self.failed.items())),
            "partial_entries": sorted(self.partial_entries),
        }


def find_pass(repository: ProvenanceRepository, cache_id: str, pass_id: str) -> dict[str, Any]:
    record = repository.prune_pass(cache_id, pass_id)
    if record is not None:
        return record
    raise PassNotFound(f"no prune pass {pass_id} of run cache {cache_id}")


@dataclass
class _Entry:
    """The keys a pass deleted of one cache entry (or of one key outside any entry directory)."""

    data: list[str] = field(default_factory=list)
    manifest: str | None = None


def group_by_entry(deleted: dict[str, str | None], cache_prefix: str) -> dict[str, _Entry]:
    """Entry prefix -> its deleted data keys and manifest. The manifest is `{entryUuid}.json` directly in
    the entry directory (a data file of the same name deeper down is data). A key outside any entry
    directory (the pruner deletes none) is a group of its own, without a manifest."""
    entries: dict[str, _Entry] = {}
    for key in sorted(deleted):
        parts = entry_prefix_of(key[len(cache_prefix) :])
        prefix = cache_prefix + "/".join(parts) + "/" if parts else key
        entry = entries.setdefault(prefix, _Entry())
        if parts and key == f"{prefix}{parts[3]}.json":
            entry.manifest = key
        else:
            entry.data.append(key)
    return entries


def deleted_keys(s3: Any, report_uri: str) -> Iterator[tuple[str, str | None]]:
    """(key, delete marker version id) of every key the pass deleted, from its own report parts only."""
    bucket, prefix = split_s3_uri(report_uri.rsplit("/", 1)[0])
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for obj in page.get("Contents", []):
            if not REPORT_PART.fullmatch(obj["Key"][len(prefix) :]):
                continue
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            for line in body.splitlines():
                record = json.loads(line)
                if record.get("action") == "deleted":
                    yield record["key"], record.get("deleteMarkerVersionId")


def restore_pass(repository: ProvenanceRepository, s3: Any, cache_id: str, pass_id: str) -> RestoreResult:
    record = find_pass(repository, cache_id, pass_id)
    if record.get("mode") != "enforce":
        raise RestoreError(f"pass {pass_id} was a {record.get('mode')} pass: it deleted nothing")
    if record.get("status") == "REFUSED":
        raise RestoreError(f"pass {pass_id} was refused ({record.get('reason')}): it deleted nothing")
    if record.get("status") not in FINISHED_STATUSES or not record.get("finished_at"):
        raise RestoreError(
            f"pass {pass_id} is still {record.get('status')}: its workers may still delete, and would delete "
            "again what a restore brings back; restore it once it has finished (autopilot cache report), or, if "
            "a work item of it was dead-lettered, once it is settled (autopilot cache settle)"
        )
    if not record.get("report_uri"):
        raise RestoreError(f"pass {pass_id} wrote no report (no report bucket): nothing says what it deleted")
    bucket, cache_prefix = split_s3_uri(record["cache_s3_uri"])
    # S3 times its versions to the second: a marker of the pass's first second must fall inside
    window = (from_iso_time(record["started_at"]) - timedelta(seconds=1), from_iso_time(record["finished_at"]))
    result = RestoreResult(cache_id, pass_id, bucket)
    deleted = {key: marker for key, marker in deleted_keys(s3, record["report_uri"]) if key.startswith(cache_prefix)}
    for prefix, entry in group_by_entry(deleted, cache_prefix).items():
        # Every data key is tried (a list, not a generator): one lost file does not keep the others deleted.
        whole = all([_restore_key(s3, bucket, key, deleted[key], result, window) for key in entry.data])
        if entry.manifest is None:
            continue
        if whole and _named_files_current(s3, bucket, prefix, entry.manifest) \
                and _restore_key(s3, bucket, entry.manifest, deleted[entry.manifest], result, window):
            result.entries_restored += 1
        else:
            # Not whole: a manifest of it would be a cache hit naming a file that is gone. When only the
            # manifest failed, its data is back but HealthOmics does not see the entry either.
            result.partial_entries.append(prefix)
    repository.update_prune_record(
        cache_id,
        record["sk"],
        {
            "restored_objects": result.restored,
            "restored_bytes": result.restored_bytes,
            "restored_entries": result.entries_restored,
            "restore_not_restorable": len(result.not_restorable),
            "restore_failed": len(result.failed),
            "restore_partial_entries": len(result.partial_entries),
        },
    )
    return result


def _named_files_current(s3: Any, bucket: str, entry_prefix: str, manifest_key: str) -> bool:
    """Every file the hidden manifest names is current under its entry directory. This pass's report lists only
    what this pass deleted: an earlier pass may have deleted part of the entry's data (a refused key kept the
    manifest then), and its files are not back unless that pass is restored too. A manifest that cannot be
    read or parsed proves nothing: False."""
    versions = [v for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=manifest_key)
                for v in page.get("Versions", []) if v["Key"] == manifest_key]
    if not versions:
        return False
    hidden = max(versions, key=lambda v: v["LastModified"])  # the pass's delete marker is still above it
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_key, VersionId=hidden["VersionId"])["Body"]
        manifest = CacheEntryManifest.model_validate_json(body.read(MAX_MANIFEST_BYTES + 1))
    except (ClientError, ValidationError):
        return False
    current = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=entry_prefix)
               for item in page.get("Contents", [])}
    return all(entry_prefix + file.path in current for file in manifest.files)


def _versions(s3: Any, bucket: str, key: str) -> list[tuple[datetime, str, bool]]:
    """`key`'s versions and delete markers, newest first: (LastModified, VersionId, is a delete marker)."""
    listed = [(v["LastModified"], v["VersionId"], marker) for page in
              s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
              for marker, kind in ((True, "DeleteMarkers"), (False, "Versions"))
              for v in page.get(kind, []) if v["Key"] == key]
    return sorted(listed, key=lambda v: v[0], reverse=True)


def _stacked_under(versions: list[tuple[datetime, str, bool]], marker: str,
                   window: tuple[datetime, datetime]) -> list[str]:
    """Delete markers right under the pass's marker (while it is the newest), made while the pass ran: a
    DeleteObjects that answered a whole-request error after deleting was sent again, which put a second marker
    on each key it had deleted (the report keeps the last). Stops at data or at what is older than the pass."""
    if not versions or versions[0][1] != marker:
        return []
    stacked = []
    for when, version_id, is_marker in versions[1 : 1 + MAX_STACKED_MARKERS]:
        if not is_marker or not window[0] <= when <= window[1]:
            break
        stacked.append(version_id)
    return stacked


def _restore_key(s3: Any, bucket: str, key: str, marker: str | None, result: RestoreResult,
                 window: tuple[datetime, datetime]) -> bool:
    """Make `key`'s version from before the pass current again by removing the pass's delete marker; True
    when the key is current afterwards (also when an earlier restore already removed the marker)."""
    if marker is None:
        result.not_restorable.append(key)  # deleted from an unversioned bucket: gone
        return False
    try:
        versions = _versions(s3, bucket, key)
        # None: no such version (removed by an earlier restore, or expired)
        kind = next((is_marker for _, version_id, is_marker in versions if version_id == marker), None)
        if kind is False:
            result.failed[key] = "NotADeleteMarker"  # a data version: never removed by a restore
            return False
        if kind:
            for version_id in [marker, *_stacked_under(versions, marker, window)]:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        if code in ("404", "NoSuchKey", "NoSuchVersion"):
            result.not_restorable.append(key)  # the noncurrent version expired
        else:
            result.failed[key] = code
        return False
    result.restored += 1
    result.restored_bytes += int(head.get("ContentLength") or 0)
    return True
