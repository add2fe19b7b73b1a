"""Reading an S3 Inventory report (S3 User Guide, "Amazon S3 Inventory": CSV data files compressed with
GZIP, no header, key URL-encoded, columns as manifest.json's fileSchema says): which rows name a
candidate. Offline: the in-memory S3 (tests/pruner_synthetic.FakeS3)."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime

import pytest

from pruner.config import InventoryFile, InventorySource, PrunerConfig
from pruner.inventory import InventoryListing, InventoryUnusable, is_manifest_key, manifest_rows
from pruner.s3_store import S3Store
from tests.pruner_synthetic import FakeS3

WHEN = datetime(2026, 3, 1, tzinfo=UTC)
ENTRY = "cache/7e8c69b1-145f-4b2a-8b4e-0123456789ab/1001/2001/aaaa0001-0000-4000-8000-000000000000/"
MANIFEST = ENTRY + "aaaa0001-0000-4000-8000-000000000000.json"


def data_file(lines: list[str], columns: tuple[str, ...] = ("Bucket", "Key", "Size", "LastModifiedDate")) -> tuple[
    FakeS3, InventoryFile
]:
    body = gzip.compress("".join(f"{line}\n" for line in lines).encode())
    s3 = FakeS3()
    s3.put("inv", "inv/src/cfg/data/1.csv.gz", body, len(body), WHEN)
    file = InventoryFile(bucket="inv", key="inv/src/cfg/data/1.csv.gz", md5=hashlib.md5(body).hexdigest(),
                         columns=list(columns), created="2026-03-01T00:00:00.000000Z")
    return s3, file


def test_only_manifest_rows_at_entry_depth_of_the_cache_bucket_and_prefix_are_candidates() -> None:
    # Given rows in S3's CSV form: quoted, URL-encoded keys (a space as '+', '/' as %2F), in no order
    encoded = MANIFEST.replace("/", "%2F")
    s3, file = data_file([
        f'"run-cache","{ENTRY}out%2Fa+b.dat","10","2026-02-01T00:00:00.000Z"',  # data object: not a candidate
        f'"run-cache","{encoded}","5","2026-02-01T00:00:00.000Z"',
        f'"other-bucket","{encoded}","5","2026-02-01T00:00:00.000Z"',  # another bucket
        '"run-cache","cachex%2Fu%2F1%2F2%2Fe%2Fe.json","5","2026-02-01T00:00:00.000Z"',  # outside the prefix
        f'"run-cache","{ENTRY}nested%2Fx.json","5","2026-02-01T00:00:00.000Z"',  # below entry depth
        f'"run-cache","{encoded}","5"',  # a short row
        f'"run-cache","{ENTRY.replace("1001", "1002")}aaaa0001-0000-4000-8000-000000000000.json","7","not a date"',
    ])
    # When the file is read for the cache under cache/ of run-cache
    rows = manifest_rows(S3Store(s3), file, "run-cache", "cache/")
    # Then the one manifest row is the one candidate, decoded, with its size and LastModified
    assert [(r.key, r.size, r.last_modified) for r in rows] == [(MANIFEST, 5, datetime(2026, 2, 1, tzinfo=UTC))]
    assert list(InventoryListing(rows)(None)) == rows and list(InventoryListing(rows)(MANIFEST)) == []


def test_a_space_encoded_as_plus_is_decoded() -> None:
    assert is_manifest_key("u/1/2/e/e.json") and not is_manifest_key("u/1/2/e/f.json")
    s3, file = data_file(['"b","cache%2Fu+v%2F1%2F2%2Fe%2Fe.json","1","2026-02-01T00:00:00.000Z"'])
    assert [r.key for r in manifest_rows(S3Store(s3), file, "b", "cache/")] == ["cache/u v/1/2/e/e.json"]


def test_a_data_file_that_does_not_match_its_checksum_is_refused() -> None:
    s3, file = data_file([f'"run-cache","{MANIFEST}","5","2026-02-01T00:00:00.000Z"'])
    with pytest.raises(InventoryUnusable, match="MD5"):
        manifest_rows(S3Store(s3), file.model_copy(update={"md5": "0" * 32}), "run-cache", "cache/")


def test_the_stack_cache_key_maps_to_the_stacks_run_cache_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRUNE_INVENTORIES", '{"runCache": {"destination": "s3://inv/x/", "configId": "c"}}')
    config = PrunerConfig.from_env(default_cache_id="9876543")
    assert config.inventories == {"9876543": InventorySource(destination="s3://inv/x/", configId="c")}
    assert config.inventories["9876543"].location("run-cache") == "s3://inv/x/run-cache/c/"
