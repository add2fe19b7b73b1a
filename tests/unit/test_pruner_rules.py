"""Pure pieces of the pruner: manifest parsing, entry grouping, rules, and DeleteObjects retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pruner.entries import Entry, S3Object, Stray, group_entries
from pruner.manifest import LEGACY_VERSION, ManifestInfo, ManifestState, parse_manifest
from pruner.rules import Reason, Rules, decide, floor_after, initial_floor, version_ceiling
from pruner.s3_store import S3Store
from tests.pruner_synthetic import GUIDE_MANIFEST_TEXT, REFERENCE_MANIFEST, FakeS3

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_guides_manifest_file_is_version_2_of_cache_0123456() -> None:
    """Guide, "Call caching": the example manifest (arn …:runCache/<id>/cacheEntry/<uuid>, version)."""
    info = parse_manifest(REFERENCE_MANIFEST.read_bytes())
    assert (info.state, info.version, info.cache_id) == (ManifestState.VERSIONED, 2, "0123456")
    assert info.entry_uuid == "1234567-195f-3921-a1fa-ffffcef0a6a4"


def guide_entry() -> tuple[str, Entry]:
    """(bucket, entry) of the guide's example manifest placed at its own `s3uri`."""
    doc = json.loads(REFERENCE_MANIFEST.read_text())
    bucket, _, key = doc["s3uri"].removeprefix("s3://").partition("/")
    entry_dir = key.rsplit("/", 1)[1]
    objects = [obj(f"{key}/{entry_dir}.json"), obj(f"{key}/{doc['files'][0]['path']}")]
    [grouped] = list(group_entries(sorted(objects, key=lambda o: o.key), ""))
    assert isinstance(grouped, Entry)
    return bucket, grouped


def test_the_guides_example_entry_at_its_own_s3uri_is_an_entry_of_its_cache() -> None:
    """Guide, "Call caching" (cache S3 layout and example manifest): the ARN's entry id
    (1234567-195f-…) is not the directory name (7e8c69b1-145f-…); the s3uri is the directory."""
    # Given the guide's manifest placed at its own s3uri (bucket `example`, cache at the bucket root)
    bucket, guide = guide_entry()
    info = parse_manifest(REFERENCE_MANIFEST.read_bytes())
    # Then its path has the guide's layout (a cache uuid whose first group is 7 characters)
    assert guide.has_cache_shape and guide.cache_uuid == "1234567-d0d1-e230-d599-10f1539f4a32"
    # And it is an entry of cache 0123456: current at floor 2, stale at floor 3, and it may raise the floor
    judge = {"cache_id": "0123456", "bucket": bucket, "rules": Rules(), "now": NOW, "active_runs": ()}
    assert decide(guide, info, floor=2, **judge).reason is Reason.CURRENT  # type: ignore[arg-type]
    assert decide(guide, info, floor=3, **judge).reason is Reason.STALE_VERSION  # type: ignore[arg-type]
    assert floor_after(1, guide, info, "0123456", bucket, ceiling=2) == 2
    # But in another bucket, or for another cache, it names no entry of this cache
    other_bucket = {**judge, "bucket": "elsewhere"}
    assert decide(guide, info, floor=3, **other_bucket).reason is Reason.FOREIGN  # type: ignore[arg-type]
    other_cache = {**judge, "cache_id": "7654321"}
    assert decide(guide, info, floor=3, **other_cache).reason is Reason.FOREIGN  # type: ignore[arg-type]


def test_the_guides_printed_example_with_its_trailing_comma_is_invalid() -> None:
    info = parse_manifest(GUIDE_MANIFEST_TEXT.encode())
    assert info.state is ManifestState.INVALID and not info.valid
    assert "not valid JSON" in (info.problem or "")


def guide(**changes: object) -> bytes:
    doc = json.loads(REFERENCE_MANIFEST.read_text())
    for name, value in changes.items():
        if value is REMOVE:
            del doc[name]
        else:
            doc[name] = value
    return json.dumps(doc).encode()


REMOVE = object()


@pytest.mark.parametrize(
    ("body", "state", "version"),
    [
        (guide(), ManifestState.VERSIONED, 2),
        (guide(version=REMOVE), ManifestState.LEGACY, LEGACY_VERSION),  # absent: a legacy entry (guide)
        (guide(version=3, extraField={"x": 1}), ManifestState.VERSIONED, 3),  # new service fields tolerated
        (guide(version=True), ManifestState.INVALID, None),
        (guide(version="2"), ManifestState.INVALID, None),
        (guide(version=2.5), ManifestState.INVALID, None),
        (guide(version=1e9), ManifestState.INVALID, None),
        (guide(version=None), ManifestState.INVALID, None),
        (guide(version=-1), ManifestState.INVALID, None),
        (guide(arn=REMOVE), ManifestState.INVALID, None),
        (guide(arn="arn:aws:omics:us-west-2:1:runCache/0123456"), ManifestState.INVALID, None),
        (guide(arn="x arn:aws:omics:us-west-2:1:runCache/1/cacheEntry/ab"), ManifestState.INVALID, None),
        (guide(files=REMOVE), ManifestState.INVALID, None),
        (guide(files=[{"name": "a"}]), ManifestState.INVALID, None),
        (guide(taskArn=REMOVE), ManifestState.INVALID, None),
        (guide(s3uri="https://example/x"), ManifestState.INVALID, None),
        (b'{"arn": "x"}', ManifestState.INVALID, None),
        (b'{"version": 3}', ManifestState.INVALID, None),
        (b'{"version": 1e9}', ManifestState.INVALID, None),
        (b"[1, 2]", ManifestState.INVALID, None),
        (b"[" * 100_000, ManifestState.INVALID, None),
        (b"\xff\xfe", ManifestState.INVALID, None),
    ],
)
def test_only_a_manifest_in_the_guides_format_is_trusted(
    body: bytes, state: ManifestState, version: int | None
) -> None:
    info = parse_manifest(body)
    assert (info.state, info.version) == (state, version)


def obj(key: str, size: int = 1) -> S3Object:
    return S3Object(key, size, NOW)


def test_contiguous_keys_group_into_entries_and_other_shapes_are_strays() -> None:
    listing = [
        obj("c/u/r1/t1/e1/.command.out"),
        obj("c/u/r1/t1/e1/e1.json"),
        obj("c/u/r1/t1/e1/out/a", 5),
        obj("c/u/r1/t1/e2/out/b"),
        obj("c/u/r1/t1/loose"),
        obj("c/u/r2/t1/e3/e3.json"),
        obj("c/z.txt"),
    ]
    grouped = list(group_entries(listing, "c/"))
    assert [type(g).__name__ for g in grouped] == ["Entry", "Entry", "Stray", "Entry", "Stray"]
    first = grouped[0]
    assert isinstance(first, Entry)
    assert (first.run_id, first.task_id, first.entry_uuid, first.size, first.has_manifest) == (
        "r1",
        "t1",
        "e1",
        7,
        True,
    )
    assert isinstance(grouped[1], Entry) and not grouped[1].has_manifest  # an orphan
    assert isinstance(grouped[2], Stray) and grouped[2].obj.key == "c/u/r1/t1/loose"
    with pytest.raises(ValueError, match="outside"):
        list(group_entries([obj("d/u/r/t/e/x")], "c/"))


CACHE_UUID, ENTRY_UUID = "1234567-d0d1-e230-d599-10f1539f4a32", "7e8c69b1-145f-3991-a1fa-ffffcef0a6a4"  # the guide's


def entry(run: str = "r1", age_days: int = 1, task: str = "4795326") -> Entry:
    prefix = f"c/{CACHE_UUID}/{run}/{task}/{ENTRY_UUID}/"
    objects = [S3Object(f"{prefix}x", 10, NOW - timedelta(days=age_days))]
    return Entry(prefix, CACHE_UUID, run, task, ENTRY_UUID, objects)


def info(version: int | None, cache_id: str = "42", location: str | None = None, run: str = "1348677") -> ManifestInfo:
    """A valid manifest; its s3uri is `location`, by default the location of entry(run) in bucket "b"."""
    location = location or f"s3://b/c/{CACHE_UUID}/{run}/4795326/{ENTRY_UUID}"
    if version is None:
        return ManifestInfo(ManifestState.LEGACY, LEGACY_VERSION, cache_id, ENTRY_UUID, location)
    return ManifestInfo(ManifestState.VERSIONED, version, cache_id, "1234567-195f-3921-a1fa-ffffcef0a6a4", location)


@pytest.mark.parametrize(
    ("manifest", "floor", "rules", "run", "expected"),
    [
        (info(2), 2, Rules(), "1348677", Reason.CURRENT),
        (info(1), 2, Rules(), "1348677", Reason.STALE_VERSION),
        (info(None), 1, Rules(), "1348677", Reason.LEGACY),
        (info(None), 0, Rules(), "1348677", Reason.CURRENT),  # only legacy entries: nothing to compare with
        (info(1, run="1003"), 2, Rules(), "1003", Reason.ACTIVE_RUN),
        (info(1, cache_id="7"), 2, Rules(), "1348677", Reason.FOREIGN),  # another cache's entry
        (info(1, location=f"s3://b/c/{CACHE_UUID}/1348677/4795326/{ENTRY_UUID}/"), 2, Rules(), "1348677",
         Reason.STALE_VERSION),  # a trailing slash on s3uri names the same directory
        (info(1, location=f"s3://b/c/{CACHE_UUID}/1348678/4795326/{ENTRY_UUID}"), 2, Rules(), "1348677",
         Reason.FOREIGN),  # s3uri names another directory: copied or forged here
        (info(1, location=f"s3://other/c/{CACHE_UUID}/1348677/4795326/{ENTRY_UUID}"), 2, Rules(), "1348677",
         Reason.FOREIGN),  # s3uri names another bucket
        (info(1, run="r1"), 2, Rules(), "r1", Reason.FOREIGN),  # a run id that is not numeric: not the guide's layout
        (ManifestInfo(ManifestState.INVALID), 2, Rules(), "1348677", Reason.FOREIGN),
        (ManifestInfo(ManifestState.VANISHED), 2, Rules(), "1348677", Reason.VANISHED),
        (ManifestInfo(ManifestState.READ_FAILED), 2, Rules(), "1348677", Reason.UNREADABLE),
        (None, 2, Rules(), "1348677", Reason.ORPHAN),
        (info(2), 2, Rules(max_age_days=7), "1348677", Reason.EXPIRED),
        (info(2), 2, Rules(max_age_days=30), "1348677", Reason.CURRENT),
    ],
)
def test_decisions(manifest: ManifestInfo | None, floor: int, rules: Rules, run: str, expected: Reason) -> None:
    decision = decide(
        entry(run, age_days=10), manifest, cache_id="42", bucket="b", floor=floor, rules=rules, now=NOW,
        active_runs={"1003"},
    )
    assert decision.reason is expected


def test_a_rescan_acts_only_on_entries_that_became_stale_since() -> None:
    def rescan(manifest: ManifestInfo | None) -> Reason:
        return decide(
            entry("1001"), manifest, cache_id="42", bucket="b", floor=3, rules=Rules(), now=NOW, active_runs=(),
            previous_floor=2,
        ).reason

    assert rescan(info(2, run="1001")) is Reason.STALE_VERSION
    assert rescan(info(1, run="1001")) is Reason.ALREADY_DECIDED  # judged (and deleted) under floor 2 already
    assert rescan(info(3, run="1001")) is Reason.ALREADY_DECIDED
    assert rescan(None) is Reason.ALREADY_DECIDED
    assert rescan(info(2, "7", run="1001")) is Reason.ALREADY_DECIDED


def test_floor_rises_only_with_this_caches_believable_versions() -> None:
    mine = entry("1001")
    assert initial_floor(Rules(min_version=3), recorded_max=2) == 3
    assert initial_floor(Rules(), recorded_max=None) == 0
    assert floor_after(1, mine, info(2, run="1001"), "42", "b", ceiling=3) == 2
    assert floor_after(1, mine, info(5, "7", run="1001"), "42", "b", ceiling=9) == 1
    assert floor_after(2, mine, info(1, run="1001"), "42", "b", ceiling=3) == 2
    assert floor_after(2, mine, ManifestInfo(ManifestState.INVALID), "42", "b", ceiling=3) == 2
    assert floor_after(2, entry("r1"), info(3, run="r1"), "42", "b", ceiling=3) == 2  # not the guide's layout
    assert floor_after(2, mine, info(10**9, run="1001"), "42", "b", ceiling=3) == 2  # a jump: held
    # A believable step whose s3uri is not where the manifest lies (forged or copied): not believed
    assert floor_after(2, mine, info(3, run="1002"), "42", "b", ceiling=3) == 2


def test_the_ceiling_is_one_version_over_the_recorded_floor_unless_the_operator_confirms_more() -> None:
    assert version_ceiling(Rules(), recorded_max=None) == 2  # the service's first version, plus one
    assert version_ceiling(Rules(), recorded_max=4) == 5
    assert version_ceiling(Rules(min_version=10**9), recorded_max=4) == 10**9


def test_delete_retries_throttled_keys_and_reports_refused_ones() -> None:
    s3 = FakeS3()
    s3.create_bucket("b")
    for key in ("a", "b", "c", "d"):
        s3.put("b", key, b"x", 1, NOW)
    s3.delete_faults = {"a": ("SlowDown", 2), "b": ("AccessDenied", -1), "c": ("InternalError", -1)}
    sleeps: list[float] = []
    outcome = S3Store(s3, sleep=sleeps.append, max_delete_attempts=4).delete("b", ["a", "b", "c", "d"])
    assert sorted(outcome.deleted) == ["a", "d"]  # FakeS3 is not versioned: no delete markers
    assert outcome.failed == {"b": "AccessDenied", "c": "RetriesExhausted"}
    assert s3.calls["DeleteObjects"] == 4 and len(sleeps) == 3
    # exponential backoff with jitter: attempt n waits 0.2 * 2**(n-1) * [0.5, 1.5)
    assert all(0.1 * 2**n <= wait < 0.3 * 2**n for n, wait in enumerate(sleeps))
    with pytest.raises(ValueError, match="at most 1000"):
        S3Store(s3).delete("b", [str(i) for i in range(1001)])


def test_a_work_item_queued_before_ceilings_existed_gets_the_ceiling_of_its_recorded_floor() -> None:
    """In-flight messages of the previous release have no `ceiling`: they must not fail into the DLQ."""
    from pruner.config import WorkItem, ceiling_from

    # Given a message of the previous release (no ceiling), floor 2, no configured minimum
    old = {
        "cache_id": "42", "pass_id": "p", "pass_sk": "PRUNE#t#p", "item_id": "00000", "bucket": "b",
        "cache_prefix": "c/", "floor": 2, "mode": "enforce", "rules": {}, "started_at": "2026-01-01T00:00:00.000000Z",
    }
    # Then it parses, with the ceiling a pass of this release computes from that floor
    assert WorkItem.model_validate(old).ceiling == version_ceiling(Rules(), recorded_max=2) == 3
    assert WorkItem.model_validate({**old, "floor": 0}).ceiling == 2  # nothing recorded yet
    assert WorkItem.model_validate({**old, "rules": {"min_version": 9}}).ceiling == 9
    assert WorkItem.model_validate({**old, "ceiling": 5}).ceiling == 5  # a message of this release
    # And a pass record without a ceiling (a catch-up round) derives it the same way
    assert ceiling_from({}, 2) == 3 and ceiling_from(None, 0) == 2


def test_a_sheet_can_never_send_outputs_into_the_prune_reports() -> None:
    """A restore trusts the pass's report parts: a run writing there could plant undo records."""
    from launcher.policy import PRUNE_REPORTS_PREFIX, SheetPolicy  # the stack's REPORT_PREFIX is this constant

    # Given the default allow-list: the whole outputs bucket
    policy = SheetPolicy(output_prefixes=(("outputs", ""),))
    # Then outputs anywhere in it are allowed, except under the pruner's reports prefix
    assert PRUNE_REPORTS_PREFIX == "prune-reports/"
    assert policy.output_problem("s3://outputs/runs/") is None
    assert "prune-reports" in (policy.output_problem("s3://outputs/prune-reports/0123456/") or "")
    assert policy.output_problem("s3://outputs/prune-reports") is not None
