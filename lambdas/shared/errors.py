"""Domain errors shared by every capability."""

from __future__ import annotations


class RetryableError(Exception):
    """The work could not finish now (throttling, time budget, partial write) and must be retried:
    the SQS record is reported as failed and comes back after its visibility timeout."""


class PermanentError(Exception):
    """The input can never succeed (malformed event, unknown resource): recorded, not retried."""
