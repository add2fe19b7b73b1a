"""An S3 Inventory report as a prune pass's listing, for caches too large to LIST within a pass.

S3 Inventory (S3 User Guide, "Amazon S3 Inventory": "Inventory list", "Locating your inventory list",
"Inventory manifest") publishes, daily or weekly, under the configured destination
`destination-prefix/source-bucket/config-ID/`:
  YYYY-MM-DDTHH-MMZ/manifest.json   sourceBucket, destinationBucket, creationTimestamp (epoch ms: when the
                                    scan of the bucket began), fileFormat, fileSchema ("Bucket, Key, ..."),
                                    files [{key, size, MD5checksum}]
  YYYY-MM-DDTHH-MMZ/manifest.checksum  the MD5 of manifest.json
  data/<uuid>.csv.gz                CSV compressed with GZIP, no header, columns as in fileSchema; the key
                                    is URL-encoded; VersionId/IsLatest/IsDeleteMarker only when the report
                                    lists all versions.
CSV is read (gzip + csv from the standard library): ORC and Parquet would need a heavy dependency.

What a report may and may not do:
- It only *names candidates*: the manifest rows (`<cacheUuid>/<runId>/<taskId>/<entryUuid>/<entryUuid>.json`)
  of the latest, not-deleted versions under the cache prefix, in the cache's bucket. Each candidate is
  judged exactly as in a listed pass (its manifest is read with GetObject, rules.ours/decide), and one the
  rules would delete is verified first with a LIST of its entry prefix (the documentation's advice:
  inventories are eventually consistent, check an object's state before acting on it): the live objects
  are what is deleted, and a manifest no longer there deletes nothing.
- A report older than its period (1 day / 7 days from its creationTimestamp) is not used: the pass lists
  the bucket instead. Entries created after the report are not in it and are simply not considered;
  the pass records the report's creation time as the time it listed, so the next incremental pass
  reads them.
- A manifest.json that does not match its checksum, names another source bucket, another format, lacks a
  needed column, or points at data files outside the configured location is not used either; a data file
  whose MD5 differs from the manifest's is not used (nothing of it is judged: it is read whole first).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

from pruner.config import PERIODS, InventoryFile, InventorySource
from pruner.entries import Entry, S3Object, entry_prefix_of
from pruner.s3_store import S3AccessError, S3Store
from shared.status import from_iso_time

REQUIRED_COLUMNS = ("Bucket", "Key", "Size", "LastModifiedDate")
MAX_MANIFEST_JSON_BYTES = 16 * 1024 * 1024
_REPORT_DIR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}Z/")


class InventoryUnusable(Exception):
    """The configured inventory cannot drive this pass (none yet, too old, inconsistent)."""


class InventoryReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bucket: str
    manifest_key: str
    created: datetime
    files: list[InventoryFile]


def _split(uri: str) -> tuple[str, str]:  # s3://bucket/a/b/ -> (bucket, "a/b/")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def latest_report(store: S3Store, source: InventorySource, cache_bucket: str, now: datetime) -> InventoryReport:
    """The newest report under the source's location, validated; InventoryUnusable says why not."""
    bucket, prefix = _split(source.location(cache_bucket))
    try:
        dirs = [p for p in store.list_prefixes(bucket, prefix) if _REPORT_DIR.fullmatch(p[len(prefix) :])]
        if not dirs:
            raise InventoryUnusable("no inventory report published yet")
        directory = max(dirs)  # timestamps sort lexically
        body = store.get_bytes(bucket, f"{directory}manifest.json", MAX_MANIFEST_JSON_BYTES)
        checksum = store.get_bytes(bucket, f"{directory}manifest.checksum", 1024).decode("ascii", "replace")
    except S3AccessError as error:
        raise InventoryUnusable(f"inventory unreadable: {error}") from error
    if hashlib.md5(body, usedforsecurity=False).hexdigest() != checksum.strip().lower():
        raise InventoryUnusable("manifest.json does not match manifest.checksum")
    try:
        document = json.loads(body)
        created = datetime.fromtimestamp(int(document["creationTimestamp"]) / 1000, UTC)
        source_bucket, file_format = document["sourceBucket"], document["fileFormat"]
        columns = [c.strip() for c in str(document["fileSchema"]).split(",")]
        files = [(str(f["key"]), str(f["MD5checksum"]).lower()) for f in document["files"]]
    except (ValueError, KeyError, TypeError) as error:
        raise InventoryUnusable(f"manifest.json is not an inventory manifest: {error!r}") from error
    if source_bucket != cache_bucket:
        raise InventoryUnusable("the report is of another bucket")
    if file_format != "CSV":
        raise InventoryUnusable(f"format {file_format} (only CSV is read)")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InventoryUnusable(f"the report lacks {', '.join(missing)}")
    if any(not key.startswith(prefix) for key, _ in files):
        raise InventoryUnusable("a data file lies outside the inventory location")
    age = now - created
    if age > PERIODS[source.frequency] or age < -timedelta(hours=1):
        raise InventoryUnusable(f"the latest report ({created:%Y-%m-%dT%H:%MZ}) is older than its period")
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return InventoryReport(
        bucket=bucket,
        manifest_key=f"{directory}manifest.json",
        created=created,
        files=[InventoryFile(bucket=bucket, key=key, md5=md5, columns=columns, created=stamp) for key, md5 in files],
    )


def is_manifest_key(relative_key: str) -> bool:
    """`<cacheUuid>/<runId>/<taskId>/<entryUuid>/<entryUuid>.json`: a manifest at entry depth."""
    parts = entry_prefix_of(relative_key)
    return parts is not None and relative_key == "/".join(parts) + f"/{parts[3]}.json"


def _is_true(value: str) -> bool:
    return value.strip().lower() == "true"


def manifest_rows(store: S3Store, file: InventoryFile, cache_bucket: str, cache_prefix: str) -> list[S3Object]:
    """The manifest rows of one data file under the cache prefix (latest, not delete markers), in key order.

    The whole file is read (and its MD5 checked) before anything is returned: inventory files are not
    documented as sorted, and a scan needs key order to resume and re-scan. Memory: one S3Object per
    manifest row of this file."""
    try:
        data = store.get_bytes(file.bucket, file.key, None)
    except S3AccessError as error:
        raise InventoryUnusable(f"inventory data file unreadable: {error}") from error
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != file.md5:
        raise InventoryUnusable("an inventory data file does not match its MD5 checksum")
    index = {name: i for i, name in enumerate(file.columns)}
    at_bucket, at_key, at_size, at_modified = (index[c] for c in REQUIRED_COLUMNS)
    at_latest, at_marker = index.get("IsLatest"), index.get("IsDeleteMarker")
    rows: dict[str, S3Object] = {}
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
        for row in csv.reader(io.TextIOWrapper(unzipped, encoding="utf-8", newline="")):
            if len(row) != len(file.columns) or row[at_bucket] != cache_bucket:
                continue
            if (at_latest is not None and not _is_true(row[at_latest])) or (
                at_marker is not None and _is_true(row[at_marker])
            ):
                continue
            key = unquote_plus(row[at_key])
            if not key.startswith(cache_prefix) or not is_manifest_key(key[len(cache_prefix) :]):
                continue
            try:
                modified = from_iso_time(row[at_modified])
                size = int(row[at_size] or 0)
            except ValueError:
                continue  # a row we cannot read names no candidate
            rows[key] = S3Object(key, size, modified)
    return [rows[key] for key in sorted(rows)]


class InventoryListing:
    """A work item's listing from one data file: manifest objects after a key, in key order."""

    def __init__(self, objects: list[S3Object]) -> None:
        self.objects = objects
        self._keys = [o.key for o in objects]

    def __call__(self, start_after: str | None) -> Iterator[S3Object]:
        start = bisect_right(self._keys, start_after) if start_after else 0
        yield from self.objects[start:]


def live_entry(store: S3Store, bucket: str, entry: Entry) -> Entry | None:
    """The entry as S3 holds it now (one LIST of its prefix), or None when its manifest is gone."""
    objects = list(store.list_objects(bucket, entry.prefix))
    live = Entry(entry.prefix, entry.cache_uuid, entry.run_id, entry.task_id, entry.entry_uuid, objects)
    return live if objects and live.has_manifest else None


def describe(report: InventoryReport) -> dict[str, Any]:
    return {"manifest": f"s3://{report.bucket}/{report.manifest_key}", "files": len(report.files)}
