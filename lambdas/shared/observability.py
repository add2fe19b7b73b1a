"""One Logger, one Metrics (EMF) and one tracer for every function of the stack.

X-Ray SDK instrumentation is opt-in (ENABLE_XRAY_SDK=true): importing it costs ~90 ms of every cold
start, more than the rest of a handler's own imports, while Lambda's active tracing (always on in
the stack) already records each invocation. Turn it on when per-call subsegments are worth that.
Its subsegments record a failed AWS call's error message, which can quote a sample or an S3 key
(docs/OPERATIONS.md).

`tracer.capture_lambda_handler` is the entry point every function's handler goes through: it also
bounds the invocation's HealthOmics calls by the time Lambda says is left (shared.omics).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

SERVICE = "omics-autopilot"
NAMESPACE = "OmicsAutopilot"
ENV_XRAY_SDK = "ENABLE_XRAY_SDK"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def error_fields(error: BaseException) -> dict[str, str]:
    """What a log at INFO or above may say about an error: its type and, for an AWS error (itself or the
    one it was raised from), the code and operation. Never its text: a HealthOmics validation message
    quotes the value it refused (an S3 URI, a sample name). The text goes to DEBUG (`log_error`) and,
    where it is provenance, to the DynamoDB record."""
    fields = {"error_type": type(error).__name__}
    cause: BaseException | None = error
    while cause is not None:
        response = getattr(cause, "response", None)  # botocore's ClientError, without importing botocore
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            fields["error_code"] = str(response["Error"].get("Code", ""))
            fields["operation"] = str(getattr(cause, "operation_name", ""))
            return fields
        code = getattr(cause, "code", None)  # our own domain errors that carry the service's code
        if isinstance(code, str) and "error_code" not in fields:
            fields["error_code"] = code
        cause = cause.__cause__
    return fields


def log_error(level: str, message: str, error: BaseException, extra: dict[str, Any] | None = None) -> None:
    """`message` at `level` (info | warning | error) with `error_fields`; the error's text at DEBUG only."""
    getattr(logger, level)(message, extra={**(extra or {}), **error_fields(error)})
    logger.debug(message, extra={**(extra or {}), "error": str(error)}, exc_info=error)


class _Tracer:
    """`tracer.capture_lambda_handler` / `capture_method`: Powertools Tracer when enabled, else identity."""

    def __init__(self) -> None:
        self._tracer: Any = None
        if os.environ.get(ENV_XRAY_SDK, "false").lower() == "true":
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=SERVICE)

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        guarded = leaving_error_text_behind(handler)  # inside the tracer: X-Ray records what leaves, too
        traced = self._tracer.capture_lambda_handler(guarded) if self._tracer else guarded
        return bounded_by_remaining_time(traced)

    def capture_method(self, method: Handler) -> Handler:
        return self._tracer.capture_method(method) if self._tracer else method


tracer = _Tracer()


def leaving_error_text_behind(handler: Handler) -> Handler:
    """An error that escapes the handler is logged with `error_fields` and leaves as `HandlerFailed`, which
    names its type, code and operation only: Lambda's runtime logs an escaping error's message at ERROR."""
    from shared.errors import HandlerFailed

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(event, context, *args, **kwargs)
        except Exception as error:
            log_error("error", "invocation failed", error)
            raise HandlerFailed(error, error_fields(error)) from None

    wrapper.leaves_error_text_behind = True  # type: ignore[attr-defined]  # the decorators above copy it
    return cast(Handler, wrapper)


def bounded_by_remaining_time(handler: Handler) -> Handler:
    """Every HealthOmics call the handler makes ends before the invocation's deadline (shared.omics)."""
    from shared.omics import invocation_deadline

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        with invocation_deadline(remaining() / 1000 if remaining else None):
            return handler(event, context, *args, **kwargs)

    return cast(Handler, wrapper)
