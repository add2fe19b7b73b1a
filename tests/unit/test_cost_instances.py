"""The omics instance table and the service's instance choice (issue 14).

Oracle: the guide, 'Instance types' (standard / compute / memory optimized / accelerated computing
tables, and 'a task asking 64 GiB and 8 vCPUs gets omics.r.2xlarge')."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.cost.instances import by_name, instance_types, requested_units, smallest_fitting


def test_guide_example_64_gib_8_vcpus_gets_r_2xlarge() -> None:
    # Given the guide's example request, When the service chooses, Then it is omics.r.2xlarge.
    chosen = smallest_fitting(8, 64)
    assert chosen is not None and chosen.name == "omics.r.2xlarge"


def test_table_has_every_row_of_the_guides_tables() -> None:
    # Given the guide's tables: 10 rows each for m, c, r; 7 for g6, g6e, g5; 5 for g4dn.
    families = Counter(t.family for t in instance_types())
    assert families == {"m": 10, "c": 10, "r": 10, "g6": 7, "g6e": 7, "g5": 7, "g4dn": 5}
    assert len({t.name for t in instance_types()}) == len(instance_types())
    # Spot checks, one row per table, as the guide prints them.
    r48, g6e12, g4dn12, c_large = (by_name(n) for n in ("omics.r.48xlarge", "omics.g6e.12xlarge",
                                                       "omics.g4dn.12xlarge", "omics.c.large"))
    assert r48 and (r48.vcpus, r48.memory_gib) == (192, 1536)
    assert g6e12 and (g6e12.vcpus, g6e12.memory_gib, g6e12.gpus, g6e12.gpu_memory_gib) == (48, 384, 4, 192)
    assert g4dn12 and (g4dn12.vcpus, g4dn12.memory_gib, g4dn12.gpus, g4dn12.gpu_memory_gib) == (48, 192, 4, 64)
    assert c_large and (c_large.vcpus, c_large.memory_gib) == (2, 4)


@pytest.mark.parametrize(("cpus", "memory", "expected"), [
    (None, None, "omics.c.large"),   # guide: nothing specified -> 1 vCPU and 1 GiB
    (2.4, 3.6, "omics.c.large"),     # guide: fractions round to the nearest integer (2, 4)
    (16, 32, "omics.c.4xlarge"),     # the guide's example manifest task (geno-123)
    (4, 16, "omics.m.xlarge"),
    (3, 17, "omics.r.xlarge"),
])
def test_smallest_type_that_fits(cpus: float | None, memory: float | None, expected: str) -> None:
    chosen = smallest_fitting(cpus, memory)
    assert chosen is not None and chosen.name == expected


def test_minimum_request_is_one_unit() -> None:
    assert requested_units(0.2) == 1 and requested_units(None) == 1 and requested_units(2.5) == 3


def test_32xlarge_and_larger_only_in_oregon_and_virginia() -> None:
    # Guide: 32xlarge and 48xlarge only in US West (Oregon) and US East (N. Virginia).
    assert smallest_fitting(128, 8, region="eu-west-1") is None
    chosen = smallest_fitting(128, 8, region="us-east-1")
    assert chosen is not None and chosen.name == "omics.c.32xlarge"


def test_gpu_tasks_get_accelerated_types_and_regional_exclusions_apply() -> None:
    # Given a 1-GPU task: the (1 GPU, 4 vCPU, 16 GiB) rows tie; names break the tie deterministically.
    chosen = smallest_fitting(4, 16, 1, region="us-east-1")
    assert chosen is not None and chosen.gpus == 1 and (chosen.vcpus, chosen.memory_gib) == (4, 16)
    # Guide: G4 is not offered in Israel (Tel Aviv), G6/G6e only in Oregon and Virginia.
    israel = smallest_fitting(4, 16, 1, region="il-central-1")
    assert israel is not None and israel.name == "omics.g5.xlarge"
    # A 4-GPU request gets a 4-GPU type; a no-GPU request never gets a GPU type.
    four = smallest_fitting(8, 8, 4, region="us-east-1")
    assert four is not None and four.gpus == 4 and four.vcpus == 48
    for cpus, memory in [(4, 16), (8, 32), (96, 384)]:
        plain = smallest_fitting(cpus, memory)
        assert plain is not None and plain.gpus == 0


def test_request_beyond_every_type_fits_nothing() -> None:
    # Guide: asking more than any supported type fails validation.
    assert smallest_fitting(256, 8) is None and smallest_fitting(2, 4096) is None
