"""Call caching: cache entries written to S3 in the guide's layout, and cache-hit lookups.

Layout (guide: call caching, "Fonctionnement de la mise en cache des appels")::

    {cacheS3Location}/{cacheUuid}/{runId}/{taskId}/{entryUuid}/{entryUuid}.json   <- manifest
    {cacheS3Location}/{cacheUuid}/{runId}/{taskId}/{entryUuid}/out/<output>/<file> <- task outputs
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sandbox.omics.state import Run, RunCache, Task


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b")``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3 uri: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key.strip("/")


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def task_cache_key(
    workflow_id: str, task_name: str, parameters: Mapping[str, Any], upstream: Sequence[str]
) -> str:
    """Inputs of a task: the workflow, the task, the run parameters and its upstream tasks' identities."""
    doc = {"workflow": workflow_id, "task": task_name, "parameters": parameters, "upstream": sorted(upstream)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    cache_id: str
    key: str
    entry_uuid: str
    bucket: str
    manifest_key: str
    s3uri: str
    version: int
    run_id: str
    task_id: str
    size_bytes: int


class CacheStore:
    """Writes and finds cache entries. S3 is the source of truth for whether an entry still exists."""

    def __init__(
        self,
        *,
        s3: Any,
        account_id: str,
        region: str,
        rng: random.Random,
        manifest_version: int = 1,
        max_output_body_bytes: int = 64 * 1024,
    ) -> None:
        self._s3 = s3
        self._account = account_id
        self._region = region
        self._rng = rng
        self.manifest_version = manifest_version
        self._max_body = max_output_body_bytes
        self._entries: dict[str, dict[str, list[CacheEntry]]] = {}

    def bump(self) -> int:
        self.manifest_version += 1
        return self.manifest_version

    def entries(self, cache_id: str) -> list[CacheEntry]:
        return [e for bucket in self._entries.get(cache_id, {}).values() for e in bucket]

    def lookup(self, cache: RunCache, key: str) -> CacheEntry | None:
        """Newest entry for ``key`` with the current manifest version whose manifest is still in S3."""
        for entry in reversed(self._entries.get(cache.id, {}).get(key, [])):
            if entry.version != self.manifest_version:
                continue
            if self._exists(entry.bucket, entry.manifest_key):
                return entry
        return None

    def _exists(self, bucket: str, key: str) -> bool:
        if self._s3 is None:
            return False
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True

    def export(self, cache: RunCache, run: Run, task: Task) -> CacheEntry | None:
        """Write one task's outputs and manifest; ``None`` when there is no S3 client."""
        if self._s3 is None:
            return None
        entry_uuid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        bucket, prefix = split_s3_uri(cache.cache_s3_location)
        entry_dir = join_key(prefix, cache.uuid, run.id, task.id, entry_uuid)
        files = []
        total = 0
        for output in task.spec.outputs:
            body_len = max(0, min(output.size_bytes, self._max_body))
            body = (f"{run.id}:{task.name}:{output.name}\n".encode() * (body_len // 8 + 1))[:body_len]
            put = self._s3.put_object(Bucket=bucket, Key=join_key(entry_dir, output.path), Body=body)
            total += body_len
            files.append({"name": output.name, "path": output.path, "etag": put["ETag"].strip('"')})
        manifest = {
            "arn": f"arn:aws:omics:{self._region}:{self._account}:runCache/{cache.id}/cacheEntry/"
            f"{entry_uuid}",
            "s3uri": f"s3://{bucket}/{entry_dir}",
            "taskArn": f"arn:aws:omics:{self._region}:{self._account}:task/{task.id}",
            "workDir": (
                f"/mnt/workflow/{run.uuid}/workdir/call-{task.name}/"
                f"{task.cache_key[:32]}/{hashlib.md5(task.id.encode()).hexdigest()}"
            ),
            "files": files,
            "nextflowContext": {},
            "otherOutputs": {},
            "version": self.manifest_version,
        }
        manifest_body = json.dumps(manifest, indent=2).encode()
        manifest_key = join_key(entry_dir, f"{entry_uuid}.json")
        self._s3.put_object(
            Bucket=bucket, Key=manifest_key, Body=manifest_body, ContentType="application/json"
        )
        entry = CacheEntry(
            cache_id=cache.id,
            key=task.cache_key,
            entry_uuid=entry_uuid,
            bucket=bucket,
            manifest_key=manifest_key,
            s3uri=str(manifest["s3uri"]),
            version=self.manifest_version,
            run_id=run.id,
            task_id=task.id,
            size_bytes=total + len(manifest_body),
        )
        self._entries.setdefault(cache.id, {}).setdefault(task.cache_key, []).append(entry)
        return entry
