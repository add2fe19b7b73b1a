"""HealthOmics call budgets hold per function instance, not per invocation: every handler takes its
client from one per-process cache keyed by the limits, so a warm instance's second invocation spends
the same token buckets as its first (a fresh client per invocation starts with full buckets, and StartRun
would then be bounded by the invocation rate instead of the 1 TPS quota)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from shared.omics import (
    DEADLINE_MARGIN_SECONDS,
    MIN_ATTEMPT_SECONDS,
    DeadlineExceeded,
    RateLimits,
    invocation_deadline,
    omics_client_for,
)
from shared.settings import get_settings

LIMITS = '{"StartRun": 1, "*": 1000}'
START = {"workflowId": "1234567", "roleArn": "arn:aws:iam::123456789012:role/omics", "outputUri": "s3://out/x/",
         "requestId": "r-1"}
STARTED = {"id": "7654321", "arn": "arn:aws:omics:us-east-1:123456789012:run/7654321", "status": "PENDING"}


def _rerunner_client() -> Any:
    from rerunner.handler import _rerunner

    return _rerunner().aws.omics


def _launcher_client() -> Any:
    from launcher.handler import _launcher

    return _launcher().omics


def _recorder_client() -> Any:
    from recorder.handler import _recorder

    return _recorder().omics


def _pruner_client() -> Any:
    from pruner.handler import _build, _pruner

    _build.cache_clear()
    return _pruner().omics


def _reconciler_client() -> Any:
    from reconciler.handler import _recorder

    return _recorder().omics


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVENANCE_TABLE", "provenance")
    monkeypatch.setenv("OMICS_RATE_LIMITS", LIMITS)
    monkeypatch.setenv("PRUNE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/prune")
    from recorder.handler import _recorder

    # The recorder's handler keeps one Recorder per process (as a warm Lambda does): build it from this
    # test's environment, and leave none behind for the next test in this process (the sandbox's).
    for clear in (get_settings.cache_clear, omics_client_for.cache_clear, _recorder.cache_clear):
        clear()
    yield
    for clear in (get_settings.cache_clear, omics_client_for.cache_clear, _recorder.cache_clear):
        clear()


def _start_run(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("start_run", STARTED, START)
        client.start_run(**START)


def test_two_invocations_of_the_rerunner_share_the_start_run_budget(environment: None) -> None:
    """Given the re-runner on a warm instance with StartRun at 1 call/s,
    When two invocations, each built from the environment as the handler does, start a run back to back,
    Then the second finds the StartRun bucket its predecessor emptied: with less than a second left it
    fails fast (retryable) instead of sending a second StartRun within the same second."""
    # Room for a call, not for a 1 s wait: the second call fails if it comes less than 1 - 0.5 s after the first
    # (0.9 left that window 0.1 s: a loaded machine's pause between the calls failed it once in a 2-worker run).
    remaining = DEADLINE_MARGIN_SECONDS + MIN_ATTEMPT_SECONDS + 0.5
    first = _rerunner_client()
    with invocation_deadline(remaining):
        _start_run(first)
    second = _rerunner_client()  # the next invocation builds its re-runner afresh, as the handler does
    with invocation_deadline(remaining), pytest.raises(DeadlineExceeded, match="StartRun call budget"):
        _start_run(second)


@pytest.mark.parametrize(
    "client_of", [_rerunner_client, _launcher_client, _recorder_client, _reconciler_client, _pruner_client]
)
def test_every_handler_reuses_one_client_per_limits(environment: None, client_of: Callable[[], Any]) -> None:
    first = client_of()
    assert client_of() is first
    assert omics_client_for(RateLimits.from_json(LIMITS)) is first  # keyed by value, not by object


def test_different_limits_get_their_own_client(environment: None) -> None:
    other = omics_client_for(RateLimits.from_json('{"*": 5}'))
    assert omics_client_for(RateLimits.from_json(LIMITS)) is not other
