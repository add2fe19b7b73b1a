"""A worker's deadline inside a window of deletions (reviewer 3, session 11; fixed in session 12).

A worker polled `should_stop` (90 s before the Lambda timeout) only between windows of 256 entries, and sent
every DeleteObjects of a window, and of the drain after a stop, regardless of the time left. Under S3
throttling (a bulk delete is exactly what draws SlowDown) a window outlived the invocation: Lambda killed the
process, the `finally: parts.upload()` in Pruner._work never ran, and the undo records of every deletion since
the last checkpoint (up to 40 windows) were lost -- `autopilot cache restore` could not bring those objects
back. Now no DeleteObjects (nor a retry of one) is sent once `should_stop` says stop; the scan returns the
state at its latest boundary before which everything is settled, and the next invocation judges the rest of
the window again."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime

import pytest

from pruner.rules import Rules
from pruner.s3_store import S3Store
from pruner.scan import RangeScanner, ReportWriter, ScanScope, ScanState
from tests.pruner_synthetic import FakeS3, make_cache
from tests.unit.test_pruner_properties import decision_sums, kept_lines, load, manifest_rows, scanner

BUCKET = "cache-bucket"
NOW = datetime(2026, 6, 1, tzinfo=UTC)

class ThrottledS3(FakeS3):
    """Each DeleteObjects takes `seconds` of the invocation (SlowDown retries with backoff)."""

    def __init__(self, clock: list[float], seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds, self.deletes_after_deadline = clock, seconds, 0
        self.deletes_after_stop = 0  # sent with less than the worker's margin (90 s) left

    def delete_objects(self, Bucket, Delete):  # type: ignore[no-untyped-def]
        if 900 - self.clock[0] < 90:
            self.deletes_after_stop += 1
        if self.clock[0] >= 900:  # the Lambda timeout (15 min) has passed: the process would be gone
            self.deletes_after_deadline += 1
        self.clock[0] += self.seconds
        return super().delete_objects(Bucket=Bucket, Delete=Delete)


def test_no_delete_is_sent_after_the_invocation_deadline() -> None:
    cache = make_cache(random.Random(7), runs=64, tasks_per_run=4, kinds={"stale": 1, "current": 0},
                       versions=(1, 2), objects_per_entry=8)
    # a floor of 2 makes every v1 entry stale; add the one current entry needed to be sure of it
    clock = [800.0]  # 100 s left: more than the 90 s margin, so the window starts
    s3 = ThrottledS3(clock, seconds=40.0)
    s3.create_bucket(BUCKET)
    rows: list = []
    cache.write(lambda key, body, size, when: rows.append((key, body, size, when)))
    s3.bulk_load(BUCKET, rows)
    scanner = RangeScanner(
        S3Store(s3, max_workers=1, sleep=lambda _: None),
        ScanScope(BUCKET, cache.cache_prefix, cache.cache_id, ceiling=3),
        rules=Rules(), enforce=True, now=NOW, active_runs=(), report=ReportWriter(io.BytesIO(), True),
        should_stop=lambda: 900 - clock[0] < 90,  # pruner.handler.SAFETY_SECONDS
    )
    scanner.run(ScanState(floor=2))
    assert s3.deletes_after_deadline == 0, (
        f"{s3.deletes_after_deadline} DeleteObjects sent after the 15-minute timeout "
        f"(clock reached {clock[0]:.0f} s of 900)")


def throttled_scan(s3: ThrottledS3, cache, clock: list[float], report: io.BytesIO) -> RangeScanner:  # type: ignore[no-untyped-def]
    return RangeScanner(
        S3Store(s3, max_workers=1, sleep=lambda _: None),
        ScanScope(BUCKET, cache.cache_prefix, cache.cache_id, ceiling=3),
        rules=Rules(), enforce=True, now=NOW, active_runs=(), report=ReportWriter(report, True),
        should_stop=lambda: 900 - clock[0] < 90,
    )


def report_lines(*reports: io.BytesIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for report in reports for line in report.getvalue().splitlines()]


def test_a_window_cut_by_the_deadline_is_resumed_by_the_next_invocation_with_true_counts_and_undo_records() -> None:
    # Given a window of stale entries whose deletions outlast the invocation (each DeleteObjects takes 40 s)
    cache = make_cache(random.Random(7), runs=64, tasks_per_run=4, kinds={"stale": 1, "current": 0},
                       versions=(1, 2), objects_per_entry=8)
    rows: list = []
    cache.write(lambda key, body, size, when: rows.append((key, body, size, when)))
    written = {row[0] for row in rows}
    clock = [800.0]
    s3 = ThrottledS3(clock, seconds=40.0)
    s3.create_bucket(BUCKET)
    s3.bulk_load(BUCKET, rows)
    # And the same cache scanned by one invocation with time enough (the reference)
    reference_s3 = ThrottledS3([0.0], seconds=0.0)
    reference_s3.create_bucket(BUCKET)
    reference_s3.bulk_load(BUCKET, rows)
    whole = throttled_scan(reference_s3, cache, [0.0], io.BytesIO()).run(ScanState(floor=2))
    # When the first invocation is cut by its deadline
    first_report = io.BytesIO()
    first = throttled_scan(s3, cache, clock, first_report).run(ScanState(floor=2))
    # Then it sent no DeleteObjects once told to stop, does not claim the window done, and every key it
    # deleted has its undo record
    assert s3.deletes_after_stop == 0
    assert first.phase != "done"
    deleted_first = written - s3.keys(BUCKET)
    assert deleted_first, "the first DeleteObjects (sent with 100 s left) deleted something"
    assert {line["key"] for line in report_lines(first_report) if line["action"] == "deleted"} == deleted_first
    # When the next invocation resumes from its checkpoint with time enough
    second_report = io.BytesIO()
    second = throttled_scan(s3, cache, [0.0], second_report).run(first)
    # Then the cache is left as one uninterrupted scan leaves it, with the same counts
    assert second.phase == "done"
    assert s3.keys(BUCKET) == reference_s3.keys(BUCKET) == set()
    assert second.counts == whole.counts
    # And each deletion is reported once, each judgement once
    lines = report_lines(first_report, second_report)
    deleted = [line["key"] for line in lines if line["action"] == "deleted"]
    assert sorted(deleted) == sorted(written)
    assert sum(line["entries"] for line in lines if line["action"] == "delete") == whole.counts.stale == 256


@pytest.mark.parametrize("inventory", [False, True], ids=["listed", "inventory"])
def test_entries_deleted_whole_after_the_boundary_a_stopped_scan_resumes_from_are_counted_once(inventory: bool) -> None:
    # Given four stale entries of two data objects, windows of two entries, DeleteObjects of two keys, and
    # invocations told to stop after their first DeleteObjects. The second invocation judges again an entry
    # the first one stopped inside (its manifest left): that manifest goes first, so the entry is deleted
    # whole while an earlier one in the window still waits; a static listing (inventory) names it again.
    cache = make_cache(random.Random(3), runs=2, tasks_per_run=2, kinds={"stale": 1}, versions=(1, 2),
                       objects_per_entry=2)
    reference = load(cache)
    listing = manifest_rows(reference, cache) if inventory else None
    whole_report = io.BytesIO()
    whole = scanner(reference, cache, 2, delete_batch=2, listing=listing, report=whole_report).run(ScanState(floor=2))
    s3 = load(cache)
    state, reports = ScanState(floor=2), []
    # When each invocation is stopped after its first DeleteObjects
    while state.phase != "done":
        sent = s3.calls["DeleteObjects"]
        reports.append(io.BytesIO())
        state = scanner(s3, cache, 2, lambda sent=sent: s3.calls["DeleteObjects"] > sent, delete_batch=2,
                        listing=listing, report=reports[-1]).run(state)
        assert len(reports) < 20
    # Then the result, the counts and the report are one uninterrupted scan's
    assert s3.keys(BUCKET) == reference.keys(BUCKET)
    assert state.counts == whole.counts and state.counts.entries_deleted == 4
    lines = report_lines(*reports)
    assert decision_sums(lines) == decision_sums(report_lines(whole_report))
    assert kept_lines(lines) == kept_lines(report_lines(whole_report)) == {}
