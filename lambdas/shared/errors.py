"""Domain errors shared by every capability."""

from __future__ import annotations


class RetryableError(Exception):
    """The work could not finish now (throttling, time budget, partial write) and must be retried:
    the SQS record is reported as failed and comes back after its visibility timeout."""


class PermanentError(Exception):
    """The input can never succeed (malformed event, unknown resource): recorded, not retried."""


class HandlerFailed(Exception):
    """What leaves a function's handler when it fails: the error's type, code and operation, never its text.

    Lambda's runtime writes an unhandled exception's type, message and stack frames into the function's log
    at ERROR (X-Ray records it too), and an error's text can quote the request's values (a HealthOmics
    validation message names the S3 URI or sample it refused; a ValidationError quotes the payload). Lambda
    retries on any error, whatever its type. The original stays on `error` (and `__context__`) for a caller
    in-process, such as a test or the local sandbox; it is never printed with this one (`raise ... from None`).
    """

    def __init__(self, error: BaseException, fields: dict[str, str]) -> None:
        super().__init__(", ".join(f"{name}={value}" for name, value in fields.items()))
        self.error = error
