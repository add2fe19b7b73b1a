"""Settings files are read as a stream, whatever the chunking, and written deterministically."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from rerunner.dal import AwsAccess
from rerunner.settings_file import SettingsFileError, encode, iter_array, select_entries
from shared.errors import PermanentError

# st.text()'s own default alphabet, every character UTF-8 encodes (all but the surrogates), drawn the same (the
# same intervals, the same examples for a seed) but named by category: the default's `codec="utf-8"` has
# hypothesis encode and decode each of the 1.1 million code points (~3 CPU-s) in a process without a
# .hypothesis/ cache, which a clean clone's (CI's) `make test` is.
UTF8 = st.characters(exclude_categories=["Cs"])

entries = st.lists(
    st.fixed_dictionaries(
        {
            "runSettingId": st.text(UTF8, min_size=1, max_size=8),
            "parameters": st.dictionaries(
                st.text(UTF8, max_size=5),
                st.one_of(
                    st.integers(), st.floats(allow_nan=False), st.text(UTF8, max_size=10), st.booleans(), st.none()
                ),
                max_size=3,
            ),
        }
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(entries, st.integers(min_value=1, max_value=64), st.booleans())
def test_streaming_reads_every_entry_whatever_the_chunk_size(data: list, chunk: int, pretty: bool) -> None:
    raw = json.dumps(data, ensure_ascii=False, indent=2 if pretty else None).encode()
    assert list(iter_array(io.BytesIO(raw).read, chunk)) == data


def test_select_keeps_only_wanted_entries_and_stops_early() -> None:
    data = [{"runSettingId": f"s{i}", "parameters": {"i": i}} for i in range(1000)]
    found = select_entries(io.BytesIO(json.dumps(data).encode()).read, {"s7", "s999", "missing"})
    assert set(found) == {"s7", "s999"} and found["s7"]["parameters"] == {"i": 7}
    # once every wanted entry is found the rest of the file is not read (here: not even valid)
    truncated = json.dumps(data).encode()[:2000]
    assert set(select_entries(io.BytesIO(truncated).read, {"s1", "s2"})) == {"s1", "s2"}


def test_byte_order_mark_and_whitespace() -> None:
    raw = '\ufeff \n[ {"runSettingId": "é"} ]\n'.encode()
    assert list(iter_array(io.BytesIO(raw).read, 1)) == [{"runSettingId": "é"}]


@pytest.mark.parametrize(
    "raw", [b'{"runSettingId": "a"}', b'[{"runSettingId": "a"}', b"[1 2]", b"[{]", b"\xff[]"]
)
def test_malformed_files_raise(raw: bytes) -> None:
    with pytest.raises(SettingsFileError):
        list(iter_array(io.BytesIO(raw).read, 3))


def test_encode_is_deterministic() -> None:
    a = [{"runSettingId": "x", "parameters": {"b": 1, "a": 2}}]
    b = [{"parameters": {"a": 2, "b": 1}, "runSettingId": "x"}]
    assert encode(a) == encode(b) and json.loads(encode(a)) == a


# ----------------------------------------------------------------------------------------------------
# Writing a follow-up batch's settings file (issue 11): once, conditionally, reused only by content hash.
# HealthOmics fails a batch whose s3UriSettings changed after StartRunBatch (guide, batch-level failures:
# "s3UriConfigs was changed after calling StartRunBatch"), so the file must never change once written.
BUCKET = "settings"
KEY = "reruns/b0/b1/attempt-01-same-0123456789abcdef.json"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _access() -> AwsAccess:
    return AwsAccess(omics=lambda: None)


def test_moto_refuses_a_second_conditional_put(s3: Any) -> None:
    # The oracle this relies on (S3 conditional writes, as moto 5 implements them): If-None-Match: *
    # on an existing key fails with 412 PreconditionFailed and leaves the object as it was.
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"first"


def test_the_same_content_written_twice_is_one_unchanged_object(s3: Any) -> None:
    data = encode([{"runSettingId": "s1"}])
    access = _access()
    assert access.write_settings(BUCKET, KEY, data) == f"s3://{BUCKET}/{KEY}"
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    # a retried or concurrent copy of the same work reuses it
    assert access.write_settings(BUCKET, KEY, data) == f"s3://{BUCKET}/{KEY}"
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == etag


def test_a_planted_file_with_other_content_is_refused_not_reused(s3: Any) -> None:
    # Given someone who may write under reruns/ planted a file at the key
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'[{"runSettingId":"s1","parameters":{"evil":1}}]')
    # When the re-runner writes its settings there, it refuses (recorded, alarmed), and changes nothing
    with pytest.raises(PermanentError, match="other content"):
        _access().write_settings(BUCKET, KEY, encode([{"runSettingId": "s1"}]))
    assert b"evil" in s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()


def test_a_concurrent_copy_never_changes_the_file_between_check_and_write(s3: Any) -> None:
    # Given a concurrent copy that writes its file at the moment this one writes (after any check)
    theirs = encode([{"runSettingId": "s1", "name": "theirs"}])
    access = _access()
    client = access._client("s3")
    writes: list[str] = []

    def concurrent_copy(**_: Any) -> None:
        if not writes:
            writes.append(boto3.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=theirs)["ETag"])

    client.meta.events.register("before-call.s3.PutObject", concurrent_copy)
    # When this copy writes other bytes, it does not replace the file the other copy's batch reads
    with pytest.raises(PermanentError):
        access.write_settings(BUCKET, KEY, encode([{"runSettingId": "s1", "name": "ours"}]))
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == theirs
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == writes[0]
