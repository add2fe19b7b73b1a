"""Contract tests of the per-request fast paths in sandbox/moto_speedups.py (moto's request setup: the access key
read from the Authorization header, the response's Date header, moto's clock, the backend lookups): each answers
as the moto code it replaces, on the same inputs and through whole requests under plain moto and `speedups()`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.core import responses as moto_responses
from moto.core import utils as moto_utils
from moto.core.base_backend import AccountSpecificBackend, BackendDict
from moto.sqs.models import SQSBackend
from werkzeug.http import http_date

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import REGION, plain_and_fast

ACCESS_KEY_PATTERN = moto_responses.BaseResponse.access_key_regex
AUTHORIZATIONS = [
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=AKIAI44QH8DHBEXAMPLE/20261204/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=ASIAIOSFODNN7EXAMPLE/20261204/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host, Signature=" + "ab12" * 16,
    "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
    "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLEX/20261204/us-east-1/s3/aws4_request",
    "Bearer AKIAIOSFODNN7EXAMPLE/", "", "AWS", "aws AKIAIOSFODNN7EXAMPLE:",
]


def _found(match: re.Match[str] | None) -> Any:
    return None if match is None else (match.group(0), match.group("access_key"), match.span(), match.string)


def test_the_access_key_search_answers_as_moto_s_pattern_for_every_header_and_repeat() -> None:
    """Given Authorization headers with and without an access key (SigV4, SigV2, a placeholder signature, a
    key too long, none), when the remembering search reads each three times, among the others, then every answer
    is the pattern's own (the match, the key, where it is, the text searched), as are bounded searches."""
    searches = moto_speedups._RememberedSearches(ACCESS_KEY_PATTERN)
    for _ in range(3):
        for header in AUTHORIZATIONS:
            assert _found(searches.search(header)) == _found(ACCESS_KEY_PATTERN.search(header))
            assert _found(searches.search(header, 5)) == _found(ACCESS_KEY_PATTERN.search(header, 5))
    assert searches.pattern is ACCESS_KEY_PATTERN and searches.flags == ACCESS_KEY_PATTERN.flags


def test_requests_signed_with_several_keys_are_read_as_moto_reads_them() -> None:
    """Given requests signed with several access keys (one the default account's, one too long to be one, one
    a test key), several of each in turn so the remembered answers serve, when moto sets each request up, then
    it reads the same access key, account, service and region under plain moto and under `speedups()`."""
    from moto.iam import models as iam_models

    keys = ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "AKIAIOSFODNN7EXAMPLEX", "testing"]

    def scenario() -> list[Any]:
        visits: list[Any] = []
        with mock.patch.object(iam_models, "mark_account_as_visited", lambda **visit: visits.append(visit)):
            clients = [boto3.client("sqs", aws_access_key_id=key, aws_secret_access_key="secret",
                                    region_name=REGION) for key in keys]
            for _ in range(2):
                for client in clients:
                    client.list_queues()
        return visits

    plain, fast = plain_and_fast(scenario)
    assert fast == plain
    assert [visit["access_key"] for visit in plain[:2]] == keys[:2]


@pytest.mark.parametrize("times", [
    [dt.datetime(2026, 12, 4, 10, 0, 0, 1), dt.datetime(2026, 12, 4, 10, 0, 0, 999999),
     dt.datetime(2026, 12, 4, 10, 0, 1), dt.datetime(2026, 12, 4, 10, 0, 0, 500000)],
    [dt.datetime(1970, 1, 1), dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.datetime(2038, 1, 19, 3, 14, 8)],
    [dt.datetime(2026, 12, 4, 10, 0, 0, 1), dt.datetime(2026, 12, 4, 10, 0, 0, 2, tzinfo=dt.UTC),
     dt.datetime(2026, 12, 4, 10, 0, 0, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     dt.datetime(2026, 12, 4, 10, 0, 0, 4), dt.date(2026, 12, 4), 1_796_400_000, 1_796_400_000.5],
])
def test_the_date_header_is_werkzeug_s_for_every_time_in_turn(times: list[Any]) -> None:
    """Given times in turn (within one second and across seconds, back to an earlier one, at the epoch's edges,
    aware ones in UTC and elsewhere between naive ones of the same second, a date, numbers), when each is
    formatted as moto formats a response's Date header, then the text is werkzeug's."""
    for when in times:
        assert moto_speedups._http_date(when) == http_date(when)


def test_moto_s_clock_reads_the_same_time_and_is_moto_s_again_after_the_block() -> None:
    """Given `datetime.datetime` replaced by a clock at a fixed time (as a time-freezing test does), when moto's
    `utcnow` and the fast one read it, then both answer the same naive time; inside the block the request
    setup's module holds the fast one, after it moto's, and moto.core.utils keeps moto's throughout."""
    fixed = dt.datetime(2026, 12, 4, 10, 11, 12, 131415, tzinfo=dt.UTC)

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return fixed.astimezone(tz) if tz is not None else fixed.replace(tzinfo=None)

    with mock.patch.object(dt, "datetime", FrozenDatetime):
        assert moto_speedups._utcnow() == moto_utils.utcnow() == dt.datetime(2026, 12, 4, 10, 11, 12, 131415)
        assert moto_speedups._utcnow().tzinfo is None
    with speedups():
        inside = (moto_responses.utcnow, moto_utils.utcnow)
    assert inside == (moto_speedups._utcnow, moto_speedups._original_utcnow)
    assert moto_responses.utcnow is moto_speedups._original_utcnow


def _backend_dict_scenario() -> list[Any]:
    """Lookups in a BackendDict: a new account, the same again, one stored without a lookup (moto lists the
    dict among those in use at its first lookup), and after moto's reset of every backend."""
    backends: BackendDict[SQSBackend] = BackendDict(SQSBackend, "sqs")
    listed = BackendDict._instances  # type: ignore[misc]
    out: list[Any] = []

    def state() -> tuple[Any, ...]:
        return (sorted(backends), sum(1 for instance in listed if instance is backends))

    for account in ("111111111111", "111111111111", "222222222222"):
        out.append((type(backends[account]).__name__, state()))
    BackendDict.reset()
    out.append(state())
    backends["111111111111"]
    out.append(state())
    listed.remove(backends)
    dict.__setitem__(backends, "333333333333",
                     AccountSpecificBackend("sqs", "333333333333", SQSBackend, True, None))  # type: ignore[arg-type]
    out.append(state())
    for account in ("333333333333", "333333333333"):
        out.append((backends[account].account_id, state()))
    listed.remove(backends)
    return out


def test_backend_lookups_create_and_list_what_moto_does() -> None:
    """Given a BackendDict, when accounts are looked up (new, again, stored without a lookup, after a reset),
    then the accounts it holds and the times it is listed among the backends in use are moto's."""
    plain, fast = plain_and_fast(_backend_dict_scenario)
    assert fast == plain


URLS = ["https://dynamodb.us-east-1.amazonaws.com/", "https://sqs.us-east-1.amazonaws.com/123456789012/q?Action=x",
        "https://bucket-b.s3.amazonaws.com/k%2Fa%20b?versionId=1&x=%C3%A9", "http://localhost:5000/bucket/key",
        "https://s3.amazonaws.com:443/b/k", "http://s3.amazonaws.com:80/b/k", "https://s3.amazonaws.com:8443/b/k",
        "http://s3.amazonaws.com:443/b/k", "https://s3.amazonaws.com:80/b/k",
        "http://[::1]:4566/b", "https://xn--bcher-kva.example.com/p", "https://omics.us-east-1.amazonaws.com/run/1"]
HOST_HEADERS = [None, "dynamodb.us-east-1.amazonaws.com", "other.example.com:8080", "xn--bcher-kva.example.com"]


def _request_urls(request: Any) -> dict[str, Any]:
    """What moto and werkzeug read of a request's URL, and what werkzeug then holds cached on it."""
    read = {name: getattr(request, name) for name in ("raw_url", "url_root", "root_url", "host", "host_url",
                                                        "base_url", "url", "raw_path", "path", "full_path")}
    cached = {name: value for name, value in vars(request).items()
              if isinstance(value, (str, bytes, tuple, type(None)))}
    return {**read, "cached": cached}


def test_requests_read_werkzeug_s_root_url_for_every_url_and_host_header() -> None:
    """Given URLs (a port, the default ones and each with the other scheme, IPv6, an IDNA host, escapes in the
    path and query) sent without a Host header and with several, with and without a body, when moto turns them
    into its requests under plain moto and under `speedups()` (all twice, so the second reads what the first
    left), then moto's raw URL and werkzeug's URLs and host read the same, and the requests hold the same cached
    values."""
    def requests() -> list[Any]:
        out = []
        for url in URLS * 2:
            for host in HOST_HEADERS:
                headers = {"Content-Type": "application/x-amz-json-1.0", **({"Host": host} if host else {})}
                for body in (b'{"a": 1}', None):
                    out.append(_request_urls(moto_speedups.MotoRequest.from_primitives("POST", url, headers, body)))
        return out

    plain = requests()
    with speedups():
        fast = requests()
    assert fast == plain


BODILESS = [
    ("GET", "https://bucket-b.s3.amazonaws.com/k%2Fa?versionId=1", {"Accept": "*/*"}, None),
    ("HEAD", "https://bucket-b.s3.amazonaws.com/k", {"Content-Length": "0", "x-amz-meta-my_key": "v"}, b""),
    ("DELETE", "https://s3.amazonaws.com/b/k", {"Content-Length": " 12", "Content-Type": "text/plain"}, ""),
    ("GET", "http://localhost:5000/b/ü?x=ä", {"Host": "elsewhere:1", "Content-Length": "x"}, None),
    ("POST", "https://sqs.us-east-1.amazonaws.com/", {"Content-Type": "application/x-www-form-urlencoded"}, b""),
    ("GET", "https://omics.us-east-1.amazonaws.com/run/1", {"X-Dup": "1", "x-dup": "2", "Bad": "new\nline"}, None),
    ("GET", "http://[::1]:4566/b", {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}, None),
]


def _bodiless_requests() -> list[Any]:
    """moto's requests for requests without a body (None, empty bytes, an empty text): the environ in order, the
    stream read back, and what handlers read."""
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders

    out: list[Any] = []
    for method, url, sent_headers, body in BODILESS * 2:  # the second time with what the first one left behind
        headers = HTTPHeaders()
        for name, value in sent_headers.items():
            headers[name] = value
        try:
            request = moto_speedups.normalize_request(AWSPreparedRequest(method, url, headers, body, False))
            environ = dict(request.environ)
            stream = environ.pop("wsgi.input")
            errors = environ.pop("wsgi.errors")
            assert environ.pop("werkzeug.request") is request
            out.append((list(environ.items()), stream.getvalue(), stream.tell(), errors.name, list(request.headers),
                        request.raw_url, request.host, list(request.args.items(multi=True)), request.content_type,
                        request.content_length, request.data, list(request.form.items(multi=True))))
        except Exception as error:  # a refusal is part of the contract too
            out.append({"error": type(error).__name__, "message": str(error)})
    return out


def test_requests_without_a_body_reach_moto_as_moto_builds_them() -> None:
    """Given requests without a body (None, empty bytes or text) of several methods, with a Content-Length header
    (zero, spaced, not a number), a Content-Type (plain text, JSON, a form's), metadata, repeated and
    refused headers, a Host header, when moto turns them into its requests under plain moto and under
    `speedups()`, then every environ (keys, values, order), stream and what handlers read are moto's."""
    plain, fast = plain_and_fast(_bodiless_requests)
    assert fast == plain
    assert sum(isinstance(answer, dict) for answer in plain) == 2  # the refused header


def test_the_routed_backend_is_the_one_moto_s_import_finds_for_every_service() -> None:
    """Given the services the sandbox calls, services named otherwise than their module or backends (lambda's,
    moto's own API, DynamoDB's old API), one with a dash and one whose module is not loaded yet, when the
    stubber's backend of each is looked up, then it is the BackendDict moto's `get_backend` imports, and the
    backend the same as moto's stubber picks."""
    import moto.backends as backends
    from moto.core import DEFAULT_ACCOUNT_ID

    services = ["s3", "sqs", "dynamodb", "events", "scheduler", "sns", "logs", "iam", "sts", "lambda", "moto_api",
                "dynamodb_v20111205", "resource-groups", "xray"]
    with mock_aws():
        for service in services:
            found = moto_speedups._backend_dict(service)
            assert found is backends.get_backend(service), service  # type: ignore[call-overload]
            if isinstance(found, BackendDict):
                accounts = found[DEFAULT_ACCOUNT_ID]
                expected = accounts["us-east-1"] if "us-east-1" in accounts else accounts["aws"]
                assert moto_speedups._service_backend(service) is expected, service
