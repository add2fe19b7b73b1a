"""One DeleteObjects call, retries inside botocore included, ends within the worker's stop margin.

The worker sends no DeleteObjects once less than SAFETY_SECONDS of the invocation is left (pruner.handler), and
S3Store.delete retries a refused request itself, asking `should_stop` before each retry. What it cannot
interrupt is one call: botocore's own retries of it (adaptive mode: a backoff of at most its maximum between
attempts, each attempt after a token-bucket wait at its minimum rate) and each attempt's connect and read
timeouts. If that could outlast the margin, Lambda would kill the process mid-call and lose the undo records
written since the last checkpoint. The bound is computed from botocore's own constants and the client's config.
"""

from __future__ import annotations

from botocore.retries.bucket import TokenBucket
from botocore.retries.standard import ExponentialBackoff

from pruner.handler import SAFETY_SECONDS, _build
from pruner.s3_store import S3_DELETE_CONFIG


def _worst_call_seconds(config) -> float:  # type: ignore[no-untyped-def]
    retries = config.retries or {}
    attempts = int(retries.get("total_max_attempts") or int(retries.get("max_attempts", 4)) + 1)
    per_attempt = float(config.connect_timeout) + float(config.read_timeout) + 1 / TokenBucket._MIN_RATE
    return attempts * per_attempt + (attempts - 1) * ExponentialBackoff._MAX_BACKOFF


def test_one_delete_call_cannot_outlast_the_stop_margin() -> None:
    assert _worst_call_seconds(S3_DELETE_CONFIG) < SAFETY_SECONDS


def test_the_worker_deletes_with_that_client(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from pruner.config import PrunerConfig
    from shared.settings import Settings

    settings = Settings(table_name="t")
    config = PrunerConfig(cache_ids=["1234567"], queue_url="https://sqs.us-east-1.amazonaws.com/1/q")
    store = _build(settings.model_dump_json(), config.model_dump_json()).store
    delete_config = store.delete_client.meta.config
    assert (delete_config.connect_timeout, delete_config.read_timeout) == (
        S3_DELETE_CONFIG.connect_timeout, S3_DELETE_CONFIG.read_timeout)
    assert delete_config.retries == S3_DELETE_CONFIG.retries
    assert store.delete_client is not store.client
