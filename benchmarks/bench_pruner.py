"""Run-cache pruner: S3 requests against the theoretical minimum, a naive script, and peak memory.

Theoretical minimum for one full pass = LIST pages (ceil(keys / 1000)) + one GET per manifest +
DeleteObjects batches (ceil(stale keys / 1000)). For an incremental pass (issue 13: the steady state,
after a clean pass at the same floor) = LIST pages + one GET per *new* manifest + DeleteObjects
batches; the planner's delimiter LIST pages are counted on top. A scan sends one DeleteObjects batch
over the minimum at its tail: a manifest is deleted only after its entry's data (never in the same
request), so the manifests of the last data batch need a request of their own. Where stale keys are
sparse it also sends a partial batch once an entry has waited MAX_UNSETTLED_WINDOWS windows (pruner/scan.py).

The incremental figure runs the deployed pipeline (Pruner.start_pass + one work item per range, so the
planner's delimiter pages, each range's partial last page and each item's DeleteObjects tail count) for a
full pass, then a steady-state pass after 1 % new entries, then a pass taken from an S3 Inventory report
(its minimum: the report's objects, new manifests, delete batches, one verification LIST per candidate).

Sizes: PRUNER_BENCH_ENTRIES (full pass, default 100,000), PRUNER_BENCH_INCREMENTAL_ENTRIES (default
1,000,000: 2.7 GB and ~4 CPU-minutes; smaller when CPU is short). The caches live in an in-memory S3
fake implementing the same list_objects_v2 / get_object / delete_objects contract
(tests/pruner_synthetic.FakeS3): moto needs minutes per 100k objects. A 1,000-entry cache on moto, with
requests counted by botocore event hooks, checks that the fake counts the same requests.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
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


def incremental_figure(entries: int, inventory: bool = False) -> None:
    """The deployed pipeline on `entries`: the planner (delimiter LISTs, ranges of run prefixes), then one work
    item per range (its own LIST pages, manifest GETs, DeleteObjects batches, report parts), through the
    service (Pruner.start_pass + work); S3 is the counting fake, the provenance table moto's. A full pass,
    then 1 % new entries, then the steady-state (incremental) pass; with `inventory`, 1 % more entries and
    a pass whose listing is an S3 Inventory report of the cache (tests/pruner_synthetic.write_inventory)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws

    from pruner.config import PrunerConfig
    from pruner.dispatch import InlineQueue
    from pruner.service import CacheTarget
    from shared.provenance.repository import ProvenanceRepository
    from tests.factories import create_provenance_table

    ops = ("ListObjectsV2", "GetObject", "DeleteObjects")
    with mock_aws():
        repository = ProvenanceRepository(create_provenance_table(boto3.client("dynamodb", region_name="us-east-1")))
        cache = synthetic(entries, seed=13, kinds={"current": 0.8, "stale": 0.1, "legacy": 0.05, "foreign": 0.05})
        full_minimum = minimum(cache)
        s3 = load(cache)  # written at 2025-12-31 (BASE_TIME - 1 day)
        s3.create_bucket("reports")
        cache.entries.clear()  # only the fake holds the cache from here on
        target = CacheTarget(cache.cache_id, f"s3://{BUCKET}/{cache.cache_prefix}")
        config = PrunerConfig(cache_ids=[cache.cache_id], report_bucket="reports", allow_unversioned_buckets=[BUCKET])

        def run_pass(at: datetime) -> tuple[dict[str, Any], dict[str, Any], float]:
            queue = InlineQueue()
            pruner = Pruner(repository, S3Store(s3), lambda: None, config, queue, clock=lambda: at)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), _quiet_logger():  # the passes' EMF metrics and logs
                result = pruner.start_pass(target, "enforce")
                queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="bench"), limit=10**7)
            pruner.store.close()
            return result, repository.prune_history(cache.cache_id)[-1], time.perf_counter() - started

        first, record, seconds = run_pass(datetime(2026, 1, 2, tzinfo=UTC))
        total = sum(s3.calls[o] for o in ops)
        print(
            json.dumps(
                {
                    "figure": "pruner full pass, deployed pipeline (planner + work items)",
                    "entries": entries,
                    "items": first["items"],
                    "requests": {o: s3.calls[o] for o in ops},
                    "other_requests": {o: n for o, n in s3.calls.items() if o not in ops},
                    "minimum": {o: full_minimum[o] for o in ops},
                    "ratio_to_minimum": round(total / sum(full_minimum[o] for o in ops), 4),
                    "deleted_entries": int(record["entries_deleted"]),
                    "status": record["status"],
                    "seconds": round(seconds, 1),
                }
            ),
            flush=True,
        )
        new = make_cache(
            random.Random(14), runs=max(entries // 1000, 1), tasks_per_run=10, kinds=NEW_KINDS, versions=(1, 2),
            cache_uuid=synthetic_uuid(13),
        )
        view = SyntheticCache(cache.cache_id, cache.cache_prefix, new.entries)
        view.write(
            lambda key, body, size, when: s3.put(BUCKET, key, body, size, when), now=datetime(2026, 1, 10, tzinfo=UTC)
        )
        live = len(s3.keys(BUCKET))
        new_manifests = sum(1 for e in new.entries if e.has_manifest)
        stale_keys = sum(len(view.keys_of(e)) for e in new.entries if e.kind in ("stale", "legacy"))
        s3.calls.clear()
        second, record, seconds = run_pass(datetime(2026, 1, 11, tzinfo=UTC))
        floor = {
            "ListObjectsV2": math.ceil(live / 1000),
            "GetObject": new_manifests,
            "DeleteObjects": math.ceil(stale_keys / 1000),
        }
        total = sum(s3.calls[o] for o in ops)
        print(
            json.dumps(
                {
                    "figure": "pruner incremental pass (1 % new entries), deployed pipeline",
                    "entries": int(record["entries_scanned"]),
                    "new_entries": len(new.entries),
                    "items": second["items"],
                    "incremental_since": second["incrementalSince"],
                    "requests": {o: s3.calls[o] for o in ops},
                    "other_requests": {o: n for o, n in s3.calls.items() if o not in ops},
                    "minimum": floor,
                    "ratio_to_minimum": round(total / sum(floor.values()), 4),
                    "full_pass_gets_would_be": int(record["entries_scanned"]) - int(record["orphans"]),
                    "unchanged_entries": int(record["unchanged"]),
                    "deleted_entries": int(record["entries_deleted"]),
                    "status": record["status"],
                    "goal": "<= 1.05",
                    "seconds": round(seconds, 1),
                }
            ),
            flush=True,
        )
        if inventory:
            inventory_pass(s3, repository, cache, run_pass, config)


def inventory_pass(s3: FakeS3, repository: Any, cache: SyntheticCache, run_pass: Any, config: Any) -> None:
    """1 % more new entries, a daily S3 Inventory report of the cache made after them, and the next pass
    taken from it: the LIST pages of the cache are replaced by the report's few data files."""
    from pruner.config import InventorySource
    from tests.pruner_synthetic import write_inventory

    keys = len(s3.keys(BUCKET))
    new = make_cache(
        random.Random(15), runs=max(keys // 3000, 1), tasks_per_run=10, kinds=NEW_KINDS, versions=(1, 2),
        cache_uuid=synthetic_uuid(13),
    )
    view = SyntheticCache(cache.cache_id, cache.cache_prefix, new.entries)
    view.write(
        lambda key, body, size, when: s3.put(BUCKET, key, body, size, when), now=datetime(2026, 1, 12, tzinfo=UTC)
    )
    s3.create_bucket("inventory")
    objects = s3.buckets[BUCKET]
    files = max(1, math.ceil(len(objects) / 1_000_000))  # S3 splits a large report into several files
    write_inventory(
        lambda key, body: s3.put("inventory", key, body, len(body), datetime(2026, 1, 12, 1, tzinfo=UTC)),
        destination_bucket="inventory",
        destination_prefix="inv/",
        source_bucket=BUCKET,
        config_id="daily",
        created=datetime(2026, 1, 12, 1, tzinfo=UTC),
        rows=[{"Key": key, "Size": size, "LastModifiedDate": when} for key, (_, size, when) in objects.items()],
        files=files,
    )
    config.inventories[cache.cache_id] = InventorySource(destination="s3://inventory/inv/", configId="daily")
    new_manifests = sum(1 for e in new.entries if e.has_manifest)
    stale = [e for e in new.entries if e.kind in ("stale", "legacy")]
    stale_keys = sum(len(view.keys_of(e)) for e in stale)
    s3.calls.clear()
    started, record, seconds = run_pass(datetime(2026, 1, 12, 6, tzinfo=UTC))
    ops = ("ListObjectsV2", "GetObject", "DeleteObjects")
    # The least such a pass can do: read the report (manifest.json, its checksum, each data file), each new
    # manifest, and delete in full batches; verifying a candidate before deleting it is one LIST per stale entry.
    floor = {"GetObject": 2 + files + new_manifests, "DeleteObjects": math.ceil(stale_keys / 1000)}
    total = sum(s3.calls[o] for o in ops)
    print(
        json.dumps(
            {
                "figure": "pruner incremental pass from an S3 Inventory report (1 % new entries)",
                "entries": int(record["entries_scanned"]),
                "new_entries": len(new.entries),
                "report_files": files,
                "listing": started["listing"],
                "items": started["items"],
                "requests": {o: s3.calls[o] for o in ops},
                "other_requests": {o: n for o, n in s3.calls.items() if o not in ops},
                "minimum_without_verification": floor,
                "verification_lists": len(stale),
                "ratio_to_minimum": round(total / sum(floor.values()), 4),
                "ratio_to_minimum_with_verification": round(total / (sum(floor.values()) + len(stale)), 4),
                "list_pages_a_listed_pass_needs": math.ceil(keys / 1000),
                "deleted_entries": int(record["entries_deleted"]),
                "status": record["status"],
                "seconds": round(seconds, 1),
            }
        ),
        flush=True,
    )


@contextlib.contextmanager
def _quiet_logger() -> Iterator[None]:
    from shared.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


def synthetic_uuid(seed: int) -> str:
    """The cache uuid `synthetic(..., seed)` draws (its first draw), so new entries join the same cache."""
    import uuid

    return str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))


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
    incremental_figure(int(os.environ.get("PRUNER_BENCH_INCREMENTAL_ENTRIES", "1000000")), inventory=True)
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
