"""The one way this project builds a HealthOmics client: adaptive retries, per-quota call budgets, and
every call bounded by the time the invocation has left.

- Budgets: HealthOmics quotas are 1-10 TPS per API group (shared.omics_quotas). The stack computes
  each function instance's share of every group it may call (OMICS_RATE_LIMITS) and each client keeps
  to it with one token bucket per group, before the service has to say no. Adaptive retry mode still
  backs off on the throttles that get through; each one is counted (metric OmicsThrottled).
- Deadlines: the handler wrapper (shared.observability) records when the invocation ends. A call may
  use at most CALL_BUDGET_SECONDS and never the last DEADLINE_MARGIN_SECONDS of the invocation: a
  token wait that would not fit fails at once, each attempt's read timeout is cut to what is left, and a
  retry whose worst-case back-off would not fit is not made. Either way the call raises DeadlineExceeded
  (a RetryableError): one record fails and comes back later; the rest of the batch, and the partial
  batch response, still have time.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from shared.errors import RetryableError
from shared.omics_quotas import DEFAULT_QUOTAS, group_of

# Error codes after which the very same HealthOmics request may succeed later: throttling, quota,
# transient service errors, and ConflictException ("usually resolves", the guide says).
RETRYABLE_OMICS_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceQuotaExceededException", "InternalServerException", "ServiceUnavailableException",
    "RequestTimeoutException", "ConflictException",
})
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 20.0
MAX_ATTEMPTS = 10
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
                      connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS)

# Time kept back at the end of an invocation for what follows the calls (batch writes, the partial
# batch response), and the most one call (all its attempts) may take of what is left before that.
DEADLINE_MARGIN_SECONDS = 5.0
CALL_BUDGET_SECONDS = 15.0
# Less than this left and an attempt is not started: it could not connect and read a response.
MIN_ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + 1.0
# Longest back-off botocore's standard retry policy sleeps (2^i s, capped at 20 s, + 5 s of retry-after).
_MAX_BACKOFF_SECONDS = 20.0
_RETRY_AFTER_EXTRA_SECONDS = 5.0

# Keys of the call's deadline and operation in botocore's request context (shared by all its attempts).
_CALL_DEADLINE = "omics_autopilot_deadline"
_CALL_OPERATION = "omics_autopilot_operation"


class DeadlineExceeded(RetryableError):
    """A HealthOmics call could not finish in the time this invocation has left."""


class RateLimits:
    """Calls per second per quota group for this function instance; unlisted groups are unlimited."""

    def __init__(self, rates: Mapping[str, float], default: float | None = None) -> None:
        for group, rate in rates.items():
            if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"rate limit of {group!r} must be a positive number, not {rate!r}")
        self.rates = dict(rates)
        self.default = default

    @classmethod
    def from_json(cls, text: str | None) -> RateLimits:
        """OMICS_RATE_LIMITS: {"<group>": calls/s, ...}; "*" applies to every other group (the sandbox
        sets {"*": 100000}). Unset: the guide's quotas, as if this were the account's only caller."""
        if not text:
            return cls(DEFAULT_QUOTAS)
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("OMICS_RATE_LIMITS must be a JSON object of quota group -> calls per second")
        default = value.pop("*", None)
        if default is not None and not (isinstance(default, int | float) and default > 0):
            raise ValueError(f"OMICS_RATE_LIMITS '*' must be a positive number, not {default!r}")
        return cls(value, default)

    def rate(self, group: str) -> float | None:
        return self.rates.get(group, self.default)

    def to_json(self) -> str:
        both = {**self.rates, **({"*": self.default} if self.default is not None else {})}
        return json.dumps(both, sort_keys=True, separators=(",", ":"))


class TokenBucket:
    """Token bucket; `clock` and `sleep` are injectable so tests never wait."""

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

    def acquire(self, max_wait: float = math.inf) -> float | None:
        """Take one token, sleeping until it is due; returns the seconds waited. When it would be due
        only after `max_wait` seconds, takes nothing and returns None at once."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = (1 - self._tokens) / self.rate if self._tokens < 1 else 0.0
            if wait > max_wait:
                return None
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return wait


# ----------------------------------------------------------------------------- invocation deadline
_deadline_lock = threading.Lock()
_invocation_deadline: float | None = None  # time.monotonic() instant; module-wide: worker threads see it


@contextmanager
def invocation_deadline(remaining_seconds: float | None, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Bound every HealthOmics call made until the block exits by `remaining_seconds` from now (Lambda:
    context.get_remaining_time_in_millis() / 1000). None: no invocation deadline."""
    global _invocation_deadline
    with _deadline_lock:
        previous = _invocation_deadline
        _invocation_deadline = None if remaining_seconds is None else clock() + remaining_seconds
    try:
        yield
    finally:
        with _deadline_lock:
            _invocation_deadline = previous


class _CallGuard:
    """botocore event handlers of one client: rate limit, deadline, throttle count."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float], sleep: Callable[[float], None],
                 count: Callable[[str, str], None], max_attempts: int) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._count = count
        self._max_attempts = max_attempts
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, group: str) -> TokenBucket | None:
        rate = self._limits.rate(group)
        if rate is None:
            return None
        with self._lock:
            if group not in self._buckets:
                self._buckets[group] = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
            return self._buckets[group]

    def _left(self, context: Mapping[str, Any]) -> float:
        return float(context.get(_CALL_DEADLINE, math.inf)) - self._clock()

    def _fail(self, operation: str, why: str) -> DeadlineExceeded:
        self._count("OmicsDeadlineExceeded", operation)
        return DeadlineExceeded(f"{operation}: {why}")

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        """Once per API call: fix the call's deadline, then take a token (or fail if it comes too late)."""
        operation = model.name
        deadline = self._clock() + CALL_BUDGET_SECONDS
        invocation = _invocation_deadline
        if invocation is not None:
            deadline = min(deadline, invocation - DEADLINE_MARGIN_SECONDS)
        context[_CALL_DEADLINE] = deadline
        context[_CALL_OPERATION] = operation
        left = self._left(context)
        if left < MIN_ATTEMPT_SECONDS:
            raise self._fail(operation, f"{max(left, 0):.1f} s left for the call, not started")
        group = group_of(operation)
        bucket = self._bucket(group) if group else None
        if bucket and bucket.acquire(max_wait=left - MIN_ATTEMPT_SECONDS) is None:
            raise self._fail(operation, f"no {group} call budget within the {left:.1f} s left")
        # returns nothing: a before-call handler's return value would replace the response

    def before_send(self, request: Any, **_: Any) -> None:
        """Before each attempt: cut its read timeout to the time left (botocore's per-request override)."""
        context = getattr(request, "context", None)
        if context is None or _CALL_DEADLINE not in context:
            return
        left = self._left(context)
        if left < MIN_ATTEMPT_SECONDS:
            raise self._fail(_operation_of(request), f"{max(left, 0):.1f} s left, attempt not started")
        context["read_timeout"] = min(READ_TIMEOUT_SECONDS, left - CONNECT_TIMEOUT_SECONDS)

    def needs_retry(self, response: Any, attempts: int, operation: Any, request_dict: Mapping[str, Any],
                    caught_exception: Exception | None = None, **_: Any) -> None:
        """After each attempt (runs before botocore's retry handler): count throttles; refuse a retry
        whose worst-case back-off plus one attempt would overrun the call's deadline."""
        if isinstance(caught_exception, DeadlineExceeded):
            return  # cut by before_send: already counted, and botocore does not retry it
        code, status, retry_after = "", 0, False
        if response is not None:
            http, parsed = response
            code = parsed.get("Error", {}).get("Code", "")
            status = getattr(http, "status_code", 0)
            retry_after = "x-amz-retry-after" in getattr(http, "headers", {})
        if code in THROTTLING_CODES or status == 429:
            self._count("OmicsThrottled", operation.name)
        retryable = caught_exception is not None or code in RETRYABLE_OMICS_CODES or status >= 500 or status == 429
        if not retryable or attempts >= self._max_attempts:
            return
        backoff = min(2.0 ** (attempts - 1), _MAX_BACKOFF_SECONDS) + (_RETRY_AFTER_EXTRA_SECONDS if retry_after else 0)
        left = self._left(request_dict.get("context", {}))
        if left < backoff + MIN_ATTEMPT_SECONDS:
            raise self._fail(operation.name, f"{code or caught_exception!r} after {attempts} attempt(s); "
                                             f"{max(left, 0):.1f} s left, no time for another")


def _operation_of(request: Any) -> str:
    return str(getattr(request, "context", {}).get(_CALL_OPERATION, "HealthOmics call"))


def _count_metric(name: str, operation: str) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from shared.observability import metrics

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def omics_client(
    limits: RateLimits | float,
    session: boto3.Session | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    count: Callable[[str, str], None] = _count_metric,
    **client_kwargs: Any,
) -> Any:
    """A boto3 `omics` client that keeps to `limits` and to the invocation's deadline (see module doc).

    `limits` may be a number: that many calls per second for every quota group (scripts, tests).
    `clock`/`sleep` drive the token buckets and deadlines (tests pass fakes); `count(metric, operation)`
    records throttles and deadline failures (default: Powertools metrics of the invocation).
    """
    if not isinstance(limits, RateLimits):
        limits = RateLimits({}, default=float(limits))
    session = session or boto3.Session()
    client = session.client("omics", config=RETRY_CONFIG, **client_kwargs)
    total_attempts = int(client.meta.config.retries.get("total_max_attempts", MAX_ATTEMPTS + 1))
    guard = _CallGuard(limits, clock, sleep, count, total_attempts)
    events = client.meta.events
    # On this client's own emitter, ahead of any handler that answers the call (botocore's Stubber answers
    # on "before-call.*.*", which runs before "before-call.omics"): the budget applies to every call.
    events.register_first("before-call.*.*", guard.before_call)
    events.register_first("before-send.omics", guard.before_send)
    events.register_first("needs-retry.omics", guard.needs_retry)
    return client


class _ClientCache:
    """The process's HealthOmics clients, one per (limits, endpoint, region): their token buckets live as
    long as the function instance, so a warm instance's invocations share one budget (a client per
    invocation would start each with full buckets). The endpoint and region are part of the key because
    a client keeps the ones it was created with (the sandbox runs several stacks in one process)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, limits: RateLimits) -> Any:
        env = os.environ
        key = (limits.to_json(), env.get("AWS_ENDPOINT_URL_OMICS", ""), env.get("AWS_ENDPOINT_URL", ""),
               env.get("AWS_REGION", ""), env.get("AWS_DEFAULT_REGION", ""))
        with self._lock:  # boto3 sessions are not thread-safe; the clients they make are
            if key not in self._clients:
                self._clients[key] = omics_client(limits)
            return self._clients[key]

    def cache_clear(self) -> None:
        with self._lock:
            self._clients.clear()


# Every handler takes its client here: omics_client_for(settings.omics_limits).
omics_client_for = _ClientCache()


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> Any:
    """Yield items of every page of a paginated HealthOmics list call (botocore's paginators)."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**params):
        yield from page.get(result_key, [])
