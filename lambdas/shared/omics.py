"""The one way this project builds a HealthOmics client: adaptive retries plus a client-side rate limit.

HealthOmics quotas are 1-10 TPS per API. Adaptive retry mode backs off on throttling; the token
bucket below keeps each process under its share of the quota before the service has to say no.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

# Error codes after which the very same HealthOmics request may succeed later: throttling, quota,
# transient service errors, and ConflictException ("usually resolves", the guide says).
RETRYABLE_OMICS_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceQuotaExceededException", "InternalServerException", "ServiceUnavailableException",
    "RequestTimeoutException", "ConflictException",
})

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=5, read_timeout=30)


class TokenBucket:
    """Blocking token bucket; `clock` and `sleep` are injectable so tests never wait."""

    def __init__(
        self,
        rate_per_second: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_second
        self.capacity = burst if burst is not None else max(1.0, rate_per_second)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def omics_client(max_tps: float, session: boto3.Session | None = None, **client_kwargs: Any) -> Any:
    """A boto3 `omics` client whose every API call first takes a token from a per-client bucket."""
    session = session or boto3.Session()
    client = session.client("omics", config=RETRY_CONFIG, **client_kwargs)
    bucket = TokenBucket(max_tps)

    def take_token(**_: Any) -> None:
        bucket.acquire()  # returns nothing: a before-call handler's return value would replace the response

    client.meta.events.register("before-call.omics", take_token)
    return client


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> Any:
    """Yield items of every page of a paginated HealthOmics list call (botocore's paginators)."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**params):
        yield from page.get(result_key, [])
