"""Run-cache pruner: S3 requests against the theoretical minimum, a naive script, and peak memory.

Theoretical minimum for one full pass = LIST pages (ceil(keys / 1000)) + one GET per manifest +
DeleteObjects batches (ceil(stale keys / 1000)). For an incremental pass (issue 13: the steady state,
after a clean pass at the same floor) = LIST pages + one GET per *new* manifest + DeleteObjects
batches; the planner's delimiter LIST pages are counted on top. A scan sends one DeleteObjects batch
over the minimum at its tail: a manifest is deleted only after its entry's data (never in the same
request), so the manifests of the last data batch need a request of their own.

Sizes: PRUNER_BENCH_ENTRIES (full pass, default 100,000), PRUNER_BENCH_INCREMENTAL_ENTRIES (default
1,000,000; smaller when CPU is short). The caches live in an in-memory S3 fake implementing the same
list_objects_v2 / get_object / delete_objects contract (tests/pruner_synthetic.FakeS3): moto needs
minutes per 100k objects. A 1,000-entry cache on moto, with requests counted by botocore event hooks,
checks that the fake counts the same requests.
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
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "lambdas", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from pruner.rules import Rules  # noqa: E402
from pruner.s3_store import S3Store  # noqa: E402
from pruner.scan import RangeScanner, ReportWriter, ScanScope, ScanState  # noqa: E402
from pruner.service import Pruner  # noqa: E402
from tests.pruner_synthetic import FakeS3, SyntheticCache, make_cache  # noqa: E402

BUCKET = "cache-bucket"  # the synthetic manifests' s3uri bucket (tests/pruner_synthetic.py)
KINDS = {"current": 0.5, "stale": 0.3, "legacy": 0.1, "invalid": 0.03, "orphan": 0.04, "foreign": 0.03}
NEW_KINDS = {"current": 0.9, "stale": 0.05, "legacy": 0.05}  # what arrives between two passes
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def synthetic(entries: int, seed: int = 7, kinds: dict[str, float] = KINDS) -> SyntheticCache:
    return make_cache(
        random.Random(seed), runs=entries // 10, tasks_per_run=10, kinds=kinds, versions=(1, 2), objects_per_entry=2
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
    manifests = sum(1 for e in cache.entries if e.has_manifest)
    stale_keys = sum(len(cache.keys_of(e)) for e in cache.entries if cache.is_stale(e))
    return {
        "ListObjectsV2": math.ceil(keys / 1000),
        "GetObject": manifests,
        "DeleteObjects": math.ceil(stale_keys / 1000),
        "keys": keys,
        "stale_keys": stale_keys,
    }


def prune(
    client: Any, cache: SyntheticCache, floor: int = 0, unchanged_before: datetime | None = None
) -> ScanState:
    """One enforce scan of the whole cache; the report streams to a temporary file, as in the Lambda."""
    with tempfile.TemporaryFile() as sink:
        scanner = RangeScanner(
            S3Store(client, max_workers=16),
            ScanScope(BUCKET, cache.cache_prefix, cache.cache_id, ceiling=3, unchanged_before=unchanged_before),
            rules=Rules(),
            enforce=True,
            now=NOW,
            active_runs=(),
            report=ReportWriter(sink, True),
        )
        return scanner.run(ScanState(floor=floor))


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


def incremental_figure(entries: int) -> None:
    """Steady state: a clean pass over `entries`, then 1 % new entries, then the next (incremental) pass."""
    cache = synthetic(entries, seed=13, kinds={"current": 0.8, "stale": 0.1, "legacy": 0.05, "foreign": 0.05})
    s3 = load(cache)  # written at 2025-12-31 (BASE_TIME - 1 day)
    first = prune(s3, cache)
    new = make_cache(
        random.Random(14), runs=max(entries // 1000, 1), tasks_per_run=10, kinds=NEW_KINDS, versions=(1, 2),
        cache_uuid=cache.entries[0].cache_uuid,
    )
    view = SyntheticCache(cache.cache_id, cache.cache_prefix, new.entries)
    view.write(
        lambda key, body, size, when: s3.put(BUCKET, key, body, size, when), now=datetime(2026, 1, 10, tzinfo=UTC)
    )
    s3.calls.clear()
    planner = SimpleNamespace(store=S3Store(s3), config=SimpleNamespace(runs_per_item=2000))
    ranges = Pruner.plan_ranges(planner, BUCKET, cache.cache_prefix)  # type: ignore[arg-type]
    planner_lists = s3.calls["ListObjectsV2"]
    started = time.perf_counter()
    state = prune(s3, cache, floor=first.floor, unchanged_before=datetime(2026, 1, 2, tzinfo=UTC))
    elapsed = time.perf_counter() - started
    live = len(s3.keys(BUCKET)) + state.counts.objects_deleted
    new_manifests = sum(1 for e in new.entries if e.has_manifest)
    stale_keys = sum(len(view.keys_of(e)) for e in new.entries if e.kind in ("stale", "legacy"))
    floor = {
        "ListObjectsV2": math.ceil(live / 1000),
        "GetObject": new_manifests,
        "DeleteObjects": math.ceil(stale_keys / 1000),
    }
    ops = ("ListObjectsV2", "GetObject", "DeleteObjects")
    total = sum(s3.calls[o] for o in ops)
    print(
        json.dumps(
            {
                "figure": "pruner incremental pass (1 % new entries)",
                "entries": len(cache.entries) + len(new.entries) - first.counts.entries_deleted,
                "new_entries": len(new.entries),
                "ranges": len(ranges),
                "requests": {o: s3.calls[o] for o in ops},
                "of_which_planner_lists": planner_lists,
                "minimum": floor,
                "ratio_to_minimum": round(total / sum(floor.values()), 4),
                "full_pass_gets_would_be": state.counts.entries_scanned - state.counts.orphans,
                "unchanged_entries": state.counts.unchanged,
                "deleted_entries": state.counts.entries_deleted,
                "goal": "<= 1.05",
                "seconds": round(elapsed, 1),
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
    request_figures(int(os.environ.get("PRUNER_BENCH_ENTRIES", "100000")))
    incremental_figure(int(os.environ.get("PRUNER_BENCH_INCREMENTAL_ENTRIES", "1000000")))
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
