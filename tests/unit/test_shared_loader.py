"""The test processes' shared botocore loader (tests/shared_loader.py, installed by tests/conftest.py)."""

from __future__ import annotations

import boto3
import botocore.session
from moto import mock_aws


def test_every_new_session_uses_the_one_loader() -> None:
    first, second = botocore.session.get_session(), botocore.session.get_session()
    assert first is not second
    assert first.get_component("data_loader") is second.get_component("data_loader")


def test_boto3_sessions_do_not_grow_the_search_paths_and_still_find_boto3_data() -> None:
    loader = botocore.session.get_session().get_component("data_loader")
    boto3.Session()
    paths = list(loader.search_paths)
    for _ in range(5):
        session = boto3.Session(region_name="us-east-1")
    assert loader.search_paths == paths and len(set(paths)) == len(paths)
    assert "s3" in session.get_available_resources()  # boto3's own data folder is searched


def test_a_client_of_a_fresh_moto_session_works() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="shared-loader")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["shared-loader"]
