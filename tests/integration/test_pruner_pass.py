"""A whole prune pass against moto S3 + DynamoDB: exact deletions and bytes on a synthetic cache that
mixes version 2, version 1, legacy, invalid (the guide's own printed example), orphan, foreign and
active-run entries, plus keys outside the cache prefix. Manifests are in the guide's format
("Call caching"; tests/fixtures/guide/run-cache-entry-manifest.v2.json)."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pruner.config import PrunerConfig, PruneRequest, RulesModel, WorkItem
from pruner.dispatch import InlineQueue, SqsDispatcher
from pruner.s3_store import S3Store
from pruner.scan import MAX_UNSETTLED_WINDOWS
from pruner.service import CacheTarget, Pruner
from shared.errors import RetryableError
from shared.provenance.items import StatusObservation
from shared.provenance.keys import cache_pk
from shared.provenance.repository import ProvenanceRepository
from shared.status import iso_time, order_key, run_rank
from tests.pruner_synthetic import GUIDE_MANIFEST_TEXT, REFERENCE_MANIFEST

CACHE_BUCKET = "run-cache"
REPORTS = "reports"
CACHE_ID = "0123456"  # the cache the guide's example manifest belongs to
UUID = "1234567-d0d1-e230-d599-10f1539f4a32"
ACTIVE_RUN = "1003"


def uid(name: str) -> str:
    """An entry directory name shaped like the service's (uuid-like)."""
    return f"{name}-0000-4000-8000-000000000000"


def manifest(entry: str, version: int | None, cache_id: str = CACHE_ID, run: str = "1", task: str = "2") -> bytes:
    """A manifest whose s3uri is the entry directory cache/{UUID}/{run}/{task}/{entry} of the cache bucket."""
    doc: dict[str, Any] = {
        "arn": f"arn:aws:omics:us-east-1:123456789012:runCache/{cache_id}/cacheEntry/{entry}",
        "s3uri": f"s3://{CACHE_BUCKET}/cache/{UUID}/{run}/{task}/{entry}",
        "taskArn": "arn:aws:omics:us-east-1:123456789012:task/2",
        "files": [],
        "nextflowContext": {},
        "otherOutputs": {},
    }
    if version is not None:
        doc["version"] = version
    return json.dumps(doc).encode()


def entry_objects(
    run: str, task: str, entry: str, body: bytes | None, sizes: tuple[int, ...]
) -> dict[str, bytes]:
    prefix = f"cache/{UUID}/{run}/{task}/{entry}/"
    objects = {f"{prefix}out/o{i}/file.dat": b"x" * size for i, size in enumerate(sizes)}
    if body is not None:
        objects[f"{prefix}{entry}.json"] = body
    return objects


def cached(
    run: str, task: str, name: str, version: int | None, sizes: tuple[int, ...], cache_id: str = CACHE_ID
) -> dict[str, bytes]:
    """An entry with a manifest at its own location (s3uri) in the cache bucket."""
    entry = uid(name)
    return entry_objects(run, task, entry, manifest(entry, version, cache_id, run, task), sizes)


# name -> (objects, expected to be deleted)
def layout() -> dict[str, tuple[dict[str, bytes], bool]]:
    reference = REFERENCE_MANIFEST.read_bytes()  # the guide's manifest, valid JSON, version 2
    return {
        "v2-reference": (
            # in the directory the ARN's entry id names, not at its s3uri: copied here, foreign
            entry_objects("1001", "4795326", "1234567-195f-3921-a1fa-ffffcef0a6a4", reference, (300, 200)),
            False,
        ),
        "v2": (
            cached("1001", "2001", "aaaa0001", 2, (1000,)),
            False,
        ),
        "v1": (
            cached("1001", "2002", "aaaa0002", 1, (1500, 2500)),
            True,
        ),
        "legacy": (
            cached("1001", "2003", "aaaa0003", None, (700,)),
            True,
        ),
        "invalid": (
            entry_objects("1002", "2004", uid("aaaa0004"), GUIDE_MANIFEST_TEXT.encode(), (900,)),
            False,
        ),
        # uuid-like directories, numeric ids, no manifest: nothing says it is this cache's, kept
        "orphan": (entry_objects("1002", "2005", "aaaa0005-0000-4000-8000-000000000005", None, (400, 50)), False),
        "foreign-v1": (
            cached("1002", "2006", "aaaa0006", 1, (80,), "7654321"),
            False,
        ),
        "active-v1": (
            cached(ACTIVE_RUN, "2007", "aaaa0007", 1, (60,)),
            False,
        ),
        "stray": ({"cache/README.txt": b"hello", f"cache/{UUID}/1001/loose.txt": b"loose"}, False),
        "outside": (
            {
                "cachex/u/1/2/3/3.json": manifest("3", 1),
                "other/u/1/2/e/e.json": manifest("e", 1),
                "root.json": b"{}",
            },
            False,
        ),
    }


@pytest.fixture
def world(table_name: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    for bucket in (CACHE_BUCKET, REPORTS):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=CACHE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    objects = layout()
    for keys, _ in objects.values():
        for key, body in keys.items():
            s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    repository = ProvenanceRepository(table_name)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    observation = StatusObservation(
        kind="RUN",
        entity_id=ACTIVE_RUN,
        run_id=ACTIVE_RUN,
        run_uuid=f"uuid-{ACTIVE_RUN}",
        status="RUNNING",
        rank=run_rank("RUNNING"),
        event_id="e1",
        event_time=iso_time(when),
        order=order_key(run_rank("RUNNING"), when, "e1"),
    )
    repository.advance_run(observation, {})
    return {"s3": s3, "repository": repository, "objects": objects}


def make_pruner(
    world: dict[str, Any],
    queue: InlineQueue,
    *,
    client: Any = None,
    rules: RulesModel | None = None,
    runs_per_item: int = 2000,
    clock_days: int = 0,
    **kwargs: Any,
) -> Pruner:
    config = PrunerConfig(
        default_mode="dry-run",
        cache_ids=[CACHE_ID],
        rules=rules or RulesModel(),
        report_bucket=REPORTS,
        report_prefix="prune-reports/",
        runs_per_item=runs_per_item,
    )
    now = datetime.now(UTC) + timedelta(days=clock_days)
    return Pruner(
        world["repository"],
        S3Store(client or world["s3"], sleep=lambda _: None),
        omics=lambda: None,
        config=config,
        send=queue,
        clock=lambda: now,
        **kwargs,
    )


def run_pass(
    world: dict[str, Any], mode: str = "enforce", **kwargs: Any
) -> tuple[dict[str, Any], InlineQueue]:
    queue = InlineQueue()
    pruner = make_pruner(world, queue, **kwargs)
    started = pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), mode)  # type: ignore[arg-type]
    n = 0

    def work(item: Any) -> str:
        nonlocal n
        n += 1
        return pruner.work(item, lambda: False, invocation_id=f"inv-{n}")

    queue.drain(work)
    return started, queue


def remaining(world: dict[str, Any]) -> set[str]:
    paginator = world["s3"].get_paginator("list_objects_v2")
    return {o["Key"] for page in paginator.paginate(Bucket=CACHE_BUCKET) for o in page.get("Contents", [])}


def expected(world: dict[str, Any], *deleted_names: str) -> tuple[set[str], int]:
    keep, freed = set(), 0
    for name, (keys, _) in world["objects"].items():
        if name in deleted_names:
            freed += sum(len(body) for body in keys.values())
        else:
            keep |= set(keys)
    return keep, freed


def last_pass(world: dict[str, Any]) -> dict[str, Any]:
    history = world["repository"].prune_history(CACHE_ID)
    assert history, "no prune record"
    return history[-1]


def report_lines(world: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    prefix = f"prune-reports/{CACHE_ID}/{record['pass_id']}/"
    listing = world["s3"].list_objects_v2(Bucket=REPORTS, Prefix=prefix).get("Contents", [])
    lines = []
    for obj in listing:
        if obj["Key"].endswith(".jsonl"):
            body = world["s3"].get_object(Bucket=REPORTS, Key=obj["Key"])["Body"].read().decode()
            lines += [json.loads(line) for line in body.splitlines()]
    return lines


def test_enforce_deletes_exactly_the_stale_entries_and_counts_their_bytes(world: dict[str, Any]) -> None:
    # Given the mixed cache, When an enforce pass runs
    started, _ = run_pass(world, "enforce")
    # Then exactly the version-1 and legacy entries of this cache are gone, everything else is intact
    keep, freed = expected(world, "v1", "legacy")
    assert started["status"] == "STARTED" and started["floor"] == 0
    assert remaining(world) == keep
    record = last_pass(world)
    assert record["status"] == "COMPLETED"
    assert record["mode"] == "enforce"
    assert (record["entries_scanned"], record["stale"], record["entries_deleted"]) == (8, 2, 2)
    assert record["bytes_reclaimed"] == freed == record["stale_bytes"]
    assert record["objects_deleted"] == 5
    assert (record["unreadable"], record["orphans"], record["foreign"], record["active_skipped"]) == (0, 1, 3, 1)
    assert (record["legacy"], record["current"], record["strays"], record["errors"]) == (1, 1, 2, 0)
    assert world["repository"].cache_version(CACHE_ID) == 2
    # And the report lists per run and task what was deleted, with bytes
    lines = report_lines(world, record)
    deleted = {(line["runId"], line["taskId"]): line for line in lines if line["action"] == "delete"}
    assert set(deleted) == {("1001", "2002"), ("1001", "2003")}
    assert sum(line["bytes"] for line in deleted.values()) == freed
    assert deleted[("1001", "2003")]["reasons"] == {"LEGACY": 1}
    kept = {line["reason"] for line in lines if line["action"] == "keep"}
    assert kept == {"ORPHAN", "FOREIGN", "ACTIVE_RUN"}
    summary = json.loads(
        world["s3"]
        .get_object(Bucket=REPORTS, Key=f"prune-reports/{CACHE_ID}/{record['pass_id']}/summary.json")["Body"]
        .read()
    )
    assert summary["bytes_reclaimed"] == freed and summary["status"] == "COMPLETED"
    assert record["report_uri"] == f"s3://{REPORTS}/prune-reports/{CACHE_ID}/{record['pass_id']}/summary.json"


def test_dry_run_deletes_nothing_and_reports_what_would_go(world: dict[str, Any]) -> None:
    before = remaining(world)
    run_pass(world, "dry-run")
    assert remaining(world) == before
    record = last_pass(world)
    _, freed = expected(world, "v1", "legacy")
    assert (record["stale"], record["stale_bytes"], record.get("bytes_reclaimed", 0)) == (2, freed, 0)
    actions = {line["action"] for line in report_lines(world, record)}
    assert "would-delete" in actions and "delete" not in actions


def test_a_second_prune_of_the_same_cache_is_refused_while_the_lease_is_held(world: dict[str, Any]) -> None:
    repository: ProvenanceRepository = world["repository"]
    assert repository.acquire_lease(
        f"prune:{CACHE_ID}", "someone-else", int(datetime.now(UTC).timestamp()), 600
    )
    before = remaining(world)
    started, queue = run_pass(world, "enforce")
    assert started["status"] == "SKIPPED" and "lease" in started["reason"]
    assert queue.sent == 0 and remaining(world) == before


def test_configured_minimum_version_makes_version_2_stale_too(world: dict[str, Any]) -> None:
    run_pass(world, "enforce", rules=RulesModel(min_version=3))
    keep, _ = expected(world, "v1", "legacy", "v2")
    assert remaining(world) == keep


def test_the_opt_in_age_rule_deletes_old_entries_of_this_cache_only(world: dict[str, Any]) -> None:
    # Every object is 10 days old from the pruner's point of view.
    run_pass(world, "enforce", rules=RulesModel(max_age_days=30), clock_days=10)
    assert remaining(world) == expected(world, "v1", "legacy")[0]
    run_pass(world, "enforce", rules=RulesModel(max_age_days=9), clock_days=10)
    # the orphan, the invalid and the foreign entries (the copied guide manifest too) are not this cache's: kept
    keep, _ = expected(world, "v1", "legacy", "v2")
    assert remaining(world) == keep


class FlakyDeletes:
    """The real (moto) client, except that DeleteObjects reports per-key errors for chosen keys."""

    def __init__(self, client: Any, faults: dict[str, list[str]]) -> None:
        self._client = client
        self.faults = faults  # key -> codes to return, one per attempt
        self.delete_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.delete_calls += 1
        failing = {
            o["Key"]: self.faults[o["Key"]].pop(0) for o in Delete["Objects"] if self.faults.get(o["Key"])
        }
        rest = [o for o in Delete["Objects"] if o["Key"] not in failing]
        response = (
            self._client.delete_objects(Bucket=Bucket, Delete={**Delete, "Objects": rest}) if rest else {}
        )
        errors = [{"Key": k, "Code": c, "Message": c} for k, c in failing.items()]
        return {**response, "Errors": [*response.get("Errors", []), *errors]}


def test_partial_delete_errors_are_retried_recorded_and_finished_by_the_next_pass(
    world: dict[str, Any],
) -> None:
    v1_keys = sorted(world["objects"]["v1"][0])
    legacy_data = next(k for k in world["objects"]["legacy"][0] if k.endswith(".dat"))
    legacy_manifest = next(k for k in world["objects"]["legacy"][0] if k.endswith(".json"))
    flaky = FlakyDeletes(
        world["s3"], {v1_keys[0]: ["SlowDown", "InternalError"], legacy_data: ["AccessDenied"]}
    )
    # When one key is throttled twice and another is refused
    run_pass(world, "enforce", client=flaky)
    # Then the throttled key was retried and deleted; the refused one is recorded and its entry keeps
    # its manifest, so it is still recognised as a stale entry, not turned into an orphan
    left = remaining(world)
    assert not set(v1_keys) & left
    assert {legacy_data, legacy_manifest} <= left
    record = last_pass(world)
    assert record["status"] == "COMPLETED_WITH_ERRORS"
    assert (record["errors"], record["entries_deleted"], record["stale"]) == (1, 1, 2)
    failures = [line for line in report_lines(world, record) if line["action"] == "delete-failed"]
    assert failures == [{"action": "delete-failed", "code": "AccessDenied", "key": legacy_data}]
    # And the next pass finishes the entry
    run_pass(world, "enforce")
    assert remaining(world) == expected(world, "v1", "legacy")[0]


def test_fan_out_by_run_prefix_catches_up_ranges_judged_before_a_higher_version_was_seen(
    world: dict[str, Any],
) -> None:
    # Given one work item per run prefix; run 1000 (first in key order) holds only version-1 entries,
    # so its range is judged with floor 1 before run 1001's version 2 is seen
    s3 = world["s3"]
    early = cached("1000", "2000", "bbbb0001", 1, (123,))
    for key, body in early.items():
        s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    # When the pass runs
    started, queue = run_pass(world, "enforce", runs_per_item=1)
    # Then a catch-up round deleted run 1000's entry as well, and counted it once
    assert started["items"] == 4
    assert not set(early) & remaining(world)
    assert remaining(world) == expected(world, "v1", "legacy")[0]
    record = last_pass(world)
    assert record["round"] == 2 and record["status"] == "COMPLETED"
    assert (record["entries_scanned"], record["stale"], record["entries_deleted"]) == (9, 3, 3)
    assert queue.sent == 4 + 1


def test_interrupted_invocations_resume_to_the_same_state_and_counts(world: dict[str, Any]) -> None:
    queue = InlineQueue()
    pruner = make_pruner(world, queue, scan_window=1)
    pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")

    def work(item: Any) -> str:
        # Each invocation is told to stop a few checks (between one-entry windows, or before a DeleteObjects)
        # after it has judged enough windows to send its first deletions, and stays told: it sends nothing
        # after, and hands over to the next one
        checks = itertools.count(1)
        return pruner.work(item, lambda: next(checks) > MAX_UNSETTLED_WINDOWS + 2, invocation_id="inv")

    outcomes = queue.drain(work)
    assert outcomes.count("continued") >= 1 and outcomes[-1] == "done"
    keep, freed = expected(world, "v1", "legacy")
    assert remaining(world) == keep
    record = last_pass(world)
    assert (record["entries_scanned"], record["stale"], record["entries_deleted"]) == (8, 2, 2)
    assert record["bytes_reclaimed"] == freed


def test_a_pass_whose_items_could_not_be_queued_is_continued_by_the_retry(world: dict[str, Any]) -> None:
    # Given the work queue refuses the pass's items once (e.g. SQS unavailable)
    queue = InlineQueue()
    calls = {"n": 0}

    def flaky_send(items: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("SQS unavailable")
        queue(items)

    target = CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache")
    failing = make_pruner(world, queue)
    failing.send = flaky_send  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="SQS unavailable"):
        failing.start_pass(target, "dry-run", scheduled_time="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    # When the scheduler retries the same scheduled pass
    retried = failing.start_pass(target, "dry-run", scheduled_time="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    # Then it continues that pass (one record) and queues its items; a later duplicate starts nothing
    assert retried["status"] == "STARTED" and retried["items"] >= 1
    assert len(queue.items) == retried["items"]
    assert len(world["repository"].prune_history(CACHE_ID)) == 1
    again = failing.start_pass(target, "dry-run", scheduled_time="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    assert again["status"] == "SKIPPED" and len(queue.items) == retried["items"]


def test_an_on_demand_pass_whose_items_could_not_be_queued_is_continued_by_the_same_request(
    world: dict[str, Any],
) -> None:
    # Given an on-demand request (the CLI's token) whose pass was recorded but whose items the queue refused
    queue = InlineQueue()
    refused = []

    def flaky_send(items: Any) -> None:
        if not refused:
            refused.append(items)
            raise RuntimeError("SQS unavailable")
        queue(items)

    target = CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache")
    pruner = make_pruner(world, queue)
    pruner.send = flaky_send  # type: ignore[method-assign]
    request = PruneRequest.model_validate({"mode": "enforce", "requestId": "5f0c2a9e"})
    with pytest.raises(RuntimeError, match="SQS unavailable"):
        pruner.start_pass(target, "enforce", request_id=request.requestId)
    # When the same request is sent again
    retried = pruner.start_pass(target, "enforce", request_id=request.requestId)
    # Then it continues that pass (one record), which finishes once its items are worked
    assert retried["status"] == "STARTED" and retried["resumed"] and retried["requestId"] == "5f0c2a9e"
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    [record] = world["repository"].prune_history(CACHE_ID)
    assert record["pass_id"] == retried["passId"] and record["status"] == "COMPLETED"
    assert remaining(world) == expected(world, "v1", "legacy")[0]
    # And sent once more it answers with that pass, starting nothing
    again = pruner.start_pass(target, "enforce", request_id=request.requestId)
    assert (again["status"], again["passId"], again["repeated"]) == ("STARTED", record["pass_id"], True)
    assert queue.sent == retried["items"] and len(world["repository"].prune_history(CACHE_ID)) == 1
    # A token is what a CLI would send: no spaces, quotes or path characters
    with pytest.raises(ValueError, match="requestId"):
        PruneRequest.model_validate({"requestId": "a b/c"})


class FailingList:
    """The moto client, except that its first ListObjectsV2 is refused."""

    def __init__(self, client: Any) -> None:
        self.client, self.failed = client, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def list_objects_v2(self, **request: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise ClientError({"Error": {"Code": "InternalError", "Message": "x"}}, "ListObjectsV2")
        return self.client.list_objects_v2(**request)


def test_a_plan_that_fails_before_recording_its_pass_gives_its_lease_back_and_the_retry_keeps_its_start(
    world: dict[str, Any],
) -> None:
    # Given the planner's first listing of the cache fails
    queue, clock = InlineQueue(), [datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)]
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS)
    pruner = Pruner(world["repository"], S3Store(FailingList(world["s3"]), sleep=lambda _: None),
                    omics=lambda: None, config=config, send=queue, clock=lambda: clock[0])
    target = CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache")
    with pytest.raises(Exception, match="ListObjectsV2"):
        pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")
    # Then nothing of the pass is recorded and the cache's lease is free
    assert world["repository"].prune_history(CACHE_ID) == []
    assert world["repository"].acquire_lease(f"prune:{CACHE_ID}", "probe", int(clock[0].timestamp()), 60)
    world["repository"].release_lease(f"prune:{CACHE_ID}", "probe")
    # When the retry comes a minute later, it starts the pass as of the first attempt
    clock[0] += timedelta(minutes=1)
    assert pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")["status"] == "STARTED"
    (record,) = world["repository"].prune_history(CACHE_ID)
    assert record["started_at"] == "2026-01-01T00:00:05.000000Z"


def test_a_duplicate_invocation_while_the_pass_is_being_planned_fails_to_be_retried(world: dict[str, Any]) -> None:
    # Given the scheduled pass is claimed and being planned by another invocation
    queue = InlineQueue()
    pruner = make_pruner(world, queue)
    target = CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache")
    pass_id = hashlib.sha256(f"{CACHE_ID}#2026-01-01T00:00:00Z".encode()).hexdigest()[:16]
    repository: ProvenanceRepository = world["repository"]
    now = datetime.now(UTC)
    assert repository.claim(cache_pk(CACHE_ID), f"PRUNECLAIM#{pass_id}", {"claimed_at": iso_time(now)})
    assert repository.acquire_lease(f"prune-plan:{CACHE_ID}:{pass_id}", "other", int(now.timestamp()), 60)
    # When a duplicate invocation of the same tick comes, it neither plans nor skips: it fails, to be retried
    with pytest.raises(RetryableError, match="being planned"):
        pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    assert queue.sent == 0 and repository.prune_history(CACHE_ID) == []
    # and once the other invocation is gone, its retry plans the pass
    repository.release_lease(f"prune-plan:{CACHE_ID}:{pass_id}", "other")
    assert pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")["status"] == "STARTED"


class PartlySentBatches:
    """The moto SQS client, except that its `fail_on`-th SendMessageBatch queues only the first `keep` of its
    messages and then reports the rest failed ("partial") or raises after queueing them ("raise")."""

    def __init__(self, client: Any, fail_on: int, keep: int, how: str) -> None:
        self.client, self.fail_on, self.keep, self.how, self.calls = client, fail_on, keep, how, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.calls != self.fail_on:
            return self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)  # type: ignore[no-any-return]
        if self.keep:
            self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[: self.keep])
        if self.how == "raise":
            raise ClientError({"Error": {"Code": "InternalError", "Message": "x"}}, "SendMessageBatch")
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries[self.keep :]]
        return {"Successful": [{"Id": e["Id"]} for e in Entries[: self.keep]], "Failed": failed}


def drain_sqs(sqs: Any, url: str, pruner: Pruner) -> list[WorkItem]:
    """Workers: every message (continuations and duplicates included) until the queue is empty."""
    seen: list[WorkItem] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            item = WorkItem.model_validate_json(message["Body"])
            seen.append(item)
            pruner.work(item, lambda: False, invocation_id=f"inv-{len(seen)}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return seen


@pytest.mark.parametrize("how", ["partial", "raise"])
def test_a_plan_retried_after_its_items_were_queued_in_part_continues_the_same_pass(
    world: dict[str, Any], how: str
) -> None:
    # Given twelve more runs of version-1 entries: one run per item makes 15 items, two SendMessageBatch calls
    s3 = world["s3"]
    new = {}
    for run in range(2000, 2012):
        new |= cached(str(run), "3000", f"cccc{run}", 1, (10,))
    for key, body in new.items():
        s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="prune-items")["QueueUrl"]
    sending = PartlySentBatches(sqs, fail_on=2, keep=3, how=how)
    clock = [datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)]
    config = PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS, runs_per_item=1)
    pruner = Pruner(world["repository"], S3Store(s3, sleep=lambda _: None), omics=lambda: None, config=config,
                    send=SqsDispatcher(sending, url), clock=lambda: clock[0])
    target = CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache")
    # When the second batch is queued in part and the invocation fails (13 of 15 items queued)
    with pytest.raises(RetryableError):
        pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")
    # And Lambda retries the same scheduled invocation a minute later
    clock[0] += timedelta(minutes=1)
    retried = pruner.start_pass(target, "enforce", scheduled_time="2026-01-01T00:00:00Z")
    # Then the retry continues the same pass: one pass record, under the first attempt's key
    assert retried["status"] == "STARTED"
    (record,) = world["repository"].prune_history(CACHE_ID)
    assert record["started_at"] == "2026-01-01T00:00:05.000000Z" and record["items_total"] == 15
    # And when the workers take every message, the items queued twice included, the pass finishes once
    clock[0] += timedelta(minutes=1)
    seen = drain_sqs(sqs, url, pruner)
    assert {item.pass_sk for item in seen} == {record["sk"]}
    assert len({item.item_id for item in seen if item.round == 1}) == 15
    (record,) = world["repository"].prune_history(CACHE_ID)
    assert record["status"] == "COMPLETED"
    assert int(record["items_done"]) == int(record["items_total"])
    # with every stale entry deleted and counted once
    assert remaining(world) == expected(world, "v1", "legacy")[0]
    assert (record["stale"], record["entries_deleted"]) == (14, 14)
    assert world["repository"].acquire_lease(f"prune:{CACHE_ID}", "next-pass", int(clock[0].timestamp()), 60)


def test_a_catch_up_round_whose_items_could_not_be_queued_is_queued_by_the_redelivery(world: dict[str, Any]) -> None:
    # Given a pass that needs a catch-up round (run 1000's range is judged before version 2 is seen)
    s3 = world["s3"]
    early = cached("1000", "2000", "bbbb0001", 1, (123,))
    for key, body in early.items():
        s3.put_object(Bucket=CACHE_BUCKET, Key=key, Body=body)
    queue = InlineQueue()
    pruner = make_pruner(world, queue, runs_per_item=1)
    pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{CACHE_BUCKET}/cache"), "enforce")
    # And the queue refuses the catch-up round's items once
    refused = []

    def send(items: list[WorkItem]) -> None:
        if items[0].round == 2 and not refused:
            refused.append(items)
            raise RetryableError("SendMessageBatch failed")
        queue(items)

    pruner.send = send  # type: ignore[method-assign]
    last = None
    while queue.items:
        item = queue.items.popleft()
        try:
            pruner.work(item, lambda: False, invocation_id="inv")
        except RetryableError:
            last = item  # the worker's message is not deleted: SQS delivers it again
    assert refused and last is not None
    # When SQS delivers the message of the item that finished the round again
    assert pruner.work(last, lambda: False, invocation_id="inv-again") == "duplicate"
    queue.drain(lambda item: pruner.work(item, lambda: False, invocation_id="inv"))
    # Then the catch-up round ran and the pass finished
    record = last_pass(world)
    assert record["status"] == "COMPLETED" and record["round"] == 2
    assert not set(early) & remaining(world)
