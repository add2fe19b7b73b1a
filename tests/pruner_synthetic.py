"""Synthetic run caches for pruner tests and benchmarks, plus an in-memory S3 client.

`FakeS3` implements the subset of the boto3 S3 client contract the pruner uses (list_objects_v2
with Prefix/StartAfter/ContinuationToken/MaxKeys/Delimiter, get_object, delete_objects, put_object,
head_object) with S3's lexical ordering, and counts requests. Correctness tests use moto; the fake
serves the property test and the 100k+ entry benchmark, where moto would take minutes.
"""

from __future__ import annotations

import bisect
import csv
import functools
import gzip
import hashlib
import io
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

REFERENCE_MANIFEST = Path(__file__).resolve().parent / "fixtures" / "guide" / "run-cache-entry-manifest.v2.json"
# The guide's example manifest exactly as printed in the user guide: a trailing comma after "version".
GUIDE_MANIFEST_TEXT = REFERENCE_MANIFEST.read_text().rstrip().removesuffix("}").rstrip() + ",\n}\n"

# Entries of this cache: current, stale, legacy. Everything else is a hostile or careless neighbour that
# must be kept: an invalid manifest (the guide's printed example), an orphan (no manifest), another
# cache's entry, a forged bare `{"version": N}`, a valid manifest of this cache naming another entry
# directory, a valid manifest jumping to version 10**9 (held, never applied), and run outputs shaped
# `<a>/<b>/<c>/<d>/<d>.json` (a lookalike).
KINDS = ("current", "stale", "legacy", "invalid", "orphan", "foreign", "forged", "mismatched", "jump", "lookalike")
OURS = ("current", "stale", "legacy")
JUMP_VERSION = 10**9
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class SyntheticEntry:
    cache_uuid: str
    run_id: str
    task_id: str
    entry_uuid: str
    kind: str  # one of KINDS
    version: int | None  # manifest version (None: legacy / invalid / orphan)
    sizes: tuple[int, ...]  # data object sizes
    age_days: int = 1

    def prefix(self, cache_prefix: str) -> str:
        if self.kind == "lookalike":  # e.g. 9876543/out/results/NA12878/
            return f"{cache_prefix}{self.run_id}/out/results/{self.entry_uuid}/"
        return f"{cache_prefix}{self.cache_uuid}/{self.run_id}/{self.task_id}/{self.entry_uuid}/"

    @property
    def has_manifest(self) -> bool:
        return self.kind != "orphan"

    def manifest_body(self, cache_id: str, location: str, account: str = "123456789012") -> bytes | None:
        """The entry's manifest; `location` is the entry directory's s3:// URI (the manifest's s3uri)."""
        if self.kind == "orphan":
            return None
        if self.kind == "invalid":
            return GUIDE_MANIFEST_TEXT.encode()
        if self.kind == "forged":
            return json.dumps({"version": JUMP_VERSION}).encode()
        if self.kind == "lookalike":
            return json.dumps({"sample": self.entry_uuid, "reads": 1234}).encode()
        owner = "9999999" if self.kind == "foreign" else cache_id
        if self.kind == "mismatched":  # a valid manifest of this cache copied from another entry directory
            location = location.rsplit("/", 2)[0] + "/" + str(uuid.UUID(int=int(self.task_id)))
        doc: dict[str, Any] = {
            # The ARN's entry id is not the directory's name (as in the guide's example)
            "arn": f"arn:aws:omics:us-east-1:{account}:runCache/{owner}/cacheEntry/{uuid.UUID(int=int(self.run_id))}",
            "s3uri": location,
            "taskArn": f"arn:aws:omics:us-east-1:{account}:task/{self.task_id}",
            "workDir": f"/mnt/workflow/{self.cache_uuid}/workdir/call-Task/{self.task_id}",
            "files": [{"name": f"o{i}", "path": f"out/o{i}/f.dat", "etag": "x"} for i in range(len(self.sizes))],
            "nextflowContext": {},
            "otherOutputs": {},
        }
        if self.version is not None:
            doc["version"] = self.version
        return json.dumps(doc).encode()

    def objects(self, cache_prefix: str, cache_id: str, bucket: str) -> list[tuple[str, bytes | None, int]]:
        """(key, body or None for sized filler, size) of every object of the entry."""
        prefix = self.prefix(cache_prefix)
        result: list[tuple[str, bytes | None, int]] = [
            (f"{prefix}out/o{i}/f.dat", None, size) for i, size in enumerate(self.sizes)
        ]
        body = self.manifest_body(cache_id, f"s3://{bucket}/{prefix}")
        if body is not None:
            result.append((f"{prefix}{self.entry_uuid}.json", body, len(body)))
        return result


@dataclass
class SyntheticCache:
    cache_id: str
    cache_prefix: str
    entries: list[SyntheticEntry]
    outside: list[str] = field(default_factory=list)  # keys that must never be touched
    bucket: str = "cache-bucket"  # where the entries' manifests say they are (s3uri)

    @functools.cached_property
    def current_version(self) -> int | None:
        versions = [e.version for e in self.entries if e.kind in ("current", "stale") and e.version is not None]
        return max(versions) if versions else None

    def is_stale(self, entry: SyntheticEntry) -> bool:
        """Only entries of this cache are ever stale; the floor is the highest believable version."""
        current = self.current_version
        if current is None or entry.kind not in OURS:
            return False
        if entry.kind == "legacy":
            return True
        return entry.version is not None and entry.version < current

    def keys_of(self, entry: SyntheticEntry) -> list[str]:
        return [key for key, _, _ in entry.objects(self.cache_prefix, self.cache_id, self.bucket)]

    def bytes_of(self, entry: SyntheticEntry) -> int:
        return sum(size for _, _, size in entry.objects(self.cache_prefix, self.cache_id, self.bucket))

    def write(self, put: Callable[[str, bytes | None, int, datetime], None], now: datetime = BASE_TIME) -> None:
        for entry in self.entries:
            for key, body, size in entry.objects(self.cache_prefix, self.cache_id, self.bucket):
                put(key, body, size, now - timedelta(days=entry.age_days))
        for key in self.outside:
            put(key, b"keep me", 7, now)


def make_cache(
    rng: random.Random,
    *,
    runs: int,
    tasks_per_run: int,
    kinds: dict[str, float],
    versions: tuple[int, ...] = (1, 2),
    cache_id: str = "1234567",
    cache_prefix: str = "cache/",
    objects_per_entry: int = 2,
    cache_uuid: str | None = None,
    bucket: str = "cache-bucket",
) -> SyntheticCache:
    """A cache of runs x tasks entries whose kinds are drawn with the given weights."""
    cache_uuid = cache_uuid or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    names, weights = zip(*kinds.items(), strict=True)
    top = max(versions)
    entries = []
    for r in range(runs):
        run_id = str(1_000_000 + rng.randrange(9_000_000)) + f"{r:05d}"
        for t in range(tasks_per_run):
            kind = rng.choices(names, weights)[0]
            version = {
                "current": top,
                "stale": rng.choice([v for v in versions if v < top] or [top]),
                "foreign": rng.choice(versions),
                "mismatched": min(versions),
                "jump": JUMP_VERSION,
            }.get(kind)
            task_id = str(2_000_000 + r * tasks_per_run + t)
            entry_uuid = f"NA{task_id}" if kind == "lookalike" else str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if kind == "stale" and version == top:
                kind = "current"
            entries.append(
                SyntheticEntry(
                    cache_uuid,
                    run_id,
                    task_id,
                    entry_uuid,
                    kind,
                    version,
                    # an orphan is data without a manifest: it has at least one data object
                    tuple(rng.randrange(1, 5000) for _ in range(max(objects_per_entry, kind == "orphan"))),
                )
            )
    return SyntheticCache(cache_id, cache_prefix, entries, bucket=bucket)


# ---------------------------------------------------------------------- in-memory S3
class _Body:
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, amount: int | None = None) -> bytes:
        return self._stream.read() if amount is None else self._stream.read(amount)


_HIGHEST = "\U0010ffff"  # sorts after every character a key can hold


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    """A lexically ordered in-memory S3 with request counting and scriptable faults."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, tuple[bytes | None, int, datetime]]] = {}
        self._sorted: dict[str, list[str]] = {}
        self.calls: Counter[str] = Counter()
        # Scriptable faults: keys whose deletion fails with a code (a count of times, or forever: -1).
        self.delete_faults: dict[str, tuple[str, int]] = {}
        self.fail_after: int | None = None  # raise RuntimeError on the n-th request (a crash)

    def create_bucket(self, Bucket: str) -> None:
        self.buckets.setdefault(Bucket, {})
        self._sorted[Bucket] = []

    def put(self, bucket: str, key: str, body: bytes | None, size: int, when: datetime) -> None:
        objects = self.buckets.setdefault(bucket, {})
        keys = self._sorted.setdefault(bucket, [])
        if key not in objects:
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                at = bisect.bisect_left(keys, key)
                if at == len(keys) or keys[at] != key:  # a deleted key stays in the sorted list
                    keys.insert(at, key)
        objects[key] = (body, size, when)

    def bulk_load(self, bucket: str, rows: list[tuple[str, bytes | None, int, datetime]]) -> None:
        objects = self.buckets.setdefault(bucket, {})
        for key, body, size, when in rows:
            objects[key] = (body, size, when)
        self._sorted[bucket] = sorted(objects)

    def keys(self, bucket: str) -> set[str]:
        return set(self.buckets.get(bucket, {}))

    def _tick(self, operation: str) -> None:
        self.calls[operation] += 1
        if self.fail_after is not None and sum(self.calls.values()) >= self.fail_after:
            self.fail_after = None
            raise RuntimeError(f"simulated crash during {operation}")

    # -- the boto3 contract -------------------------------------------------------------------
    def list_objects_v2(
        self,
        Bucket: str,
        Prefix: str = "",
        MaxKeys: int = 1000,
        StartAfter: str | None = None,
        ContinuationToken: str | None = None,
        Delimiter: str | None = None,
    ) -> dict[str, Any]:
        self._tick("ListObjectsV2")
        objects, keys = self.buckets[Bucket], self._sorted[Bucket]
        after = ContinuationToken or StartAfter or ""
        index = bisect.bisect_right(keys, after) if after else bisect.bisect_left(keys, Prefix)
        index = max(index, bisect.bisect_left(keys, Prefix))
        contents: list[dict[str, Any]] = []
        prefixes: list[dict[str, str]] = []
        last = None
        while index < len(keys) and len(contents) + len(prefixes) < MaxKeys:
            key = keys[index]
            if not key.startswith(Prefix):
                break
            index += 1
            if key not in objects:
                continue
            if Delimiter:
                cut = key.find(Delimiter, len(Prefix))
                if cut >= 0:
                    common = key[: cut + 1]
                    prefixes.append({"Prefix": common})
                    last = common
                    index = bisect.bisect_left(keys, common + _HIGHEST)  # skip the keys under it
                    continue
            _, size, when = objects[key]
            contents.append({"Key": key, "Size": size, "LastModified": when})
            last = key
        truncated = False
        while index < len(keys) and keys[index].startswith(Prefix):
            if keys[index] in objects:
                truncated = True
                break
            index += 1
        page: dict[str, Any] = {"IsTruncated": truncated, "KeyCount": len(contents) + len(prefixes)}
        if contents:
            page["Contents"] = contents
        if prefixes:
            page["CommonPrefixes"] = prefixes
        if truncated and last is not None:
            ends_a_prefix = bool(Delimiter) and last.endswith(Delimiter or "")
            page["NextContinuationToken"] = last + _HIGHEST if ends_a_prefix else last
        return page

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._tick("GetObject")
        found = self.buckets.get(Bucket, {}).get(Key)
        if found is None:
            raise _error("NoSuchKey", "GetObject")
        body, size, _ = found
        return {"Body": _Body(body if body is not None else b"\0" * size), "ContentLength": size}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._tick("HeadObject")
        if Key not in self.buckets.get(Bucket, {}):
            raise _error("404", "HeadObject")
        return {}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self._tick("DeleteObjects")
        requested = [o["Key"] for o in Delete["Objects"]]
        if len(requested) > 1000:
            raise _error("MalformedXML", "DeleteObjects")
        errors = []
        deleted = []
        objects = self.buckets[Bucket]
        for key in requested:
            fault = self.delete_faults.get(key)
            if fault is not None:
                code, times = fault
                if times != 0:
                    self.delete_faults[key] = (code, times - 1 if times > 0 else times)
                    errors.append({"Key": key, "Code": code, "Message": code})
                    continue
            objects.pop(key, None)
            deleted.append({"Key": key})  # an unversioned bucket: no delete marker
        response: dict[str, Any] = {"Errors": errors} if errors else {}
        if not Delete.get("Quiet") and deleted:
            response["Deleted"] = deleted
        return response

    def get_bucket_versioning(self, Bucket: str) -> dict[str, Any]:
        self._tick("GetBucketVersioning")
        return {}  # never enabled

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._tick("DeleteObject")
        self.buckets[Bucket].pop(Key, None)
        return {}

    def put_object(self, Bucket: str, Key: str, Body: Any, ContentType: str | None = None) -> dict[str, Any]:
        self._tick("PutObject")
        data = Body.read() if hasattr(Body, "read") else bytes(Body)
        self.put(Bucket, Key, data, len(data), datetime.now(UTC))
        return {"ETag": '"x"'}


# ---------------------------------------------------------------------- S3 Inventory reports
INVENTORY_COLUMNS = ("Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass")
INVENTORY_VERSION_COLUMNS = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate")


def inventory_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_inventory(
    put: Callable[[str, bytes], None],
    *,
    destination_bucket: str,
    destination_prefix: str,
    source_bucket: str,
    config_id: str,
    created: datetime,
    rows: list[dict[str, Any]],
    files: int = 1,
    columns: tuple[str, ...] = INVENTORY_COLUMNS,
    rng: random.Random | None = None,
) -> str:
    """An S3 Inventory report as S3 publishes it (S3 User Guide, "Locating your inventory list", "Inventory
    manifest"): CSV data files compressed with GZIP, no header, every field quoted, the key URL-encoded, in
    no particular order (nothing documents one), under <prefix><source>/<config>/data/, and
    <prefix><source>/<config>/<YYYY-MM-DDTHH-MMZ>/manifest.json + manifest.checksum (MD5 of manifest.json).
    `rows` hold column values by name (Bucket defaults to the source bucket). Returns the manifest key."""
    base = f"{destination_prefix}{source_bucket}/{config_id}/"
    rows = list(rows)
    (rng or random.Random(0)).shuffle(rows)
    listed = []
    for n in range(files):
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows[n::files]:
            values = {"Bucket": source_bucket, "ETag": "etag", "StorageClass": "STANDARD", **row}
            values["Key"] = quote_plus(values["Key"], safe="")
            if isinstance(values.get("LastModifiedDate"), datetime):
                values["LastModifiedDate"] = inventory_time(values["LastModifiedDate"])
            writer.writerow([str(values.get(column, "")) for column in columns])
        body = gzip.compress(text.getvalue().encode())
        key = f"{base}data/{uuid.UUID(int=n + 1)}.csv.gz"
        put(key, body)
        listed.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    manifest = json.dumps(
        {
            "sourceBucket": source_bucket,
            "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
            "version": "2016-11-30",
            "creationTimestamp": str(int(created.timestamp() * 1000)),
            "fileFormat": "CSV",
            "fileSchema": ", ".join(columns),
            "files": listed,
        },
        indent=2,
    ).encode()
    directory = f"{base}{created.astimezone(UTC):%Y-%m-%dT%H-%MZ}/"
    put(f"{directory}manifest.json", manifest)
    put(f"{directory}manifest.checksum", hashlib.md5(manifest).hexdigest().encode())
    return f"{directory}manifest.json"
