"""Settings files are read as a stream, whatever the chunking, and written deterministically."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerunner.settings_file import SettingsFileError, encode, iter_array, select_entries

entries = st.lists(
    st.fixed_dictionaries(
        {
            "runSettingId": st.text(min_size=1, max_size=8),
            "parameters": st.dictionaries(
                st.text(max_size=5),
                st.one_of(
                    st.integers(), st.floats(allow_nan=False), st.text(max_size=10), st.booleans(), st.none()
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
