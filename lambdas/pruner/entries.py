"""Stream a run cache's S3 listing into cache entries.

Layout (guide): ``{cachePrefix}{cacheUuid}/{runId}/{taskId}/{entryUuid}/`` holds the manifest
``{entryUuid}.json`` and the task's output objects. S3 lists keys in lexical order and every key of an
entry shares the entry prefix, so an entry's objects are contiguous: one entry is held in memory at a
time, whatever the cache size. Keys that do not have that shape are *strays*: reported, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

# The guide's own examples have uuid-like ids whose first group is not 8 digits: match the shape loosely.
_UUID_LIKE = re.compile(r"[0-9a-f]+(-[0-9a-f]+){4}")


@dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    size: int
    last_modified: datetime


@dataclass(slots=True)
class Entry:
    prefix: str  # full key prefix, ends with "/"
    cache_uuid: str
    run_id: str
    task_id: str
    entry_uuid: str
    objects: list[S3Object] = field(default_factory=list)

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}{self.entry_uuid}.json"

    @property
    def has_cache_shape(self) -> bool:
        """The path looks like HealthOmics wrote it: uuid-like cache and entry directories, numeric run
        and task ids. A prefix without a manifest is only ever deleted when it has this shape."""
        return bool(_UUID_LIKE.fullmatch(self.cache_uuid) and _UUID_LIKE.fullmatch(self.entry_uuid)
                    and self.run_id.isdigit() and self.task_id.isdigit())

    @property
    def has_manifest(self) -> bool:
        manifest = self.manifest_key
        return any(o.key == manifest for o in self.objects)

    @property
    def manifest_modified(self) -> datetime | None:
        manifest = self.manifest_key
        return next((o.last_modified for o in self.objects if o.key == manifest), None)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def newest(self) -> datetime:
        return max(o.last_modified for o in self.objects)

    @property
    def last_key(self) -> str:
        return self.objects[-1].key


@dataclass(frozen=True, slots=True)
class Stray:
    """An object under the cache prefix that is not inside an entry directory."""

    obj: S3Object


def entry_prefix_of(relative_key: str) -> tuple[str, str, str, str] | None:
    """(cacheUuid, runId, taskId, entryUuid) when the key lies inside an entry directory."""
    parts = relative_key.split("/", 4)
    if len(parts) < 5 or not all(parts[:4]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def group_entries(objects: Iterable[S3Object], cache_prefix: str) -> Iterator[Entry | Stray]:
    """Group a lexically ordered listing into entries (yielded once complete) and strays."""
    current: Entry | None = None
    for obj in objects:
        if not obj.key.startswith(cache_prefix):
            raise ValueError(f"listing returned {obj.key!r} outside {cache_prefix!r}")
        parts = entry_prefix_of(obj.key[len(cache_prefix) :])
        if parts is None:
            if current is not None:  # a key outside the open entry closes it: keep key order
                yield current
                current = None
            yield Stray(obj)
            continue
        if current is not None and obj.key.startswith(current.prefix):
            current.objects.append(obj)
            continue
        if current is not None:
            yield current
        prefix = cache_prefix + "/".join(parts) + "/"
        current = Entry(prefix, *parts, objects=[obj])
    if current is not None:
        yield current
