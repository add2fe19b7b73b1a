"""Undo of an enforce pass (issue 11): `restore_pass` brings back exactly what the pass deleted, from the
versioned cache bucket's noncurrent versions, using the keys and delete-marker version ids the pass
report lists. Oracle: moto's S3 versioning (DeleteObjects on a versioned bucket creates delete markers;
deleting a marker version makes the previous version current again)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pruner.config import PrunerConfig
from pruner.dispatch import InlineQueue
from pruner.restore import RestoreError, restore_pass
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner, cache_lease
from shared.provenance.repository import ProvenanceRepository
from tests.integration.test_pruner_hostile import (
    BUCKET,
    CACHE_ID,
    CACHE_UUID,
    REPORTS,
    a_cache,
    cache_entry,
    keys,
    prune,
    put_all,
)
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture


def bodies(s3: Any, names: set[str]) -> dict[str, bytes]:
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in names}



@dataclass
class _DiedPass:
    current: dict[str, bytes]
    stale: dict[str, bytes]
    repository: ProvenanceRepository
    started: dict[str, Any]
    redeliver: Callable[[], None]  # the work item's message again, to a worker that completes it


def _a_pass_whose_worker_died_after_deleting_data(s3: Any, table_name: str) -> _DiedPass:
    """An enforce pass whose worker deleted the stale entries' data objects (first DeleteObjects call) and died
    before their manifests (second call): the pass is RUNNING, its message to be redelivered."""
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

    def redeliver() -> None:
        queue([item])
        queue.drain(lambda again: pruner(s3).work(again, lambda: False, invocation_id="second"))

    return _DiedPass(current, stale, repository, started, redeliver)

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
    died = _a_pass_whose_worker_died_after_deleting_data(s3, table_name)
    current, stale, repository, started = died.current, died.stale, died.repository, died.started
    # When the message is redelivered, the pass completes, and the pass is restored
    died.redeliver()
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


def expire_noncurrent(s3: Any, key: str) -> None:
    """What the bucket's lifecycle does to a deleted key's data version after `pruneUndoRetentionDays`."""
    for version in s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []):
        if version["Key"] == key:
            s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"])


def test_an_entry_whose_data_file_expired_keeps_its_manifest_deleted(
    s3: Any, table_name: str, shipped_logs: Any
) -> None:
    """HealthOmics must never see a manifest whose files are not back: it would serve a cache hit naming a
    file that is gone."""
    # Given an enforce pass that deleted two stale entries, and one entry's data file past the undo window
    # (its noncurrent version expired) while its manifest is not yet
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    data_key = sorted(k for k in stale if not k.endswith(".json"))[0]
    entry = data_key.split("out/")[0]
    manifest_key = next(k for k in stale if k.startswith(entry) and k.endswith(".json"))
    whole = {k: v for k, v in stale.items() if not k.startswith(entry)}
    expire_noncurrent(s3, data_key)
    repository = ProvenanceRepository(table_name)
    logged_before = len(shipped_logs.getvalue())
    # When the pass is restored
    restored = restore_pass(repository, s3, CACHE_ID, result["passId"])
    # Then the other entry is back whole, and the broken entry's manifest stays deleted: the entry is partial
    assert keys(s3) == set(current) | set(whole)
    assert bodies(s3, set(whole)) == whole
    assert (restored.restored, restored.not_restorable, restored.failed) == (len(whole), [data_key], {})
    assert (restored.entries_restored, restored.partial_entries) == (1, [entry])
    record = repository.prune_history(CACHE_ID)[-1]
    assert (record["restored_objects"], record["restored_entries"], record["restore_partial_entries"]) == (2, 1, 1)
    assert record["restored_bytes"] == sum(len(body) for body in whole.values())
    # And a second restore gives the same answer (idempotent), the manifest still deleted
    again = restore_pass(repository, s3, CACHE_ID, result["passId"])
    assert manifest_key not in keys(s3)
    assert (again.restored, again.not_restorable, again.partial_entries) == (2, [data_key], [entry])
    # And no key reached the shipped (INFO) logs
    assert CACHE_UUID not in shipped_logs.getvalue()[logged_before:]


def test_a_pass_still_running_is_refused_then_restored_once_it_finished(s3: Any, table_name: str) -> None:
    """A restore of a pass whose workers are still deleting would bring objects back that the pass's own
    redelivered work deletes again, while saying it restored them."""
    # Given an enforce pass whose worker deleted the stale entries' data files and died (the message will
    # be redelivered): the pass is still RUNNING
    died = _a_pass_whose_worker_died_after_deleting_data(s3, table_name)
    current, stale, repository, started = died.current, died.stale, died.repository, died.started
    assert repository.prune_history(CACHE_ID)[-1]["status"] == "RUNNING"
    deleted_so_far = keys(s3)
    # When the operator restores it: refused, and nothing is touched
    with pytest.raises(RestoreError, match="RUNNING"):
        restore_pass(repository, s3, CACHE_ID, started["passId"])
    assert keys(s3) == deleted_so_far and "restored_objects" not in repository.prune_history(CACHE_ID)[-1]
    # Then once the pass has finished, the restore brings back everything it deleted
    died.redeliver()
    restored = restore_pass(repository, s3, CACHE_ID, started["passId"])
    assert keys(s3) == set(current) | set(stale)
    assert (restored.restored, restored.not_restorable, restored.failed) == (len(stale), [], {})


def test_a_restore_is_no_exemption_the_next_full_pass_under_the_same_rules_deletes_again(
    s3: Any, table_name: str
) -> None:
    # Given an enforce pass that deleted the stale entries, restored whole
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    repository = ProvenanceRepository(table_name)
    restore_pass(repository, s3, CACHE_ID, result["passId"])
    assert keys(s3) == set(current) | set(stale)
    # When a full pass runs under the same rules
    queue = InlineQueue()
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS)
    pruner = Pruner(repository, S3Store(s3, sleep=lambda _: None), lambda: None, config, queue)
    pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "enforce", full=True)
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="later"))
    # Then the restored entries are stale again and deleted again (docs/OPERATIONS.md says so)
    assert keys(s3) == set(current)


def test_what_a_failed_invocation_deleted_is_counted_in_the_pass(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose worker dies after deleting the stale entries' data objects, then completes
    died = _a_pass_whose_worker_died_after_deleting_data(s3, table_name)
    stale, repository = died.stale, died.repository
    died.redeliver()
    # Then the pass record counts every object and byte it deleted, in either invocation (before: the
    # manifests only, 2 and 1,252 of 4 objects and 1,459 bytes: the failing one checkpointed nothing)
    record = repository.prune_history(CACHE_ID)[-1]
    assert (record["objects_deleted"], record["bytes_reclaimed"]) == (len(stale), sum(map(len, stale.values())))


def test_what_an_item_deleted_before_it_lost_the_cache_lease_is_counted_in_its_aborted_pass(
    s3: Any, table_name: str
) -> None:
    # Given an enforce pass whose worker deleted the stale entries' data objects, checkpointed and died
    died = _a_pass_whose_worker_died_after_deleting_data(s3, table_name)
    current, stale, repository = died.current, died.stale, died.repository
    data = {key: body for key, body in stale.items() if not key.endswith(".json")}
    assert keys(s3) == set(current) | set(stale) - set(data)
    # And the pass's lease expired and another pass holds the cache now
    later = int(datetime.now(UTC).timestamp()) + PrunerConfig().lease_seconds + 1
    assert repository.acquire_lease(cache_lease(CACHE_ID), "another-pass", later, 3600)
    # When the message is redelivered: the item touches nothing more and is aborted
    died.redeliver()
    assert keys(s3) == set(current) | set(stale) - set(data)
    # Then the pass is ABORTED and its record counts what the item deleted before the abort (before: 0 and 0)
    record = repository.prune_history(CACHE_ID)[-1]
    assert record["status"] == "ABORTED" and record["aborted_items"] == 1
    assert (record["objects_deleted"], record["bytes_reclaimed"]) == (len(data), sum(map(len, data.values())))
    # And the aborted range reports no floor state a later pass could skip by
    [item] = repository.prune_items(CACHE_ID, record["pass_id"], 1)
    assert item["aborted"] == "cache lease lost" and "lowest_kept" not in item and "revisit_since" not in item
    assert int(item["max_seen"]) == 0 and int(item["held_version"]) == 0
    # And once the cache is free, the next pass (not asked to be full) re-reads every manifest of that range
    repository.release_lease(cache_lease(CACHE_ID), "another-pass")
    following = prune(s3, table_name, f"s3://{BUCKET}/cache")["record"]
    assert following["status"] == "COMPLETED" and following.get("incremental_since") is None
    assert int(following["unchanged"]) == 0 and int(following["entries_scanned"]) == len(current) // 2 + 2
    assert keys(s3) == set(current)


class DeniesOneKey:
    """The real (moto) client, except DeleteObjects refuses `key` (AccessDenied), as S3 does per key."""

    def __init__(self, client: Any, key: str) -> None:
        self._client, self.key = client, key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        allowed = [o for o in Delete["Objects"] if o["Key"] != self.key]
        response = self._client.delete_objects(Bucket=Bucket, Delete={**Delete, "Objects": allowed}) if allowed \
            else {}
        if len(allowed) < len(Delete["Objects"]):
            response.setdefault("Errors", []).append({"Key": self.key, "Code": "AccessDenied", "Message": "no"})
        return response


def test_restoring_the_pass_that_finished_an_entry_keeps_its_manifest_deleted_while_its_data_is_not_back(
        s3: Any, table_name: str) -> None:
    # Given a stale entry (version 1, floor 2 set by a current entry) with two data files
    current = cache_entry("cache/", "1001", "2001", 1, 2)
    stale = cache_entry("cache/", "1002", "2003", 3, 1)
    manifest = next(k for k in stale if k.endswith(".json"))
    first_data = next(k for k in stale if not k.endswith(".json"))
    second_data = first_data.replace("outfile.txt", "outfile2.txt")
    stale[second_data] = b"y" * 200
    put_all(s3, {**current, **stale})
    # And a first enforce pass that deleted one data file, was refused the other, and kept the manifest
    prune(DeniesOneKey(s3, second_data), table_name, f"s3://{BUCKET}/cache")
    assert first_data not in keys(s3) and {second_data, manifest} <= keys(s3)
    # And a second pass that finished the entry (the other data file, then the manifest)
    second = prune(s3, table_name, f"s3://{BUCKET}/cache")
    assert not set(stale) & keys(s3)
    # When the operator restores the second pass
    restored = restore_pass(ProvenanceRepository(table_name), s3, CACHE_ID, second["passId"])
    # Then the manifest must not be current while a file of its entry is still deleted
    back = keys(s3)
    assert not (manifest in back and first_data not in back), (
        f"manifest restored without {first_data.rsplit('/', 1)[1]} (deleted by the first pass); "
        f"entries_restored={restored.entries_restored}, partial={restored.partial_entries}, "
        f"complete={restored.complete}")
    assert restored.partial_entries and not restored.complete
    # and restoring the first pass too brings the whole entry back, manifest last
    first_pass = ProvenanceRepository(table_name).prune_history(CACHE_ID)[0]["pass_id"]
    restore_pass(ProvenanceRepository(table_name), s3, CACHE_ID, first_pass)
    again = restore_pass(ProvenanceRepository(table_name), s3, CACHE_ID, second["passId"])
    assert set(stale) <= keys(s3) and again.complete and again.entries_restored == 1


class FailsAfterDeletingOnce:
    """The real (moto) client, except the first DeleteObjects deletes and then answers a whole-request 500
    (InternalError), as S3 may: the pruner sends the same keys again, and each gets a second delete marker."""

    def __init__(self, client: Any) -> None:
        self._client, self.failed = client, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        response = self._client.delete_objects(Bucket=Bucket, Delete=Delete)
        if not self.failed:
            self.failed = True
            raise ClientError({"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}},
                              "DeleteObjects")
        return dict(response)


def test_a_delete_retried_after_a_500_that_had_deleted_is_restored_whole(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose first DeleteObjects deleted the stale data files and still answered 500: its
    # retry put a second delete marker on each, and the report holds that second one
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(FailsAfterDeletingOnce(s3), table_name, f"s3://{BUCKET}/cache")
    assert keys(s3) == set(current) and result["record"]["status"] == "COMPLETED"
    # When the operator restores the pass
    restored = restore_pass(ProvenanceRepository(table_name), s3, CACHE_ID, result["passId"])
    # Then every key it deleted is back, the markers its retry stacked removed too
    assert keys(s3) == set(current) | set(stale) and bodies(s3, set(stale)) == stale
    assert restored.complete and restored.entries_restored == len(stale) // 2
