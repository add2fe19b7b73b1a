"""Prune passes that take their listing from an S3 Inventory report (issue 13: caches too large to list
within a pass), against moto S3 + DynamoDB. The reports are generated as the S3 User Guide describes them
("Amazon S3 Inventory": inventory list, location, manifest; tests/pruner_synthetic.write_inventory): CSV +
GZIP, URL-encoded keys, manifest.json + manifest.checksum. The same hostile layout as the listed pass
(tests/integration/test_pruner_pass.py) must give the same deletions: an inventory only names candidates."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pruner.config import InventorySource, PrunerConfig, RulesModel
from pruner.dispatch import InlineQueue
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from tests.integration.test_pruner_pass import (
    CACHE_BUCKET,
    CACHE_ID,
    REPORTS,
    cached,
    expected,
    remaining,
)
from tests.integration.test_pruner_pass import world as world
from tests.pruner_synthetic import INVENTORY_VERSION_COLUMNS, write_inventory

INVENTORY_BUCKET = "inventory-reports"
DESTINATION_PREFIX = "inv/"
CONFIG_ID = "cache-daily"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SOURCE = InventorySource(destination=f"s3://{INVENTORY_BUCKET}/{DESTINATION_PREFIX}", configId=CONFIG_ID)


def listed_rows(s3: Any, when: datetime | None = None) -> list[dict[str, Any]]:
    """Every current object of the cache bucket, as an inventory row."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=CACHE_BUCKET):
        for obj in page.get("Contents", []):
            rows.append({"Key": obj["Key"], "Size": obj["Size"], "LastModifiedDate": when or obj["LastModified"]})
    return rows


def publish(s3: Any, rows: list[dict[str, Any]], created: datetime, **kwargs: Any) -> str:
    if INVENTORY_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=INVENTORY_BUCKET)
    return write_inventory(
        lambda key, body: s3.put_object(Bucket=INVENTORY_BUCKET, Key=key, Body=body),
        destination_bucket=INVENTORY_BUCKET,
        destination_prefix=DESTINATION_PREFIX,
        source_bucket=CACHE_BUCKET,
        config_id=CONFIG_ID,
        created=created,
        rows=rows,
        **kwargs,
    )


def counting(s3: Any) -> list[tuple[str, str, str]]:
    """(operation, bucket, key or prefix) of every S3 request, by botocore's event hooks."""
    calls: list[tuple[str, str, str]] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, str(params.get("Bucket")), str(params.get("Key", params.get("Prefix", "")))))

    s3.meta.events.register("before-parameter-build.s3.*", count)
    return calls


def inventory_pass(
    world: dict[str, Any], mode: str = "enforce", now: datetime = NOW, source: InventorySource = SOURCE
) -> tuple[dict[str, Any], dict[str, Any]]:
    queue = InlineQueue()
    config = PrunerConfig(
        cache_ids=[CACHE_ID], rules=RulesModel(), report_bucket=REPORTS, inventories={CACHE_ID: source}
    )
    pruner = Pruner(world["repository"], S3Store(world["s3"], sleep=lambda _: None), lambda: None, config, queue,
                    clock=lambda: now)
    started = pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), mode)  # type: ignore[arg-type]
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    return started, world["repository"].prune_history(CACHE_ID)[-1]


def test_an_inventory_pass_deletes_exactly_what_a_listed_pass_deletes_without_listing_the_cache(
    world: dict[str, Any],
) -> None:
    # Given a fresh daily report of the whole bucket, split over three data files in no particular order
    publish(world["s3"], listed_rows(world["s3"]), NOW - timedelta(hours=6), files=3)
    calls = counting(world["s3"])
    # When an enforce pass runs with the inventory configured for this cache
    started, record = inventory_pass(world)
    calls = list(calls)  # the pass's requests only
    # Then it used the report: one work item per data file, listed as of the report's creation
    assert started["listing"] == "inventory" and started["items"] == 3
    assert record["status"] == "COMPLETED" and record["listed_at"].startswith("2026-03-02T02:00")
    # And exactly the stale entries of this cache are gone (foreign, invalid, active, orphan, strays kept)
    keep, freed = expected(world, "v1", "legacy")
    assert remaining(world) == keep
    assert record["entries_deleted"] == 2 and record["bytes_reclaimed"] == freed
    # And the cache bucket was never listed, only the prefixes of entries about to be deleted (verification)
    verified = {prefix for op, bucket, prefix in calls if op == "ListObjectsV2" and bucket == CACHE_BUCKET}
    assert verified == {key.rsplit("/", 1)[0] + "/" for key in world["objects"]["v1"][0] if key.endswith(".json")} | {
        key.rsplit("/", 1)[0] + "/" for key in world["objects"]["legacy"][0] if key.endswith(".json")
    }
    # And the report was read once: manifest.json, its checksum, three data files (re-read by catch-up items)
    reads = Counter(key.rsplit("/", 1)[-1] for op, bucket, key in calls
                     if (op, bucket) == ("GetObject", INVENTORY_BUCKET))
    assert reads["manifest.json"] == reads["manifest.checksum"] == 1


def test_entries_not_in_the_report_are_not_considered_and_candidates_are_verified_against_s3(
    world: dict[str, Any],
) -> None:
    s3 = world["s3"]
    rows = listed_rows(s3)
    # Given a report made before a stale entry was written, and before a data object was added to another
    created = NOW - timedelta(hours=6)
    publish(s3, rows, created)
    late = cached("1005", "2009", "aaaa0009", 1, (33,))
    for key, body in late.items():
        s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    [v1_manifest] = [r["Key"] for r in rows if "/2002/" in r["Key"] and r["Key"].endswith(".json")]
    added = v1_manifest.rsplit("/", 1)[0] + "/out/late/extra.dat"
    s3.put_object(Bucket=CACHE_BUCKET, Key=added, Body=b"y" * 10)
    # And the legacy entry's manifest (a candidate in the report) deleted since, its data left
    [legacy_manifest] = [r["Key"] for r in rows if "/2003/" in r["Key"] and r["Key"].endswith(".json")]
    s3.delete_object(Bucket=CACHE_BUCKET, Key=legacy_manifest)
    # When the inventory pass runs
    _, record = inventory_pass(world)
    left = remaining(world)
    # Then the entry written after the report is not considered (kept), however stale
    assert set(late) <= left
    # And the v1 entry is deleted with the object the report did not know of (S3's own listing decides)
    assert not any(key.startswith(v1_manifest.rsplit("/", 1)[0]) for key in left)
    # And the entry whose manifest vanished is not touched (its data stays, counted as vanished)
    assert any(key.startswith(legacy_manifest.rsplit("/", 1)[0] + "/out/") for key in left)
    assert record["entries_deleted"] == 1 and record["vanished"] == 1


def test_rows_outside_the_cache_prefix_of_other_buckets_or_old_versions_name_no_candidate(
    world: dict[str, Any],
) -> None:
    s3 = world["s3"]
    rows = listed_rows(s3)
    current = [{**r, "VersionId": "v2", "IsLatest": "true", "IsDeleteMarker": "false"} for r in rows]
    v2 = [r["Key"] for r in rows if "/2001/" in r["Key"] and r["Key"].endswith(".json")]
    hostile = [
        # a noncurrent version and a delete marker of the current v2 entry's manifest
        {"Key": v2[0], "VersionId": "v1", "IsLatest": "false", "IsDeleteMarker": "false", "Size": 1,
         "LastModifiedDate": NOW - timedelta(days=3)},
        {"Key": v2[0], "VersionId": "m", "IsLatest": "true", "IsDeleteMarker": "true", "Size": 0,
         "LastModifiedDate": NOW - timedelta(days=9)},
        # another bucket's row with this cache's key shape
        {"Bucket": "another-bucket", "Key": "cache/u/1/2/e/e.json", "VersionId": "x", "IsLatest": "true",
         "IsDeleteMarker": "false", "Size": 1, "LastModifiedDate": NOW - timedelta(days=1)},
    ]
    # Given an all-versions report (VersionId, IsLatest, IsDeleteMarker columns)
    publish(s3, current + hostile, NOW - timedelta(hours=1), columns=INVENTORY_VERSION_COLUMNS)
    # When the pass runs
    _, record = inventory_pass(world)
    # Then the deletions are the same as with a current-versions report: the extra rows named nothing
    keep, _ = expected(world, "v1", "legacy")
    assert remaining(world) == keep and record["entries_deleted"] == 2


@pytest.mark.parametrize(
    ("frequency", "age"),
    [("Daily", timedelta(days=1, minutes=1)), ("Weekly", timedelta(days=7, minutes=1))],
)
def test_a_report_older_than_its_period_is_not_used_the_pass_lists_the_bucket(
    world: dict[str, Any], frequency: str, age: timedelta
) -> None:
    s3 = world["s3"]
    # Given a report older than its configured period, which lists a stale entry as current-looking rows only
    publish(s3, listed_rows(s3), NOW - age)
    source = InventorySource(destination=SOURCE.destination, configId=CONFIG_ID, frequency=frequency)  # type: ignore[arg-type]
    # When the pass runs
    started, record = inventory_pass(world, source=source)
    # Then it did not use the report, says why, and pruned from its own listing
    assert started["listing"] == "list"
    assert "older than its period" in record["inventory_unused"]
    keep, _ = expected(world, "v1", "legacy")
    assert remaining(world) == keep


def test_a_manifest_that_does_not_match_its_checksum_or_names_another_bucket_is_not_used(
    world: dict[str, Any],
) -> None:
    s3 = world["s3"]
    manifest_key = publish(s3, listed_rows(s3), NOW - timedelta(hours=2))
    document = json.loads(s3.get_object(Bucket=INVENTORY_BUCKET, Key=manifest_key)["Body"].read())
    # Given a manifest.json rewritten without its checksum
    document["files"] = []
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=manifest_key, Body=json.dumps(document).encode())
    started, record = inventory_pass(world, mode="dry-run")
    assert started["listing"] == "list" and "checksum" in record["inventory_unused"]
    # Given a consistent manifest of another source bucket
    document["sourceBucket"] = "another-bucket"
    body = json.dumps(document).encode()
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=manifest_key, Body=body)
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=manifest_key.replace(".json", ".checksum"),
                  Body=hashlib.md5(body).hexdigest().encode())
    started, record = inventory_pass(world, mode="dry-run", now=NOW + timedelta(minutes=1))
    assert started["listing"] == "list" and "another bucket" in record["inventory_unused"]


def test_a_data_file_that_does_not_match_its_md5_aborts_its_item_and_deletes_nothing(
    world: dict[str, Any],
) -> None:
    s3 = world["s3"]
    manifest_key = publish(s3, listed_rows(s3), NOW - timedelta(hours=2))
    [data] = json.loads(s3.get_object(Bucket=INVENTORY_BUCKET, Key=manifest_key)["Body"].read())["files"]
    # Given a data file replaced after its manifest was written (a truncated row list)
    s3.put_object(Bucket=INVENTORY_BUCKET, Key=data["key"], Body=gzip.compress(b'"run-cache","x","1","y"\n'))
    before = remaining(world)
    # When the pass runs
    started, record = inventory_pass(world)
    # Then nothing of that file was judged: the pass is ABORTED and nothing deleted
    assert started["listing"] == "inventory"
    assert record["status"] == "ABORTED" and remaining(world) == before


def test_the_pass_after_an_inventory_pass_reads_what_was_written_after_the_report(world: dict[str, Any]) -> None:
    s3 = world["s3"]
    # Given a clean inventory pass over a report made six hours before the pass
    publish(s3, listed_rows(s3), NOW - timedelta(hours=6))
    inventory_pass(world)
    # When a stale entry written after the report (but before that pass) exists at the next pass
    late = cached("1005", "2009", "aaaa0009", 1, (33,))
    for key, body in late.items():
        s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    queue = InlineQueue()
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS)  # no inventory: an incremental LIST pass
    pruner = Pruner(world["repository"], S3Store(s3), lambda: None, config, queue,
                    clock=lambda: NOW + timedelta(days=1))
    started = pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv2"))
    # Then its watermark is the report's creation (less the margin), not the earlier pass's start, so the late
    # entry is read and deleted
    assert started["incrementalSince"] < "2026-03-02T02:00"
    assert not set(late) & remaining(world)
