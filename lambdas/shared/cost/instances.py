"""The omics instance types (the guide's 'Instance types' tables, kept as data in instance_types.json)
and the service's choice: the smallest type that fits the requested vCPUs, memory and GPUs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE_FILE = Path(__file__).with_name("instance_types.json")


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str  # m | c | r | g4dn | g5 | g6 | g6e
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_memory_gib: int = 0
    regions_only: tuple[str, ...] = ()
    regions_excluded: tuple[str, ...] = ()

    def offered_in(self, region: str | None) -> bool:
        if region is None:
            return True
        if self.regions_only and region not in self.regions_only:
            return False
        return region not in self.regions_excluded

    def fits(self, vcpus: int, memory_gib: int, gpus: int = 0) -> bool:
        # A task asking for no GPU is never placed on an accelerated type, nor the reverse.
        return self.vcpus >= vcpus and self.memory_gib >= memory_gib and (self.gpus >= gpus if gpus else not self.gpus)


@lru_cache(maxsize=1)
def instance_types() -> tuple[InstanceType, ...]:
    rows = json.loads(TABLE_FILE.read_text())["instance_types"]
    return tuple(
        InstanceType(name=r["name"], family=r["family"], vcpus=r["vcpus"], memory_gib=r["memory_gib"],
                     gpus=r.get("gpus", 0), gpu_memory_gib=r.get("gpu_memory_gib", 0),
                     regions_only=tuple(r.get("regions_only") or ()),
                     regions_excluded=tuple(r.get("regions_excluded") or ()))
        for r in rows
    )


@lru_cache(maxsize=1)
def _named() -> dict[str, InstanceType]:
    return {t.name: t for t in instance_types()}


def by_name(name: str | None) -> InstanceType | None:
    return _named().get(name or "")


def requested_units(value: float | None) -> int:
    """The guide: no value means the default (1 vCPU, 1 GiB); fractions are rounded to the nearest
    integer; the smallest configuration is 1."""
    if value is None:
        return 1
    return max(1, math.floor(value + 0.5))


def smallest_fitting(vcpus: float | None, memory_gib: float | None, gpus: int | None = 0, *,
                     region: str | None = None,
                     candidates: Iterable[InstanceType] | None = None) -> InstanceType | None:
    """The smallest type (fewest GPUs, then vCPUs, then memory) that fits; None when nothing does (the
    guide: the workflow then fails validation). Guide example: 8 vCPUs + 64 GiB -> omics.r.2xlarge."""
    need_cpu, need_mem, need_gpu = requested_units(vcpus), requested_units(memory_gib), gpus or 0
    pool = [t for t in (candidates if candidates is not None else instance_types())
            if t.offered_in(region) and t.fits(need_cpu, need_mem, need_gpu)]
    return min(pool, key=lambda t: (t.gpus, t.vcpus, t.memory_gib, t.name), default=None)
