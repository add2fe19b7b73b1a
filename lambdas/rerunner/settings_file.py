"""Batch settings files (a JSON array of per-run settings, up to 6 GB): read them as a stream, write them.

Reading never holds the whole file: entries are decoded one at a time from fixed-size chunks and only
those the caller keeps stay in memory (a follow-up batch keeps only its failed runSettingIds).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

CHUNK_BYTES = 1 << 20
_WHITESPACE = " \t\r\n"


class SettingsFileError(ValueError):
    """The settings file is not a JSON array of objects."""


def iter_array(read: Callable[[int], bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
    """Yield the elements of the JSON array that `read(n)` returns piece by piece."""
    decoder = json.JSONDecoder()
    buffer = ""
    pending = b""  # bytes of a UTF-8 character split across chunks
    position = 0
    started = False
    exhausted = False

    def fill() -> bool:
        nonlocal buffer, pending, position, exhausted
        if exhausted:
            return False
        data = read(chunk_bytes)
        if not data:
            exhausted = True
            if pending:
                raise SettingsFileError("settings file ends inside a UTF-8 character")
            return False
        data = pending + data
        for cut in range(len(data), max(len(data) - 4, -1), -1):  # keep a split character for later
            try:
                text = data[:cut].decode("utf-8")
                break
            except UnicodeDecodeError:
                continue
        else:
            raise SettingsFileError("settings file is not UTF-8")
        pending = data[cut:]
        buffer = buffer[position:] + text
        position = 0
        return True

    def skip_whitespace() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not fill():
                return ""

    char = skip_whitespace()
    if char == "\ufeff":  # a byte-order mark some editors write
        position += 1
        char = skip_whitespace()
    if char != "[":
        raise SettingsFileError("settings file is not a JSON array")
    position += 1
    while True:
        char = skip_whitespace()
        if char == "]":
            return
        if char == "":
            raise SettingsFileError("settings file ends before its array does")
        if started:
            if char != ",":
                raise SettingsFileError(f"expected ',' between settings entries, found {char!r}")
            position += 1
            skip_whitespace()
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as error:
                if fill():
                    continue
                raise SettingsFileError(f"invalid settings entry: {error}") from None
            # A number may continue in the next chunk: decode again with more text.
            if end == len(buffer) and not isinstance(value, dict | list | str) and fill():
                continue
            break
        position = end
        started = True
        yield value


def select_entries(read: Callable[[int], bytes], run_setting_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The entries of a settings file whose runSettingId is wanted, keyed by runSettingId."""
    wanted = set(run_setting_ids)
    found: dict[str, dict[str, Any]] = {}
    for entry in iter_array(read):
        if not isinstance(entry, dict):
            raise SettingsFileError("every settings entry must be a JSON object")
        setting_id = entry.get("runSettingId")
        if setting_id in wanted:
            found[setting_id] = entry
            if len(found) == len(wanted):
                break
    return found


def encode(entries: Iterable[dict[str, Any]]) -> bytes:
    """A settings file's bytes; deterministic for the same entries (stable ETag on a rewrite)."""
    return json.dumps(list(entries), sort_keys=True, separators=(",", ":")).encode()
