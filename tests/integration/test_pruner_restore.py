"""Undo of an enforce pass (issue 11): `restore_pass` brings back exactly what the pass deleted, from the
versioned cache bucket's noncurrent versions, using the keys and delete-marker version ids the pass
report lists. Oracle: moto's S3 versioning (DeleteObjects on a versioned bucket creates delete markers;
deleting a marker version makes the previous version current again)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pruner.config import PrunerConfig
from pruner.dispatch import InlineQueue
from pruner.restore import RestoreError, restore_pass
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from shared.provenance.repository import ProvenanceRepository
from tests.integration.test_pruner_hostile import BUCKET, CACHE_ID, REPORTS, a_cache, keys, prune, put_all
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture


def bodies(s3: Any, names: set[str]) -> dict[str, bytes]:
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in names}


def test_restore_brings_back_exactly_what_an_enforce_pass_deleted(s3: Any, table_name: str) -> None:
    # Given a cache whose stale entries an enforce pass deleted
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    assert keys(s3) == set(current)
    repository = ProvenanceRepository(table_name)
    # When the pass is restored
    restored = restore_pass(repository, s3, CACHE_ID, result["passId"])
    # Then every deleted object is current again, byte for byte, and the audit record says so
    assert keys(s3) == set(current) | set(stale)
    assert bodies(s3, set(stale)) == stale
    assert (restored.restored, restored.not_restorable, restored.failed) == (len(stale), [], {})
    assert repository.prune_history(CACHE_ID)[-1]["restored_objects"] == len(stale)
    # And a second restore changes nothing (removing an absent version is a no-op)
    again = restore_pass(repository, s3, CACHE_ID, result["passId"])
    assert keys(s3) == set(current) | set(stale) and again.restored == len(stale)


def test_a_dry_run_or_unknown_pass_cannot_be_restored(s3: Any, table_name: str) -> None:
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    dry = prune(s3, table_name, f"s3://{BUCKET}/cache", mode="dry-run")
    repository = ProvenanceRepository(table_name)
    with pytest.raises(RestoreError, match="dry-run"):
        restore_pass(repository, s3, CACHE_ID, dry["passId"])
    with pytest.raises(RestoreError, match="no prune pass"):
        restore_pass(repository, s3, CACHE_ID, "0000000000000000")


class DropsAfterDeleting:
    """The real (moto) client, except that the `fail_on`-th DeleteObjects call deletes nothing and raises
    (a lost connection), after earlier calls really deleted."""

    def __init__(self, client: Any, fail_on: int) -> None:
        self._client = client
        self.fail_on = fail_on
        self.delete_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
        self.delete_calls += 1
        if self.delete_calls == self.fail_on:
            raise ConnectionResetError("connection reset by peer")
        return self._client.delete_objects(**kwargs)


def test_what_a_failed_invocation_deleted_is_in_the_report_and_restored(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose worker dies after deleting the stale entries' data objects (first
    # DeleteObjects call) and before their manifests (second call)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    queue = InlineQueue()
    repository = ProvenanceRepository(table_name)
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS)

    def pruner(client: Any) -> Pruner:
        return Pruner(repository, S3Store(client, sleep=lambda _: None), lambda: None, config, queue)

    started = pruner(s3).start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "enforce")
    [item] = list(queue.items)
    queue.items.clear()
    with pytest.raises(ConnectionResetError):
        pruner(DropsAfterDeleting(s3, fail_on=2)).work(item, lambda: False, invocation_id="first")
    # When the message is redelivered, the pass completes, and the pass is restored
    queue([item])
    queue.drain(lambda again: pruner(s3).work(again, lambda: False, invocation_id="second"))
    assert keys(s3) == set(current)
    restored = restore_pass(repository, s3, CACHE_ID, started["passId"])
    # Then everything the pass deleted, in either invocation, is back
    assert keys(s3) == set(current) | set(stale)
    assert bodies(s3, set(stale)) == stale
    assert (restored.restored, restored.not_restorable, restored.failed) == (len(stale), [], {})


def test_restore_removes_only_delete_markers_of_the_cache_named_by_the_passs_own_report_parts(
    s3: Any, table_name: str
) -> None:
    """Whoever can write under the pass's report prefix must not be able to make a restore delete data:
    only the pass's part files are read, only keys under the cache prefix are touched, and only a version
    that is a delete marker is removed."""
    # Given an enforce pass that deleted the stale entries, and data outside the cache prefix
    current, stale = a_cache("cache/")
    outside = {"notes/keep.txt": b"precious"}
    put_all(s3, {**current, **stale, **outside})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    pass_prefix = f"prune-reports/{CACHE_ID}/{result['passId']}/"

    def version(key: str) -> str:
        return str(s3.head_object(Bucket=BUCKET, Key=key)["VersionId"])

    current_key = sorted(current)[0]
    hostile = [
        {"action": "deleted", "key": current_key, "deleteMarkerVersionId": version(current_key)},
        {"action": "deleted", "key": "notes/keep.txt", "deleteMarkerVersionId": version("notes/keep.txt")},
    ]
    body = "".join(json.dumps(line) + "\n" for line in hostile).encode()
    # ... and hostile lines planted: deeper, under another name, and as a well-named part
    for name in ("x/r01-00000-0000.jsonl", "extra.jsonl", "r09-00000-0000-0123456789ab-0000.jsonl"):
        s3.put_object(Bucket=REPORTS, Key=pass_prefix + name, Body=body)
    # When the pass is restored
    restored = restore_pass(ProvenanceRepository(table_name), s3, CACHE_ID, result["passId"])
    # Then the stale entries are back and nothing else was touched
    assert keys(s3) == set(current) | set(stale) | set(outside)
    assert bodies(s3, {current_key, "notes/keep.txt"}) == {current_key: current[current_key], **outside}
    assert restored.restored == len(stale)
    assert restored.failed == {current_key: "NotADeleteMarker"}  # outside the prefix: not even looked at
