"""Contract tests of the URL tables the request routing of sandbox/moto_speedups.py reads (`_url_table`, built once
per backend class and moto settings): each is the table moto's backend builds at that moment, and requests to new
S3 keys, as moto's settings change between them, are answered as plain moto answers them."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups
from tests.sandbox.test_moto_speedups import REGION, plain_and_fast

CUSTOM_ENDPOINT = "https://objects.example.test:4566"
# moto's settings a URL table reads, set in turn and back: S3's custom endpoints, the ISO regions' domains
SETTINGS: list[dict[str, str]] = [{}, {"MOTO_S3_CUSTOM_ENDPOINTS": CUSTOM_ENDPOINT},
                                  {"MOTO_S3_CUSTOM_ENDPOINTS": f"{CUSTOM_ENDPOINT},http://other.test"},
                                  {"MOTO_ENABLE_ISO_REGIONS": "true"}, {"MOTO_ENABLE_ISO_REGIONS": "false"}, {}]


def _set(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> None:
    for name in ("MOTO_S3_CUSTOM_ENDPOINTS", "MOTO_ENABLE_ISO_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def test_url_tables_are_the_backends_own_as_moto_s_settings_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given moto's S3, SQS and DynamoDB backends, when their URL tables are read (twice: built, then kept) under
    each of moto's settings in turn and back (custom S3 endpoints, ISO regions on and off), then each table holds
    the patterns and handlers, in order, that the backend's own `urls` holds at that moment."""
    moto_speedups._url_tables.clear()
    with mock_aws(), speedups():
        backends = [moto_speedups._service_backend(service) for service in ("s3", "sqs", "dynamodb")]
        sizes = set()
        for settings in SETTINGS:
            _set(monkeypatch, settings)
            for backend in backends:
                moto_s = list(backend.urls.items())
                sizes.add(len(moto_s))
                for _ in range(2):
                    assert [(url.pattern, handler) for url, handler in moto_speedups._url_table(backend)] == moto_s
    assert len(sizes) > 3  # the settings change the tables


def _new_keys_scenario(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """New S3 keys and buckets (path and host style, nested and odd keys) put, read and listed under each of moto's
    settings in turn, through the custom endpoint while one is set."""
    out: list[Any] = []
    for round_number, settings in enumerate(SETTINGS):
        _set(monkeypatch, settings)
        endpoint = settings.get("MOTO_S3_CUSTOM_ENDPOINTS", "").split(",")[0] or None
        # moto intercepts a custom endpoint's bucket in the path only (botocore would send the host style out)
        for style in ("path",) if endpoint else ("path", "virtual"):
            s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint,
                              config=boto3.session.Config(s3={"addressing_style": style}))
            bucket = f"bucket-{round_number}-{style}"
            try:
                out.append(s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"])
                for key in (f"run/{round_number}/out.json", "a b/ü/x%2Fy", "/lead", "plain"):
                    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
                    out.append(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                    out.append(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
                out.append([item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]])
            except Exception as error:  # a refusal is part of the contract too
                out.append((type(error).__name__, str(error)))
    return out


def test_new_s3_keys_are_answered_as_plain_moto_as_settings_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given new S3 keys and buckets in both addressing styles, when they are put, read and listed under each of
    moto's settings in turn (a custom S3 endpoint set, two, ISO regions on and off, none), then every answer and
    error is plain moto's."""
    moto_speedups._url_tables.clear()
    plain, fast = plain_and_fast(lambda: _new_keys_scenario(monkeypatch))

    assert fast == plain
    assert b"plain" in plain
