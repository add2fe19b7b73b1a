"""Hostile neighbours of a run cache (issue 11): data that is not a HealthOmics cache entry of this
cache is never deleted, whatever its shape, and a forged manifest cannot move the version floor.

Oracle: the guide, "Call caching" (S3 layout `{cache uuid}/{runId}/{taskId}/{entry uuid}/` holding the
manifest `{entry uuid}.json`; manifest format of the guide's example, tests/fixtures/guide/
run-cache-entry-manifest.v2.json; "when a service update invalidates entries, the service increments
the version").
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from pruner.config import PrunerConfig, RulesModel
from pruner.dispatch import InlineQueue
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from shared.provenance.repository import ProvenanceRepository
from tests.pruner_synthetic import REFERENCE_MANIFEST

BUCKET = "run-cache"
REPORTS = "reports"
CACHE_ID = "0123456"
CACHE_UUID = "1234567-d0d1-e230-d599-10f1539f4a32"


def entry_uuid(n: int) -> str:
    return f"aaaa{n:04d}-0000-4000-8000-{n:012d}"


def guide_manifest(
    entry: str, version: int | None, run: str, task: str, cache_id: str = CACHE_ID, location: str = ""
) -> bytes:
    """The guide's example manifest, re-aimed at one entry of one cache (`location`: its s3uri)."""
    doc = json.loads(REFERENCE_MANIFEST.read_text())
    doc["arn"] = f"arn:aws:omics:us-west-2:123456789012:runCache/{cache_id}/cacheEntry/{entry}"
    doc["s3uri"] = location or f"s3://{BUCKET}/{CACHE_UUID}/{run}/{task}/{entry}"
    doc["taskArn"] = f"arn:aws:omics:us-west-2:123456789012:task/{task}"
    if version is None:
        del doc["version"]
    else:
        doc["version"] = version
    return json.dumps(doc).encode()


def cache_entry(
    prefix: str, run: str, task: str, n: int, version: int | None, bucket: str = BUCKET
) -> dict[str, bytes]:
    entry = entry_uuid(n)
    base = f"{prefix}{CACHE_UUID}/{run}/{task}/{entry}/"
    return {
        f"{base}out/output_txt_file/outfile.txt": b"x" * (100 + n),
        f"{base}{entry}.json": guide_manifest(entry, version, run, task, location=f"s3://{bucket}/{base}"),
    }


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    for bucket in (BUCKET, REPORTS):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def put_all(s3: Any, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def keys(s3: Any) -> set[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return {o["Key"] for page in paginator.paginate(Bucket=BUCKET) for o in page.get("Contents", [])}


def prune(s3: Any, table_name: str, cache_uri: str, mode: str = "enforce", **rules: Any) -> dict[str, Any]:
    queue = InlineQueue()
    pruner = Pruner(
        ProvenanceRepository(table_name),
        S3Store(s3, sleep=lambda _: None),
        omics=lambda: None,
        config=PrunerConfig(cache_ids=[CACHE_ID], rules=RulesModel(**rules), report_bucket=REPORTS),
        send=queue,
        clock=lambda: datetime.now(UTC),
    )
    started = pruner.start_pass(CacheTarget(CACHE_ID, cache_uri), mode)  # type: ignore[arg-type]
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    history = ProvenanceRepository(table_name).prune_history(CACHE_ID)
    return {**started, "record": history[-1] if history else None}


def a_cache(prefix: str, bucket: str = BUCKET) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(current entries, stale entries) of this cache: versions 2 and 1."""
    current = {
        **cache_entry(prefix, "1001", "2001", 1, 2, bucket),
        **cache_entry(prefix, "1001", "2002", 2, 2, bucket),
    }
    stale = {
        **cache_entry(prefix, "1002", "2003", 3, 1, bucket),
        **cache_entry(prefix, "1002", "2004", 4, None, bucket),
    }
    return current, stale


@pytest.mark.parametrize(
    ("cache_uri", "prefix", "neighbours"),
    [
        pytest.param(
            f"s3://{BUCKET}/cache",
            "cache/",
            {
                "cache/9876543/out/results/NA12878/NA12878.json": json.dumps({"sample": "NA12878"}).encode(),
                "cache/9876543/out/results/NA12878/NA12878.bam": b"BAM\1" * 100,
            },
            id="run-outputs-written-into-the-cache-bucket",
        ),
        pytest.param(
            f"s3://{BUCKET}/cache",
            "cache/",
            {
                "cache/team-notes/alpha/results/summary/summary.json": b'{"rows": 3}',
                "cache/team-notes/alpha/results/summary/table.csv": b"a,b\n1,2\n",
            },
            id="team-notes-under-the-cache-prefix",
        ),
        pytest.param(
            f"s3://{BUCKET}",
            "",
            {
                "projects/beta/releases/v1/v1.json": b'{"release": "v1"}',
                "projects/beta/releases/v1/tool.tar.gz": b"\x1f\x8b" * 50,
            },
            id="cache-at-a-bucket-root",
        ),
    ],
)
def test_data_that_only_looks_like_an_entry_directory_is_kept(
    s3: Any, table_name: str, cache_uri: str, prefix: str, neighbours: dict[str, bytes]
) -> None:
    # Given a cache with current (v2) and stale (v1, legacy) entries, and a neighbour whose JSON sits at
    # <a>/<b>/<c>/<d>/<d>.json with other data beside it
    current, stale = a_cache(prefix)
    put_all(s3, {**current, **stale, **neighbours})
    # When an enforce pass runs
    result = prune(s3, table_name, cache_uri)
    # Then only the stale entries of this cache are gone; the neighbour is kept and reported as foreign
    assert keys(s3) == set(current) | set(neighbours)
    record = result["record"]
    assert (record["entries_deleted"], record["foreign"]) == (2, 1)


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(b'{"version": 1000000000}', id="bare-version"),
        pytest.param(b'{"version": 1e9}', id="float-version"),
        pytest.param(
            json.dumps({"arn": f"arn:aws:omics:us-west-2:123456789012:runCache/{CACHE_ID}/cacheEntry/x",
                        "version": 1000000000}).encode(),
            id="arn-but-not-the-guide-format",
        ),
    ],
)
def test_a_forged_manifest_never_moves_the_floor(s3: Any, table_name: str, forged: bytes) -> None:
    # Given a current cache and one forged manifest at an entry-shaped path
    current, stale = a_cache("cache/")
    entry = entry_uuid(99)
    forged_entry = {f"cache/{CACHE_UUID}/1003/2099/{entry}/{entry}.json": forged}
    put_all(s3, {**current, **stale, **forged_entry})
    # When two enforce passes run
    prune(s3, table_name, f"s3://{BUCKET}/cache")
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    # Then the floor is the cache's real version and every current entry is still there
    assert ProvenanceRepository(table_name).cache_version(CACHE_ID) == 2
    assert keys(s3) == set(current) | set(forged_entry)
    assert result["record"]["final_floor"] == 2


def test_a_valid_manifest_jumping_versions_is_held_until_the_operator_confirms_it(
    s3: Any, table_name: str
) -> None:
    # Given a version-2 cache and one well-formed manifest of this cache claiming version 1,000,000,000
    current, stale = a_cache("cache/")
    jump = cache_entry("cache/", "1003", "2099", 99, 1_000_000_000)
    put_all(s3, {**current, **stale, **jump})
    # When an enforce pass runs
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    # Then the jump is held: reported, not applied; only the really stale entries are deleted
    record = result["record"]
    assert (record["held_version"], record["held"], record["final_floor"]) == (1_000_000_000, 1, 2)
    assert ProvenanceRepository(table_name).cache_version(CACHE_ID) == 2
    assert keys(s3) == set(current) | set(jump)
    # When the operator confirms the version with pruneMinVersion
    result = prune(s3, table_name, f"s3://{BUCKET}/cache", min_version=1_000_000_000)
    # Then it applies: the version-2 entries are stale under it
    assert keys(s3) == set(jump)
    assert result["record"]["held_version"] == 0


def test_one_version_step_over_the_recorded_floor_applies_without_the_operator(s3: Any, table_name: str) -> None:
    # Given a cache whose floor was recorded at 2
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    prune(s3, table_name, f"s3://{BUCKET}/cache")
    # When the service writes version-3 entries (a service update) and a pass runs
    newer = cache_entry("cache/", "1004", "2100", 100, 3)
    put_all(s3, newer)
    prune(s3, table_name, f"s3://{BUCKET}/cache")
    # Then the version-2 entries are stale
    assert keys(s3) == set(newer)
    assert ProvenanceRepository(table_name).cache_version(CACHE_ID) == 3


def test_an_unversioned_cache_bucket_is_refused_in_enforce_mode_unless_allowed(aws: None, table_name: str) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="external-cache")
    client.create_bucket(Bucket=REPORTS)
    current, stale = a_cache("", "external-cache")
    for key, body in {**current, **stale}.items():
        client.put_object(Bucket="external-cache", Key=key, Body=body)

    def run(mode: str, allowed: list[str]) -> dict[str, Any]:
        queue = InlineQueue()
        config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS, allow_unversioned_buckets=allowed)
        pruner = Pruner(ProvenanceRepository(table_name), S3Store(client), lambda: None, config, queue)
        started = pruner.start_pass(CacheTarget(CACHE_ID, "s3://external-cache"), mode)  # type: ignore[arg-type]
        queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
        return started

    # An enforce pass over an unversioned bucket (no undo) is refused; a dry run is fine
    refused = run("enforce", [])
    assert refused["status"] == "REFUSED" and "versioning" in refused["reason"]
    assert run("dry-run", [])["status"] == "STARTED"
    assert {o["Key"] for o in client.list_objects_v2(Bucket="external-cache")["Contents"]} == set(current) | set(stale)
    # With the operator's explicit consent it runs
    assert run("enforce", ["external-cache"])["status"] == "STARTED"
    assert {o["Key"] for o in client.list_objects_v2(Bucket="external-cache")["Contents"]} == set(current)


def test_a_believable_step_from_a_manifest_not_at_its_s3uri_does_not_move_the_floor(
    s3: Any, table_name: str
) -> None:
    """Guide, "Call caching": a manifest's s3uri is its entry directory. A floor+1 manifest of this cache
    copied (or forged) into another directory proves nothing about the service's version."""
    # Given a version-2 cache and a well-formed version-3 manifest of this cache whose s3uri names a
    # directory other than the one it lies in
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    prune(s3, table_name, f"s3://{BUCKET}/cache")
    entry = entry_uuid(98)
    elsewhere = f"s3://{BUCKET}/cache/{CACHE_UUID}/1003/2098/{entry_uuid(97)}"
    forged = {f"cache/{CACHE_UUID}/1003/2098/{entry}/{entry}.json": guide_manifest(entry, 3, "1003", "2098",
                                                                                    location=elsewhere)}
    put_all(s3, forged)
    # When an enforce pass runs
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    # Then the floor stays at 2, the current entries stay, and the forged manifest is kept as foreign
    assert ProvenanceRepository(table_name).cache_version(CACHE_ID) == 2
    assert result["record"]["final_floor"] == 2 and result["record"]["foreign"] == 1
    assert keys(s3) == set(current) | set(forged)


def test_the_guides_example_entry_at_its_own_s3uri_is_pruned_as_this_caches(aws: None, table_name: str) -> None:
    """Guide, "Call caching": the example manifest (ARN entry id 1234567-195f-…) lies in the directory its
    s3uri names (…/7e8c69b1-145f-…, bucket `example`, cache at the bucket root): it is an entry of cache
    0123456 and is judged by its version like any other."""
    client = boto3.client("s3")
    for bucket in ("example", REPORTS):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket="example", VersioningConfiguration={"Status": "Enabled"})
    doc = json.loads(REFERENCE_MANIFEST.read_text())
    directory = doc["s3uri"].removeprefix("s3://example/")
    entry = directory.rsplit("/", 1)[1]
    guide_entry = {
        f"{directory}/{entry}.json": REFERENCE_MANIFEST.read_bytes(),
        f"{directory}/{doc['files'][0]['path']}": b"hello",
    }
    for key, body in guide_entry.items():
        client.put_object(Bucket="example", Key=key, Body=body)

    def listed() -> set[str]:
        return {o["Key"] for o in client.list_objects_v2(Bucket="example").get("Contents", [])}

    # When an enforce pass runs at the guide's version: the entry is this cache's and current
    result = prune(client, table_name, "s3://example")
    assert (result["record"]["current"], result["record"]["foreign"]) == (1, 0)
    assert listed() == set(guide_entry)
    # When the operator confirms version 3: the guide's version-2 entry is stale and deleted
    result = prune(client, table_name, "s3://example", min_version=3)
    assert result["record"]["entries_deleted"] == 1 and listed() == set()


def test_a_pass_that_finds_manifests_but_none_of_this_cache_warns_and_alarms(
    s3: Any, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cache whose manifests all fail to name it (wrong cache id, moved data) would prune nothing,
    forever and silently: the pass says so (report field, warning, alarmed metric)."""
    # Given a cache prefix whose only manifests belong to another cache
    for key, body in cache_entry("cache/", "1001", "2001", 1, 2).items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.replace(CACHE_ID.encode(), b"7654321"))
    # When an enforce pass runs
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    # Then the pass record flags it and the alarmed metric is emitted
    assert result["record"]["foreign"] == 1 and result["record"]["none_of_this_cache"] is True
    assert '"PruneNoEntryOfThisCache"' in capsys.readouterr().out


def test_a_refused_enforce_pass_is_recorded_and_alarmed(
    aws: None, table_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an unversioned cache bucket and no consent to delete in it
    client = boto3.client("s3")
    client.create_bucket(Bucket="external-cache")
    client.create_bucket(Bucket=REPORTS)
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS)
    pruner = Pruner(ProvenanceRepository(table_name), S3Store(client), lambda: None, config, InlineQueue())
    # When an enforce pass is asked for
    refused = pruner.start_pass(CacheTarget(CACHE_ID, "s3://external-cache"), "enforce")
    # Then it is refused, recorded as a REFUSED pass with its reason, and the alarmed metric is emitted
    assert refused["status"] == "REFUSED"
    [record] = ProvenanceRepository(table_name).prune_history(CACHE_ID)
    assert (record["status"], record["pass_id"], record["mode"]) == ("REFUSED", refused["passId"], "enforce")
    assert "versioning" in record["reason"]
    assert '"PrunePassRefused"' in capsys.readouterr().out


def test_info_logs_of_a_pass_name_no_s3_location(s3: Any, table_name: str, shipped_logs: io.StringIO) -> None:
    """S3 keys stay out of INFO logs (genomics keys carry sample names): the pass's cache location, report and
    inventory manifest are in its record and report, which `autopilot cache report` shows."""
    # Given a cache with current and stale entries
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    # When an enforce pass runs from start to finish
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    assert result["record"]["status"] == "COMPLETED" and result["record"]["cache_s3_uri"]
    # Then no INFO line names a bucket or an S3 URI
    lines = [json.loads(line) for line in shipped_logs.getvalue().splitlines() if line.startswith("{")]
    info = [line for line in lines if line.get("level") == "INFO"]
    assert {line["message"] for line in info} >= {"prune pass started", "prune pass finished"}
    leaked = [line for line in info if "s3://" in json.dumps(line) or BUCKET in json.dumps(line)
              or REPORTS in json.dumps(line)]
    assert leaked == []
