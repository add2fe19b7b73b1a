"""Contract tests of moto's start under `speedups()` (sandbox/moto_speedups.py, "moto's start"): mock_aws entered
inside the block registers with `responses` the entries plain moto registers, and the requests they intercept (the
`requests` library's) are answered as plain moto answers them, from the first start in the process on and after
an entry answered a request under an earlier start."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

import requests
from moto import mock_aws
from moto.core import models as moto_core_models

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups

# Requests through the `requests` library, to AWS URLs only: `responses` passes any other URL to the network.
REQUESTS: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", "https://s3.amazonaws.com/", None),
    ("PUT", "https://contract-bucket.s3.amazonaws.com/", None),
    ("PUT", "https://contract-bucket.s3.amazonaws.com/a/key.txt", None),
    ("HEAD", "https://contract-bucket.s3.amazonaws.com/a/key.txt", None),
    ("POST", "https://sqs.us-east-1.amazonaws.com/", {"Action": "CreateQueue", "QueueName": "contract"}),
    ("POST", "https://sqs.us-east-1.amazonaws.com/", {"Action": "ListQueues"}),
    ("GET", "https://no-such-service.us-east-1.amazonaws.com/anything", None),
    ("OPTIONS", "https://sqs.us-east-1.amazonaws.com/", None),
]
REQUEST_ID = re.compile(r"<RequestId>[^<]*</RequestId>|<RequestID>[^<]*</RequestID>")


def _entries() -> dict[str, list[Any]]:
    """The entries moto's `responses` mock holds, by method in its order (moto's registry keeps them so)."""
    return moto_core_models.responses_mock._registry._registered  # type: ignore[attr-defined,no-any-return]


def _registered() -> dict[str, list[Any]]:
    """Every entry moto's `responses` mock holds, by method in its order: its type, its attributes (a pattern by
    its text) and the requests it recorded."""
    return {method: [(type(entry), {name: value.pattern if isinstance(value, re.Pattern) else value
                                    for name, value in vars(entry).items() if name != "_calls"},
                      [(call.request.method, call.request.url) for call in entry.calls])
                     for entry in entries]
            for method, entries in _entries().items()}


def _answers() -> list[Any]:
    """Each request's answer, and the position of the entry that recorded it."""
    answers = []
    for method, url, data in REQUESTS:
        response = requests.request(method, url, data=data, timeout=5)
        calls = [(method_name, index) for method_name, entries in _entries().items()
                 for index, entry in enumerate(entries) if entry.calls]
        answers.append((response.status_code, REQUEST_ID.sub("", response.text), calls))
    return answers


def _starts(outer: Callable[[], AbstractContextManager[Any]]) -> list[Any]:
    """Two starts of moto inside `outer()`, each with its registered entries and answers to the requests (the
    second start's entries then answered under the first), and the registry after the last stop."""
    seen: list[Any] = []
    with outer():
        for _ in range(2):
            with mock_aws():
                registered = _registered()
                seen.append((registered, _answers(), _registered()))
    seen.append(_registered())
    return seen


def test_moto_s_start_registers_and_answers_as_plain_moto() -> None:
    """Given moto started twice inside `speedups()` (the first start in the process, which builds the entries,
    and one reusing them after they answered requests), when requests to S3, SQS, an unknown AWS service and a
    method the service does not serve go through the `requests` library, then every registered entry (type,
    method, URL pattern, callback, everything it holds, its empty call record) and every answer (status, body,
    the entry that recorded it) is plain moto's."""
    moto_speedups._intercepts = None
    plain = _starts(nullcontext)
    fast = _starts(speedups)
    assert sum(len(entries) for entries in plain[0][0].values()) > 1000
    assert fast == plain


def test_a_start_without_reset_and_a_nested_start_are_moto_s() -> None:
    """Given moto stopped without removing its data and started again without resetting it (its entries still
    registered), and a start nested in a running one, when they run inside `speedups()`, then the registry holds
    what plain moto's holds (each entry twice after the restart)."""
    def restarted(outer: Callable[[], AbstractContextManager[Any]]) -> list[Any]:
        with outer(), ExitStack() as stack:
            mock = mock_aws()
            stack.callback(mock.stop)
            mock.start()
            mock.stop(remove_data=False)
            mock.start(reset=False)
            with mock_aws():
                seen = [_registered()]
            seen.append(_registered())
        return seen

    plain = restarted(nullcontext)
    assert restarted(speedups) == plain
    assert all(len(entries) > 300 for entries in plain[0].values())
