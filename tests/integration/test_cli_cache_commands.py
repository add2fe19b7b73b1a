"""`autopilot cache prune | restore | report` as an operator reads them: exit codes (docs/OPERATIONS.md: 0
ok, 1 failure, 3 not found), the pass a prune reports, what a restore could not bring back, and what a report
counts as reclaimed once a pass was restored. The pruner runs in-process over moto's S3 and the table."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from autopilot_cli.app import main
from pruner.config import PrunerConfig, PruneRequest
from pruner.dispatch import InlineQueue
from pruner.s3_store import S3Store
from pruner.service import CacheTarget, Pruner
from pruner.settle import settle_pass
from shared.errors import RetryableError
from shared.provenance import keys as pkeys
from shared.provenance.repository import ProvenanceRepository
from tests.integration.test_pruner_hostile import (
    BUCKET,
    CACHE_ID,
    REPORTS,
    a_cache,
    cache_entry,
    keys,
    prune,
    put_all,
)
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture
from tests.integration.test_pruner_restore import expire_noncurrent
from tests.integration.test_pruner_settle import a_pass_with_a_dead_lettered_item


class _Clients:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def client(self, service: str) -> Any:
        assert service == "s3"
        return self._s3


class _Omics:
    def get_run_cache(self, id: str) -> dict[str, Any]:  # the API's parameter name
        return {"id": id, "cacheS3Uri": f"s3://{BUCKET}/cache"}


class CacheTargetInProcess:
    """What the cache commands use of a target: the table, the stack's cache id, an S3 client, and the
    stack's pruner entry function run in-process (what `target.invoke("pruner", ...)` returns)."""

    def __init__(self, table_name: str, s3: Any) -> None:
        self.repository = ProvenanceRepository(table_name)
        self.clients = _Clients(s3)
        self.queue = InlineQueue()
        self.pruner = Pruner(self.repository, S3Store(s3, sleep=lambda _: None), omics=_Omics,
                             config=PrunerConfig(cache_ids=[CACHE_ID], report_bucket=REPORTS), send=self.queue,
                             clock=lambda: datetime.now(UTC))

    def run_cache_id(self) -> str:
        return CACHE_ID

    def now(self) -> datetime:
        return datetime.now(UTC)

    def invoke(self, capability: str, payload: dict[str, Any]) -> Any:
        assert capability == "pruner"
        return self.pruner.handle(PruneRequest.model_validate(payload))

    def settle(self) -> None:
        self.queue.drain(lambda item: self.pruner.work(item, lambda: False, invocation_id="inv"))


def cli(target: Any, *argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(list(argv), target=target, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


# ---------------------------------------------------------------------------------------------- cache prune
def a_prune_that_kept_failing(s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch, *flags: str
                              ) -> tuple[Any, dict[str, bytes], dict[str, bytes], int, str]:
    """`cache prune --enforce` (after `flags`) over a cache of current and stale entries, every attempt failing to
    queue the pass's items (the CLI gives up and prints the command that continues it): the target, the current
    and stale entries, the CLI's exit code and stderr."""
    monkeypatch.setattr("autopilot_cli.app.PRUNE_RETRY_PAUSE_SECONDS", 0, raising=False)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    target.pruner.send = RefusesSending(target.queue, times=10)  # type: ignore[method-assign]
    code, _, err = cli(target, *flags, "cache", "prune", "--enforce")
    return target, current, stale, code, err


def test_a_prune_skipped_for_the_lease_shows_no_earlier_pass_and_exits_1(s3: Any, table_name: str) -> None:
    # Given a cache with an earlier, completed enforce pass
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    earlier = prune(s3, table_name, f"s3://{BUCKET}/cache")
    time.sleep(0.01)
    # and another prune of that cache in progress (it holds the cache's lease)
    target = CacheTargetInProcess(table_name, s3)
    assert target.repository.acquire_lease(f"prune:{CACHE_ID}", "someone-else", int(time.time()), 900)
    # When the operator asks for an enforce prune
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce")
    # Then the pruner started nothing, the CLI says why and exits 1, and shows no pass as this request's
    doc = json.loads(out)
    [answer] = doc["response"]["passes"]
    assert answer["status"] == "SKIPPED"
    assert code == 1 and "another prune of this cache holds its lease" in err
    assert doc["latest_pass"] is None, f"an earlier pass ({earlier['passId']}) shown as this request's"
    # And the human output does not show it either
    code, out, err = cli(target, "cache", "prune", "--enforce")
    assert code == 1 and earlier["passId"] not in out and "no enforce pass of run cache 0123456 ran (SKIPPED)" in err


def test_a_refused_enforce_prune_shows_its_refused_pass_and_exits_1(s3: Any, table_name: str) -> None:
    # Given a cache bucket whose versioning was suspended (an enforce pass could not be undone)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    target = CacheTargetInProcess(table_name, s3)
    # When the operator asks for an enforce prune
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce")
    # Then the refused pass (this request's, recorded) is shown, the reason is on stderr, and the exit is 1
    doc = json.loads(out)
    [answer] = doc["response"]["passes"]
    assert answer["status"] == "REFUSED"
    assert doc["latest_pass"]["pass_id"] == answer["passId"] and doc["latest_pass"]["status"] == "REFUSED"
    assert code == 1 and "bucket versioning is Suspended" in err
    assert keys(s3) == set(current) | set(stale)  # nothing deleted


def test_a_refused_request_sent_again_records_no_second_pass_under_its_id(s3: Any, table_name: str) -> None:
    # Given an enforce request refused for the bucket's versioning
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    target = CacheTargetInProcess(table_name, s3)
    code, out, _ = cli(target, "--json", "cache", "prune", "--enforce")
    request_id = json.loads(out)["request"]["requestId"]
    time.sleep(0.01)
    # When the same request is sent again
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce", "--request-id", request_id)
    # Then it is answered from the refusal recorded, with no second record under that pass id, and exits 1
    [answer] = json.loads(out)["response"]["passes"]
    assert answer["status"] == "REFUSED" and "new request" in answer["reason"]
    assert [p["status"] for p in target.repository.prune_history(CACHE_ID)] == ["REFUSED"]
    assert code == 1 and "bucket versioning is Suspended" in err


def test_a_started_prune_shows_its_own_pass_and_exits_0(s3: Any, table_name: str) -> None:
    # Given a cache with stale entries
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    # When the operator enforces a prune
    code, out, _ = cli(target, "--json", "cache", "prune", "--enforce")
    # Then the pass shown is the one this request started, and it completed
    doc = json.loads(out)
    [answer] = doc["response"]["passes"]
    assert code == 0 and doc["latest_pass"]["pass_id"] == answer["passId"]
    assert doc["latest_pass"]["status"] == "COMPLETED" and doc["latest_pass"]["entries_deleted"] == 2
    assert keys(s3) == set(current)


class RefusesSending:
    """The work queue refusing the first `times` sends of a pass's items (SQS unavailable): the planner's
    invocation fails after the pass is recorded, as a deployed one would (FunctionError)."""

    def __init__(self, queue: InlineQueue, times: int) -> None:
        self.queue, self.times = queue, times

    def __call__(self, items: list[Any]) -> None:
        if self.times:
            self.times -= 1
            raise RetryableError("2 work items could not be queued")
        self.queue(items)


def test_a_failed_on_demand_prune_is_retried_as_the_same_pass_and_finishes_once(
    s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autopilot_cli.app.PRUNE_RETRY_PAUSE_SECONDS", 0, raising=False)
    # Given a cache with stale entries, and a work queue that refuses the pass's items once
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    target.pruner.send = RefusesSending(target.queue, times=1)  # type: ignore[method-assign]
    # When the operator enforces a prune
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce")
    # Then the CLI's retry of the same request continues the pass the failed attempt recorded: one pass, finished
    history = target.repository.prune_history(CACHE_ID)
    assert code == 0, err
    assert [(p["status"], p["entries_deleted"]) for p in history] == [("COMPLETED", 2)]
    doc = json.loads(out)
    assert doc["latest_pass"]["pass_id"] == history[0]["pass_id"] and keys(s3) == set(current)
    assert target.repository.acquire_lease(f"prune:{CACHE_ID}", "next-pass", int(time.time()), 60)


def test_an_on_demand_prune_that_kept_failing_is_continued_with_its_request_id(
    s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an enforce prune whose every attempt failed to queue the pass's items: the CLI gives up, naming the
    # request so that it can be sent again
    target, current, _, code, err = a_prune_that_kept_failing(s3, table_name, monkeypatch)
    match = re.search(r"--request-id ([0-9a-f]{32})", err)
    assert code == 1 and match, err
    [stuck] = target.repository.prune_history(CACHE_ID)
    assert stuck["status"] == "RUNNING"
    # When the queue is back and the operator sends the same request again
    target.pruner.send = target.queue  # type: ignore[method-assign]
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce", "--request-id", match.group(1))
    # Then it continues that pass, which finishes: still one pass
    assert code == 0, err
    [record] = target.repository.prune_history(CACHE_ID)
    assert record["pass_id"] == stuck["pass_id"] and record["status"] == "COMPLETED"
    assert json.loads(out)["latest_pass"]["pass_id"] == stuck["pass_id"] and keys(s3) == set(current)
    # And the same request sent once more answers with that pass again, starting nothing
    code, out, _ = cli(target, "--json", "cache", "prune", "--enforce", "--request-id", match.group(1))
    assert code == 0 and json.loads(out)["latest_pass"]["pass_id"] == stuck["pass_id"]
    assert len(target.repository.prune_history(CACHE_ID)) == 1 and target.queue.sent == 1
    # But the same request id in dry-run mode is another request: never a continuation of the enforce pass
    code, out, _ = cli(target, "--json", "cache", "prune", "--request-id", match.group(1))
    assert code == 0 and json.loads(out)["latest_pass"]["mode"] == "dry-run"


# ---------------------------------------------------------------------------------------------- cache restore
def test_a_restore_that_brought_nothing_back_exits_1_and_names_the_keys(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose deleted versions have all expired (past the undo window)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    for key in stale:
        expire_noncurrent(s3, key)
    target = CacheTargetInProcess(table_name, s3)
    # When the operator restores it
    code, out, _ = cli(target, "--json", "cache", "restore", result["passId"])
    # Then nothing came back, the exit is 1, and the JSON names every key that did not come back
    doc = json.loads(out)
    assert keys(s3) == set(current)
    assert code == 1, f"exit {code} after restoring nothing: {out}"
    assert (doc["restored"], doc["not_restorable"], doc["entries_partial"]) == (0, 2, 2)
    data_keys = sorted(k for k in stale if not k.endswith(".json"))
    assert doc["not_restorable_keys"] == data_keys
    assert doc["partial_entries"] == sorted(k.split("out/")[0] for k in data_keys)
    # And the human output names them too, one whole line each (to copy)
    code, out, _ = cli(target, "cache", "restore", result["passId"])
    assert code == 1 and all(f"not restorable: {key}" in out.splitlines() for key in data_keys)


def test_a_restore_of_a_running_pass_exits_1_and_an_unknown_pass_3(s3: Any, table_name: str) -> None:
    # Given an enforce pass started and not yet finished (its work item still queued)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    started = target.pruner.start_pass(CacheTarget(CACHE_ID, f"s3://{BUCKET}/cache"), "enforce")
    # When the operator restores it: refused with the reason, exit 1 (the pass exists: not "not found")
    code, _, err = cli(target, "cache", "restore", started["passId"])
    assert code == 1 and "RUNNING" in err
    # And a pass that does not exist is not found: exit 3
    code, _, err = cli(target, "cache", "restore", "0000000000000000")
    assert code == 3 and "no prune pass" in err


def test_a_dead_lettered_pass_settled_by_the_operator_is_restored(s3: Any, table_name: str) -> None:
    # Given an enforce pass whose last work item was dead-lettered (the pass is RUNNING, its lease held)
    stuck = a_pass_with_a_dead_lettered_item(s3, table_name)
    target = CacheTargetInProcess(table_name, s3)
    code, _, err = cli(target, "cache", "restore", stuck.pass_id)
    assert code == 1 and "cache settle" in err
    # When the operator settles it
    code, out, err = cli(target, "--json", "cache", "settle", stuck.pass_id)
    # Then it is INCOMPLETE with what it deleted counted, and the unfinished item named
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "INCOMPLETE" and doc["items_unfinished"] == 1
    assert doc["objects_deleted"] == len(stuck.deleted)
    # And the restore brings back everything the pass deleted
    code, out, err = cli(target, "--json", "cache", "restore", stuck.pass_id)
    assert code == 0, err
    assert json.loads(out)["restored"] == len(stuck.deleted) and keys(s3) == set(stuck.everything)
    # And a pass already settled (or finished) is not settled again: exit 1; an unknown pass: exit 3
    code, _, err = cli(target, "cache", "settle", stuck.pass_id)
    assert code == 1 and "INCOMPLETE" in err
    assert cli(target, "cache", "settle", "0000000000000000")[0] == 3


# ---------------------------------------------------------------------------------------------- cache report
def test_a_restored_pass_is_not_counted_as_reclaimed(s3: Any, table_name: str) -> None:
    # Given an enforce pass that deleted two stale entries, then restored whole
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    result = prune(s3, table_name, f"s3://{BUCKET}/cache")
    target = CacheTargetInProcess(table_name, s3)
    assert cli(target, "cache", "restore", result["passId"])[0] == 0
    assert keys(s3) == set(current) | set(stale)
    # When the operator reads the cache's report
    code, out, _ = cli(target, "--json", "cache", "report")
    # Then nothing counts as reclaimed or deleted any more, and the restore is counted as such
    doc = json.loads(out)
    stale_bytes = sum(len(body) for body in stale.values())
    assert code == 0 and (doc["bytes_reclaimed_total"], doc["entries_deleted_total"]) == (0, 0)
    assert (doc["bytes_restored_total"], doc["entries_restored_total"]) == (stale_bytes, 2)
    [record] = doc["passes"]
    assert record["bytes_reclaimed"] == record["restored_bytes"] == stale_bytes
    # And the human table shows the pass's restored bytes next to what it reclaimed
    code, out, _ = cli(target, "cache", "report")
    [history_row] = [line for line in out.splitlines() if "│ enforce" in line]
    assert code == 0 and history_row.split("│")[-3:-1] == [" 1.4 KiB   ", " 1.4 KiB  "]  # reclaimed, restored
    assert re.search(r"bytes reclaimed \(enforced passes, less restores\) *│ 0 B", out)


# ------------------------------------------------------------------------------------ cache prune: its request id
# (review of 7b44a7d: a claim expired, a pass settled, the command printed to continue)


def test_a_request_id_sent_again_after_its_claim_expired_does_not_start_a_second_pass_under_the_same_id(
    s3: Any, table_name: str
) -> None:
    # Given an enforce prune that completed (request id R, pass P)
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce")
    assert code == 0, err
    request_id = json.loads(out)["request"]["requestId"]
    [first] = target.repository.prune_history(CACHE_ID)
    assert first["status"] == "COMPLETED"
    # and, a week later, its claim gone (PRUNECLAIM#<pass> is written with a 7-day TTL: DynamoDB deletes it),
    # while the pass record, its item records and its round's finish claim (no TTL) are all still there
    claim_sk = f"PRUNECLAIM#{first['pass_id']}"
    assert target.repository.get_item(pkeys.cache_pk(CACHE_ID), claim_sk)[pkeys.TTL_ATTRIBUTE]
    target.repository.delete_item(pkeys.cache_pk(CACHE_ID), claim_sk)
    # and new stale entries in the cache
    newly_stale = {**cache_entry("cache/", "1009", "2009", 9, 1)}
    put_all(s3, newly_stale)
    time.sleep(0.01)
    # When the operator runs the command a failed `cache prune` prints (`--request-id R`) once more
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce", "--request-id", request_id)
    # Then no second pass is recorded under the first one's id (its records, report prefix and finish claim
    # are the first pass's), and no pass is left RUNNING holding the cache's lease
    history = target.repository.prune_history(CACHE_ID)
    statuses = [(p["pass_id"], p["status"]) for p in history]
    assert len({p["pass_id"] for p in history}) == len(history), f"two passes under one id: {statuses}"
    assert all(p["status"] != "RUNNING" for p in history), statuses
    # And what the CLI shows as "this request's pass" is the pass this invocation answered with
    doc = json.loads(out)
    assert doc["latest_pass"]["started_at"] == history[-1]["started_at"]


def test_a_request_resent_after_its_pass_was_settled_does_not_claim_it_started(
    s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an enforce prune whose every attempt failed to queue its items: the CLI printed the command that
    # "continues that pass later"
    target, current, stale, code, err = a_prune_that_kept_failing(s3, table_name, monkeypatch)
    match = re.search(r"--request-id ([0-9a-f]{32})", err)
    assert code == 1 and match, err
    [stuck] = target.repository.prune_history(CACHE_ID)
    # and the stuck pass was settled meanwhile (by the operator here; the next pass does the same after 6 h)
    settle_pass(target.repository, s3, CACHE_ID, stuck["pass_id"], now=target.now(), settled_by="operator")
    # When the queue is back and the operator runs the printed command
    target.pruner.send = target.queue  # type: ignore[method-assign]
    code, out, err = cli(target, "--json", "cache", "prune", "--enforce", "--request-id", match.group(1))
    # Then nothing ran (the pass is final, none of its items was ever sent, no stale entry was deleted)...
    assert keys(s3) == set(current) | set(stale)
    assert target.queue.sent == 0
    # ... and the CLI does not say otherwise: not "STARTED", not exit 0
    [answer] = json.loads(out)["response"]["passes"]
    assert (code, answer["status"]) != (0, "STARTED"), f"exit {code}, pruner answered {answer}"
    # ... it says the request is spent, and that a new one is needed
    assert (code, answer["status"], answer["passStatus"]) == (1, "SPENT", "INCOMPLETE")
    assert "new request" in err


def test_the_printed_command_that_continues_a_failed_prune_names_the_stack_and_cache_it_ran_on(
    s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an enforce prune against an explicitly named stack (its default run cache), every attempt failing
    _, _, _, code, err = a_prune_that_kept_failing(s3, table_name, monkeypatch, "--stack", "prod-genomics",
                                                   "--region", "eu-west-1")
    assert code == 1
    printed = re.search(r"autopilot [^\n]*--request-id [0-9a-f]{32}", err)
    assert printed, err
    # Then the command it prints sends the same request to the same place: run verbatim from a shell whose
    # AUTOPILOT_STACK names another stack (dev), it must not enforce a new pass on that stack's cache
    command = printed.group(0)
    assert "--stack prod-genomics" in command, command
    assert "--region eu-west-1" in command, command
    assert f"--cache-id {CACHE_ID}" in command, command
