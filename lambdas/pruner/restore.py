"""Undo an enforce pass: bring back what it deleted from the cache bucket's noncurrent versions.

On a versioned bucket, DeleteObject does not remove data: it puts a delete marker on top of the object,
and the object becomes a noncurrent version (kept `pruneUndoRetentionDays` by the bucket's lifecycle).
The pass report lists every key it deleted with the version id of the marker it created
(`{"action": "deleted", "key", "deleteMarkerVersionId"}` lines); removing exactly that marker makes the
previous version current again. Removing a version that is already gone is a no-op in S3, so a restore
can be repeated. Data objects are restored before manifests, so HealthOmics never sees a manifest whose
files are not back (the reverse of the pruner's delete order).

A restore deletes object versions, so it trusts its input no more than the pruner does: it reads only the
pass's own report parts (service.REPORT_PART, directly under the pass's report prefix), skips keys outside
the cache prefix, and removes a version only when S3 lists it as a delete marker of that key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pruner.service import REPORT_PART, split_s3_uri
from shared.provenance.repository import ProvenanceRepository


class RestoreError(Exception):
    """The pass cannot be restored (unknown, not an enforce pass, no report)."""


@dataclass
class RestoreResult:
    cache_id: str
    pass_id: str
    bucket: str
    restored: int = 0  # keys whose previous version is current again
    not_restorable: list[str] = field(default_factory=list)  # no marker (unversioned) or version expired
    failed: dict[str, str] = field(default_factory=dict)  # key -> error code

    def as_dict(self) -> dict[str, Any]:
        return {
            "cache_id": self.cache_id,
            "pass_id": self.pass_id,
            "bucket": self.bucket,
            "restored": self.restored,
            "not_restorable": len(self.not_restorable),
            "failed": len(self.failed),
        }


def find_pass(repository: ProvenanceRepository, cache_id: str, pass_id: str) -> dict[str, Any]:
    for record in repository.prune_history(cache_id):
        if record.get("pass_id") == pass_id:
            return record
    raise RestoreError(f"no prune pass {pass_id} of run cache {cache_id}")


def _is_manifest(key: str) -> bool:
    directory, _, name = key.rpartition("/")
    return name == directory.rpartition("/")[2] + ".json"


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


def is_delete_marker(s3: Any, bucket: str, key: str, version_id: str) -> bool | None:
    """True: `version_id` is a delete marker of `key`; False: it is a version of data; None: no such version
    (already removed by an earlier restore, or expired)."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for marker in page.get("DeleteMarkers", []):
            if marker["Key"] == key and marker["VersionId"] == version_id:
                return True
        for version in page.get("Versions", []):
            if version["Key"] == key and version["VersionId"] == version_id:
                return False
    return None


def restore_pass(repository: ProvenanceRepository, s3: Any, cache_id: str, pass_id: str) -> RestoreResult:
    record = find_pass(repository, cache_id, pass_id)
    if record.get("mode") != "enforce":
        raise RestoreError(f"pass {pass_id} was a {record.get('mode')} pass: it deleted nothing")
    if not record.get("report_uri"):
        raise RestoreError(f"pass {pass_id} wrote no report (no report bucket): nothing says what it deleted")
    bucket, cache_prefix = split_s3_uri(record["cache_s3_uri"])
    result = RestoreResult(cache_id, pass_id, bucket)
    deleted = {key: marker for key, marker in deleted_keys(s3, record["report_uri"]) if key.startswith(cache_prefix)}
    for key in sorted(deleted, key=lambda k: (_is_manifest(k), k)):
        marker = deleted[key]
        if marker is None:
            result.not_restorable.append(key)  # deleted from an unversioned bucket: gone
            continue
        try:
            kind = is_delete_marker(s3, bucket, key, marker)
            if kind is False:
                result.failed[key] = "NotADeleteMarker"  # a data version: never removed by a restore
                continue
            if kind:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=marker)
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "Unknown"))
            if code in ("404", "NoSuchKey", "NoSuchVersion"):
                result.not_restorable.append(key)  # the noncurrent version expired
            else:
                result.failed[key] = code
            continue
        result.restored += 1
    repository.update_prune_record(
        cache_id,
        record["sk"],
        {
            "restored_objects": result.restored,
            "restore_not_restorable": len(result.not_restorable),
            "restore_failed": len(result.failed),
        },
    )
    return result
