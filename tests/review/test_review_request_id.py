"""Review of 7b44a7d (an on-demand prune retried with the same requestId continues its pass).

The pruner runs in-process over moto's S3 and the table, through the CLI harness of
tests/integration/test_cli_cache_commands.py."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from pruner.settle import settle_pass
from shared.provenance import keys as pkeys
from tests.integration.test_cli_cache_commands import CacheTargetInProcess, RefusesSending, cli
from tests.integration.test_pruner_hostile import CACHE_ID, a_cache, cache_entry, keys, put_all
from tests.integration.test_pruner_hostile import s3 as s3  # the versioned cache bucket fixture


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
    monkeypatch.setattr("autopilot_cli.app.PRUNE_RETRY_PAUSE_SECONDS", 0, raising=False)
    # Given an enforce prune whose every attempt failed to queue its items: the CLI printed the command that
    # "continues that pass later"
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    target.pruner.send = RefusesSending(target.queue, times=10)  # type: ignore[method-assign]
    code, _, err = cli(target, "cache", "prune", "--enforce")
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


def test_the_printed_command_that_continues_a_failed_prune_names_the_stack_and_cache_it_ran_on(
    s3: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autopilot_cli.app.PRUNE_RETRY_PAUSE_SECONDS", 0, raising=False)
    # Given an enforce prune against an explicitly named stack (its default run cache), every attempt failing
    current, stale = a_cache("cache/")
    put_all(s3, {**current, **stale})
    target = CacheTargetInProcess(table_name, s3)
    target.pruner.send = RefusesSending(target.queue, times=10)  # type: ignore[method-assign]
    code, _, err = cli(target, "--stack", "prod-genomics", "--region", "eu-west-1", "cache", "prune", "--enforce")
    assert code == 1
    printed = re.search(r"autopilot [^\n]*--request-id [0-9a-f]{32}", err)
    assert printed, err
    # Then the command it prints sends the same request to the same place: run verbatim from a shell whose
    # AUTOPILOT_STACK names another stack (dev), it must not enforce a new pass on that stack's cache
    command = printed.group(0)
    assert "--stack prod-genomics" in command, command
    assert "--region eu-west-1" in command, command
    assert f"--cache-id {CACHE_ID}" in command, command
