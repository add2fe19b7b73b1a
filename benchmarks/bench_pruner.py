"""Run-cache pruner: S3 requests against the theoretical minimum, a naive script, and peak memory.

Theoretical minimum for one pass = LIST pages (ceil(keys / 1000)) + one GET per manifest +
DeleteObjects batches (ceil(stale keys / 1000)). The 100,000- and 200,000-entry caches live in an
in-memory S3 fake implementing the same list_objects_v2 / get_object / delete_objects contract
(tests/pruner_synthetic.FakeS3): moto needs minutes per 100k objects. A 1,000-entry cache on moto,
with requests counted by botocore event hooks, checks that the fake counts the same requests.
"""

from __future__ import annotations

import gc
import json
import math
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "lambdas", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from pruner.rules import Rules  # noqa: E402
from pruner.s3_store import S3Store  # noqa: E402
from pruner.scan import RangeScanner, ReportWriter, ScanScope, ScanState  # noqa: E402
from tests.pruner_synthetic import FakeS3, SyntheticCache, make_cache  # noqa: E402

BUCKET = "run-cache"
KINDS = {"current": 0.5, "stale": 0.3, "legacy": 0.1, "unreadable": 0.03, "orphan": 0.04, "foreign": 0.03}
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def synthetic(entries: int, seed: int = 7) -> SyntheticCache:
    return make_cache(
        random.Random(seed), runs=entries // 10, tasks_per_run=10, kinds=KINDS, versions=(1, 2), objects_per_entry=2
    )


def load(cache: SyntheticCache) -> FakeS3:
    s3 = FakeS3()
    s3.create_bucket(BUCKET)
    rows: list[tuple[str, bytes | None, int, datetime]] = []
    cache.write(lambda key, body, size, when: rows.append((key, body, size, when)))
    s3.bulk_load(BUCKET, rows)
    return s3


def minimum(cache: SyntheticCache) -> dict[str, int]:
    keys = sum(len(cache.keys_of(e)) for e in cache.entries)
    manifests = sum(1 for e in cache.entries if e.kind != "orphan")
    stale_keys = sum(len(cache.keys_of(e)) for e in cache.entries if cache.is_stale(e))
    return {
        "ListObjectsV2": math.ceil(keys / 1000),
        "GetObject": manifests,
        "DeleteObjects": math.ceil(stale_keys / 1000),
        "keys": keys,
        "stale_keys": stale_keys,
    }


def prune(client: Any, cache: SyntheticCache) -> ScanState:
    """One enforce scan of the whole cache; the report streams to a temporary file, as in the Lambda."""
    with tempfile.TemporaryFile() as sink:
        scanner = RangeScanner(
            S3Store(client, max_workers=16),
            ScanScope(BUCKET, cache.cache_prefix, cache.cache_id),
            rules=Rules(),
            enforce=True,
            now=NOW,
            active_runs=(),
            report=ReportWriter(sink, True),
        )
        return scanner.run(ScanState(floor=0))


def naive(client: Any, cache: SyntheticCache) -> None:
    """List everything, GET every manifest, then DeleteObject each object of each stale entry."""
    versions: dict[str, int | None] = {}
    objects: dict[str, list[str]] = {}
    token = None
    while True:
        page = client.list_objects_v2(
            Bucket=BUCKET, Prefix=cache.cache_prefix, **({"ContinuationToken": token} if token else {})
        )
        for item in page.get("Contents", []):
            parts = item["Key"][len(cache.cache_prefix) :].split("/")
            if len(parts) < 5:
                continue
            prefix = cache.cache_prefix + "/".join(parts[:4]) + "/"
            objects.setdefault(prefix, []).append(item["Key"])
            if item["Key"] == f"{prefix}{parts[3]}.json":
                try:
                    versions[prefix] = json.loads(client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()).get(
                        "version", 0
                    )
                except ValueError:
                    versions[prefix] = None
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    current = max((v for v in versions.values() if v is not None), default=0)
    for prefix, version in versions.items():
        if version is not None and version < current:
            for key in objects[prefix]:
                client.delete_object(Bucket=BUCKET, Key=key)


def ratio(calls: Counter[str], floor: dict[str, int], operations: tuple[str, ...]) -> float:
    theoretical = floor["ListObjectsV2"] + floor["GetObject"] + floor["DeleteObjects"]
    return sum(calls[o] for o in operations) / theoretical


def request_figures(entries: int) -> None:
    cache = synthetic(entries)
    floor = minimum(cache)
    s3 = load(cache)
    started = time.perf_counter()
    state = prune(s3, cache)
    elapsed = time.perf_counter() - started
    ops = ("ListObjectsV2", "GetObject", "DeleteObjects")
    print(
        json.dumps(
            {
                "figure": "pruner requests",
                "entries": entries,
                "keys": floor["keys"],
                "stale_entries": state.counts.stale,
                "deleted_entries": state.counts.entries_deleted,
                "bytes_reclaimed": state.counts.bytes_reclaimed,
                "requests": {o: s3.calls[o] for o in ops},
                "theoretical_minimum": {o: floor[o] for o in ops},
                "ratio_to_minimum": round(ratio(s3.calls, floor, ops), 4),
                "goal": "<= 1.05",
                "seconds": round(elapsed, 1),
            }
        ),
        flush=True,
    )
    s3 = load(cache)
    naive(s3, cache)
    ops_naive = ("ListObjectsV2", "GetObject", "DeleteObject")
    total = sum(s3.calls[o] for o in ops_naive)
    print(
        json.dumps(
            {
                "figure": "naive list-get-delete-each",
                "entries": entries,
                "requests": {o: s3.calls[o] for o in ops_naive},
                "ratio_to_minimum": round(total / sum(floor[o] for o in ops), 4),
            }
        ),
        flush=True,
    )


def memory_figure(entries: int) -> dict[str, Any]:
    cache = synthetic(entries, seed=11)
    s3 = load(cache)
    del cache
    gc.collect()
    tracemalloc.start()
    state = prune(s3, synthetic_view(entries))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"entries": entries, "peak_kib": round(peak / 1024), "deleted_entries": state.counts.entries_deleted}


def synthetic_view(entries: int) -> SyntheticCache:
    """Only the cache's id and prefix are read by the scan: no entry list is held while measuring."""
    return SyntheticCache("1234567", "cache/", [])


def moto_cross_check(entries: int = 1000) -> None:
    """The same scan on moto with a real boto3 client, requests counted by botocore's event hooks."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    cache = synthetic(entries, seed=3)
    floor = minimum(cache)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        cache.write(
            lambda key, body, size, when: client.put_object(
                Bucket=BUCKET, Key=key, Body=body if body is not None else b"\0" * size
            )
        )
        calls: Counter[str] = Counter()
        client.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
        prune(client, cache)
    fake = load(cache)
    prune(fake, cache)
    ops = ("ListObjectsV2", "GetObject", "DeleteObjects")
    print(
        json.dumps(
            {
                "figure": "moto cross-check (botocore hooks)",
                "entries": entries,
                "moto_requests": {o: calls[o] for o in ops},
                "fake_requests": {o: fake.calls[o] for o in ops},
                "ratio_to_minimum": round(ratio(calls, floor, ops), 4),
            }
        ),
        flush=True,
    )


def main() -> None:
    moto_cross_check()
    request_figures(100_000)
    small, large = memory_figure(10_000), memory_figure(200_000)
    print(
        json.dumps(
            {
                "figure": "pruner peak memory (tracemalloc)",
                "at_10k": small,
                "at_200k": large,
                "growth_200k_over_10k": round(large["peak_kib"] / small["peak_kib"], 2),
                "goal": "flat",
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
