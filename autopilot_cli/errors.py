"""Exit codes: 0 ok, 1 any other failure, 2 bad arguments, 3 not found."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


class CliError(Exception):
    exit_code = EXIT_FAILURE


class UsageError(CliError):
    exit_code = EXIT_USAGE


class NotFound(CliError):
    exit_code = EXIT_NOT_FOUND
