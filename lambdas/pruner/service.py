"""Prune passes: plan (per cache: lease, floor, key ranges by run prefix), work (scan one range,
resumably), finish (catch-up round when the floor rose, audit record, report, metrics, release).

A pass over a cache:
  start()  lease `prune:<cacheId>` (owned by the pass) → floor = max(configured minimum, highest
           version recorded by earlier passes) → ranges of `runs_per_item` run prefixes → items recorded,
           then the pass record, then items sent. A retry of a scheduled pass (same tick) or of an on-demand
           one (same requestId) whose items were not all sent continues that pass (same record key, from
           its claim) and sends its recorded items again.
  work()   per item: item lease, checkpoint in the item record, RangeScanner, continuation message
           when the Lambda's time runs low; on completion the item's counts are added to the pass
           record exactly once (transaction) and the highest version seen is recorded.
  finish() when every item is done: if some range was judged under a floor below the highest
           version any range saw, a catch-up round re-scans those ranges (only entries that became
           stale are touched); else the pass record is closed, the report summary written, metrics
           emitted and the lease released. A round's finish is done once (its claim's outcome); when it
           fails (e.g. its catch-up items not all queued), the redelivered message of the item that
           ended the round finishes it.
  settle   a pass that cannot finish (an item's message dead-lettered) is settled INCOMPLETE by the next
           pass that takes the cache, or by the operator (pruner/settle.py); its late messages touch nothing.

Incremental passes: when the last enforce pass over the cache completed cleanly at the same floor, under
the same rules, the next pass re-reads only manifests modified since it started (less a margin, and
back to the oldest entry it kept for a transient reason); see scan.py. A rise of the floor, a change of
rules, an unclean last pass or `{"full": true}` makes a full pass. Incremental ranges hold
INCREMENTAL_RANGE_FACTOR times the runs (their work is mostly LIST pages).

S3 Inventory (`pruneInventories`, pruner/inventory.py): for a cache too large to list within a pass, the
planner takes the latest usable report and queues one item per data file instead of key ranges; the
report names candidates only, each verified against S3 before it is deleted. The pass records the
report's creation as `listed_at`, the time the next incremental pass reads from.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from pruner.config import (
    ALL_CACHES,
    FLOOR_JUMP_METRIC,
    NONE_OF_THIS_CACHE_METRIC,
    PLAN_LEASE_SECONDS,
    REFUSED_METRIC,
    InventoryFile,
    Mode,
    PrunerConfig,
    PruneRequest,
    WorkItem,
    ceiling_from,
)
from pruner.entries import Entry
from pruner.rules import initial_floor, version_ceiling
from pruner.s3_store import S3Store
from pruner.scan import WINDOW, Counts, RangeScanner, ReportWriter, ScanScope, ScanState, lowest_kept
from shared.clock import utc_now
from shared.errors import RetryableError
from shared.observability import NAMESPACE, log_error, logger
from shared.omics import paginate
from shared.provenance import keys
from shared.provenance.caches_and_prunes import PrunePassFinal
from shared.provenance.repository import ProvenanceRepository
from shared.status import RUN_TERMINAL, RunStatus, iso_time

if TYPE_CHECKING:
    from pruner.inventory import InventoryReport

FAR_FUTURE = "9999-12-31T23:59:59.999999Z"
# A manifest listed by the previous pass was written well before it started; the margin covers clock
# skew between S3's LastModified and the pass's clock, and a write in flight when the listing passed.
INCREMENTAL_MARGIN = timedelta(hours=1)
# An incremental pass reads the manifests of new entries only (about 1 % a day), so its work items hold this
# many times the runs of a full pass's: fewer partial LIST pages and DeleteObjects tails (each item sends its
# own last batch of manifests), while an item still fits a few minutes of one worker.
INCREMENTAL_RANGE_FACTOR = 10


@dataclass(frozen=True)
class CacheTarget:
    cache_id: str
    s3_uri: str


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ("bucket", "a/b/"); the bucket root -> ("bucket", "")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    key = key.strip("/")
    return bucket, f"{key}/" if key else ""


def cache_lease(cache_id: str) -> str:
    """One pass of a cache at a time: held by the pass (its id the owner) while it may delete."""
    return f"prune:{cache_id}"


def item_lease(pass_id: str, round_number: int, item_id: str) -> str:
    """One worker invocation of a work item at a time (settle.py takes it too)."""
    return f"prune-item:{pass_id}:r{round_number}:{item_id}"


def finish_lease(pass_id: str, round_number: int) -> str:
    """One finish of a round at a time (settle.py takes it too)."""
    return f"prune-finish:{pass_id}:r{round_number:02d}"


def pass_id_of(cache_id: str, mode: Mode, scheduled_time: str | None, request_id: str | None) -> str:
    """A scheduled pass's id derives from its schedule tick, an on-demand one's from its request (and mode: the
    same token in another mode is another request); so an invocation retried continues its pass."""
    if scheduled_time:
        return hashlib.sha256(f"{cache_id}#{scheduled_time}".encode()).hexdigest()[:16]
    if request_id:
        return hashlib.sha256(f"{cache_id}#request#{mode}#{request_id}".encode()).hexdigest()[:16]
    return uuid.uuid4().hex[:16]


def _started_before(result: dict[str, Any]) -> dict[str, Any]:
    """The answer for a pass an earlier invocation started: a duplicate schedule tick is skipped; the same
    on-demand request sent again is answered with its pass (what the CLI shows), starting nothing."""
    if "requestId" in result:
        return {**result, "status": "STARTED", "repeated": True}
    return {**result, "status": "SKIPPED", "reason": "this scheduled pass was already started"}


def _answer_recorded(result: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The answer for a tick or request whose pass is recorded and final: it starts nothing."""
    if record.get("status") == "REFUSED":
        return {**result, "status": "REFUSED", "repeated": True,
                "reason": f"{record.get('reason')} (when first sent: a new request is needed to try again)"}
    if "requestId" in result and record.get("status") in UNFINISHED_STATUSES:
        # Its pass ended without finishing its work (settled, or its items aborted): "STARTED" would read as if it
        # were running now. What it did not judge needs another pass, so another request.
        return {**result, "status": "SPENT", "passStatus": record.get("status"),
                "reason": f"this request's pass ended {record.get('status')} without finishing (nothing was "
                          "started): send a new request (cache prune without --request-id)"}
    return _started_before(result)


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# Final statuses of a pass that ended before it judged the whole cache.
UNFINISHED_STATUSES = frozenset({"INCOMPLETE", "ABORTED"})

REPORT_PART = re.compile(r"r[0-9]{2}-[0-9]{5}-[0-9]{4}(-[0-9a-f]{12}-[0-9]{4})?\.jsonl")


def report_part_name(round_number: int, item_id: str, sequence: int, tag: str, part: int) -> str:
    """`r<round>-<item>-<invocation>-<tag>-<part>.jsonl` (matches REPORT_PART; restore reads only these).
    `tag` is random per invocation: a retried invocation (same sequence) never overwrites a part."""
    return f"r{round_number:02d}-{item_id}-{sequence:04d}-{tag}-{part:04d}.jsonl"


class ReportParts:
    """Uploads a work item's report lines as numbered parts: at each checkpoint and when the invocation
    ends, normally or not."""

    def __init__(self, pruner: Pruner, item: WorkItem, sequence: int, sink: IO[bytes], report: ReportWriter) -> None:
        self.pruner, self.item, self.sequence = pruner, item, sequence
        self.sink, self.report = sink, report
        self.tag = uuid.uuid4().hex[:12]
        self.part = 0

    def upload(self) -> None:
        self.report.flush()
        if not self.sink.tell():
            return
        name = report_part_name(self.item.round, self.item.item_id, self.sequence, self.tag, self.part)
        self.sink.seek(0)
        self.pruner._put_report(self.item.cache_id, self.item.pass_id, name, self.sink, "application/x-ndjson")
        self.sink.seek(0)
        self.sink.truncate()
        self.part += 1


class Pruner:
    def __init__(
        self,
        repository: ProvenanceRepository,
        store: S3Store,
        omics: Callable[[], Any],
        config: PrunerConfig,
        send: Callable[[list[WorkItem]], None],
        report_store: S3Store | None = None,
        clock: Callable[[], datetime] = utc_now,
        scan_window: int = WINDOW,
        checkpoint_every: int = 40,
    ) -> None:
        self.repository = repository
        self.store = store
        self.report_store = report_store or store
        self._omics = omics
        self._omics_client: Any = None
        self.config = config
        self.send = send
        self.clock = clock
        self.scan_window = scan_window
        self.checkpoint_every = checkpoint_every

    @property
    def omics(self) -> Any:
        if self._omics_client is None:
            self._omics_client = self._omics()
        return self._omics_client

    # ================================================================== start
    def targets(self, cache_ids: list[str]) -> Iterator[CacheTarget | dict[str, Any]]:
        """Caches to prune: every ACTIVE one (ListRunCaches) or the listed ids (GetRunCache)."""
        if ALL_CACHES in cache_ids:
            for cache in paginate(self.omics, "list_run_caches", "items"):
                if cache.get("status", "ACTIVE") == "ACTIVE" and cache.get("cacheS3Uri"):
                    yield CacheTarget(cache["id"], cache["cacheS3Uri"])
            return
        for cache_id in cache_ids:
            try:
                cache = self.omics.get_run_cache(id=cache_id)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                yield {"cacheId": cache_id, "status": "SKIPPED", "reason": f"GetRunCache: {code}"}
                continue
            yield CacheTarget(cache_id, cache["cacheS3Uri"])

    def unversioned_refusal(self, target: CacheTarget, mode: Mode) -> str | None:
        """Why an enforce pass may not run on this cache's bucket, if it may not: deletions are only
        undoable (`autopilot cache restore`) on a versioned bucket, so an unversioned one needs the
        operator's explicit consent (pruneAllowUnversionedBuckets)."""
        if mode != "enforce":
            return None
        bucket, _ = split_s3_uri(target.s3_uri)
        if bucket in self.config.allow_unversioned_buckets:
            return None
        status = self.store.versioning(bucket)
        if status == "Enabled":
            return None
        return f"bucket versioning is {status}: deletions could not be undone (see pruneAllowUnversionedBuckets)"

    def handle(self, request: PruneRequest) -> dict[str, Any]:
        """The entry function's answer: {"passes": [...]} for a prune, {"settle": {...}} for a settle."""
        if request.action == "settle":
            if not request.passId or not request.cacheIds or len(request.cacheIds) != 1:
                raise ValueError("a settle names one cache (cacheIds) and one pass (passId)")
            return {"settle": self.settle(request.cacheIds[0], request.passId)}
        return {"passes": self.start(request)}

    def settle(self, cache_id: str, pass_id: str) -> dict[str, Any]:
        """The operator's settle of a pass (settle.py), by this function's clock, the one its workers lease by.
        Answers SETTLED (with the record), BUSY, NOT_RUNNING or NOT_FOUND, with the reason."""
        from pruner.restore import PassNotFound
        from pruner.settle import PassBusy, SettleError, settle_pass

        answer: dict[str, Any] = {"cacheId": cache_id, "passId": pass_id}
        try:
            record = settle_pass(self.repository, self.report_store.client, cache_id, pass_id, now=self.clock(),
                                 settled_by="operator")
        except PassNotFound as error:
            return {**answer, "status": "NOT_FOUND", "reason": str(error)}
        except PassBusy as error:
            return {**answer, "status": "BUSY", "reason": str(error)}
        except SettleError as error:
            return {**answer, "status": "NOT_RUNNING", "reason": str(error)}
        logger.warning("prune pass settled by the operator", extra={
            "cache_id": cache_id, "pass_id": pass_id, "items_unfinished": record["items_unfinished"]})
        return {**answer, "status": "SETTLED", "pass": record}

    def start(self, request: PruneRequest) -> list[dict[str, Any]]:
        mode = request.mode or self.config.default_mode
        cache_ids = request.cacheIds or self.config.cache_ids
        if not cache_ids:
            raise ValueError("no run cache to prune: set PRUNE_CACHE_IDS or RUN_CACHE_ID, or pass cacheIds")
        results, failures = [], []
        for target in self.targets(cache_ids):
            if isinstance(target, dict):
                results.append(target)
                continue
            try:
                results.append(self.start_pass(target, mode, request.scheduledTime, full=request.full,
                                               request_id=request.requestId))
            except Exception as error:  # one cache's failure must not stop the others
                log_error("error", "prune pass could not start", error, {"cache_id": target.cache_id})
                failures.append(f"{target.cache_id}: {error}")
        if failures:
            # Fail the invocation so the scheduler retries; caches already started skip by their claims.
            raise RuntimeError(f"prune passes could not start for {len(failures)} cache(s): {'; '.join(failures)}")
        return results

    def start_pass(
        self, target: CacheTarget, mode: Mode, scheduled_time: str | None = None, *, full: bool = False,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        started_at = iso_time(now)
        pass_id = pass_id_of(target.cache_id, mode, scheduled_time, request_id)
        result: dict[str, Any] = {"cacheId": target.cache_id, "passId": pass_id, "mode": mode}
        if request_id and not scheduled_time:
            result["requestId"] = request_id
        # A derived pass id names one pass record for ever, while its claim expires after 7 days: a tick or
        # request sent again answers from that record (a second record under the id would never close, and a
        # restore of the id would undo both).
        earlier = self.repository.prune_pass(target.cache_id, pass_id) if scheduled_time or request_id else None
        if earlier is not None and earlier.get("status") != "RUNNING":
            return _answer_recorded(result, earlier)
        if earlier is not None:  # not final: continued under its first key, whether or not its claim is still there
            started_at = str(earlier["started_at"])
        refusal = self.unversioned_refusal(target, mode)
        if refusal:
            # Recorded (autopilot cache report shows it) and alarmed: a refused pass must not look like a
            # pass that found nothing to do.
            logger.warning("prune pass refused", extra={"cache_id": target.cache_id, "reason": refusal})
            if earlier is not None:  # the id's record is that RUNNING pass's: left to be settled, not overwritten
                alarm_metric(REFUSED_METRIC)
                return {**result, "status": "REFUSED", "reason": refusal}
            self.repository.put_record(
                {
                    keys.PK: keys.cache_pk(target.cache_id),
                    keys.SK: ProvenanceRepository.prune_pass_sk(started_at, pass_id),
                    "entity": "PRUNE_PASS",
                    "cache_id": target.cache_id,
                    "pass_id": pass_id,
                    "mode": mode,
                    "status": "REFUSED",
                    "reason": refusal,
                    "started_at": started_at,
                    "finished_at": started_at,
                    "cache_s3_uri": target.s3_uri,
                }
            )
            alarm_metric(REFUSED_METRIC)
            return {**result, "status": "REFUSED", "reason": refusal}
        pk, claim_sk = keys.cache_pk(target.cache_id), f"PRUNECLAIM#{pass_id}"
        if not self.repository.claim(
            pk, claim_sk, {"entity": "PRUNE_CLAIM", "claimed_at": started_at},
            expires_at=int(now.timestamp()) + 7 * 86_400,
        ):
            claim = self.repository.get_item(pk, claim_sk) or {}
            if claim.get("outcome") == "SKIPPED" and "requestId" in result:
                return {**result, "status": "SKIPPED",
                        "reason": "another prune of this cache held its lease when this request was first sent"}
            if claim.get("outcome") or "claimed_at" not in claim:
                return _started_before(result)
            # A retry of a pass whose items were not all queued (a scheduled invocation retried by Lambda, an
            # on-demand request sent again): the same pass, under its first key (a new started_at would start
            # another pass and leave this one, and the items it queued, unfinished).
            started_at = str(claim["claimed_at"])
        # One planner at a time per pass (duplicate invocations of one schedule tick may overlap); a planner
        # that died holding it is outlived after its timeout.
        planner, plan_lease = uuid.uuid4().hex, f"prune-plan:{target.cache_id}:{pass_id}"
        if not self.repository.acquire_lease(plan_lease, planner, int(now.timestamp()), PLAN_LEASE_SECONDS):
            raise RetryableError(f"prune pass {pass_id} of cache {target.cache_id} is being planned elsewhere")
        try:
            return self._start_claimed(target, mode, pass_id, started_at, result, full)
        finally:
            self.repository.release_lease(plan_lease, planner)

    def _start_claimed(
        self, target: CacheTarget, mode: Mode, pass_id: str, started_at: str, result: dict[str, Any], full: bool
    ) -> dict[str, Any]:
        pk, claim_sk = keys.cache_pk(target.cache_id), f"PRUNECLAIM#{pass_id}"
        pass_sk = ProvenanceRepository.prune_pass_sk(started_at, pass_id)
        recorded = self.repository.get_item(pk, pass_sk)
        if recorded is not None and recorded.get("status") != "RUNNING":
            self.repository.complete_claim(pk, claim_sk, {"outcome": "FINISHED"})
            return _answer_recorded(result, recorded)
        if not self.repository.acquire_lease(
            cache_lease(target.cache_id), pass_id, int(self.clock().timestamp()), self.config.lease_seconds
        ):
            if recorded is None:  # nothing of this pass exists: a later duplicate must not start it
                self.repository.complete_claim(pk, claim_sk, {"outcome": "SKIPPED"})
            return {**result, "status": "SKIPPED", "reason": "another prune of this cache holds its lease"}
        try:
            # Under the try: a failure here (the history read throttled) must release the lease like any other.
            self._settle_abandoned(target.cache_id, pass_id)
            if recorded is not None:
                started = self._queue_again(target, recorded, result)
            else:
                started = self._plan_and_queue(target, mode, pass_id, started_at, result, full)
        except Exception:
            # The claim stays: a retry continues this pass. The lease stays once the pass is recorded: items
            # of it may be queued, and work only under it.
            if not self._pass_recorded(pk, pass_sk):
                self.repository.release_lease(cache_lease(target.cache_id), pass_id)
            raise
        self.repository.complete_claim(pk, claim_sk, {"outcome": "STARTED", "queued_at": iso_time(self.clock())})
        return started

    def _settle_abandoned(self, cache_id: str, own_pass_id: str) -> None:
        """Settle the passes of this cache still RUNNING although this pass holds the cache's lease: theirs
        expired (no worker of theirs started for `lease_seconds`), so an item of theirs never finished, its
        message dead-lettered. A pass that cannot be settled now (a worker of it is running) is left for later:
        it must not stop this pass."""
        from pruner.settle import settle_pass  # settle.py builds on this module

        for record in self.repository.prune_history(cache_id):
            if record.get("status") != "RUNNING" or record.get("pass_id") == own_pass_id:
                continue
            try:
                settled = settle_pass(self.repository, self.report_store.client, cache_id, record["pass_id"],
                                      now=self.clock(), settled_by="next pass")
            except Exception as error:
                log_error("warning", "abandoned prune pass not settled", error,
                          {"cache_id": cache_id, "pass_id": record["pass_id"]})
                continue
            logger.warning("abandoned prune pass settled", extra={
                "cache_id": cache_id, "pass_id": record["pass_id"], "status": settled["status"],
                "items_unfinished": settled["items_unfinished"]})

    def _pass_recorded(self, pk: str, pass_sk: str) -> bool:
        try:
            return self.repository.get_item(pk, pass_sk) is not None
        except Exception:  # unknown: as if recorded (the lease expires on its own)
            return True

    def _queue_again(self, target: CacheTarget, record: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """Send the recorded items of a pass not yet done, as first planned: some were sent already, and a
        second message of an item finds it leased or done (Pruner.work), so it is neither lost nor counted
        twice, and items_total stays the plan's."""
        items = self._recorded_items(record, int(record.get("round", 1)))
        self.send(items)
        logger.info(
            "prune pass items queued again",
            extra={**result, "items": len(items), "items_total": int(record.get("items_total", 0))},
        )
        return {
            **result,
            "status": "STARTED",
            "resumed": True,
            "items": len(items),
            "floor": int(record.get("initial_floor", 0)),
            "incrementalSince": record.get("incremental_since"),
            "listing": record.get("listing", "list"),
            "reportUri": record.get("report_uri"),
        }

    def _recorded_items(self, record: dict[str, Any], round_number: int) -> list[WorkItem]:
        """The work items of one round of a pass as recorded (item records + pass record), those not done."""
        return [
            _round_item(
                record, round_number, i, floor=int(i["floor"]),
                previous_floor=int(i["previous_floor"]) if i.get("previous_floor") is not None else None,
                # A catch-up round reads every manifest (as _catch_up sends it)
                unchanged_before=record.get("incremental_since") if round_number == 1 else None,
            )
            for i in self.repository.prune_items(record["cache_id"], record["pass_id"], round_number)
            if not i.get("done")
        ]

    def _plan_and_queue(
        self, target: CacheTarget, mode: Mode, pass_id: str, started_at: str, result: dict[str, Any], full: bool
    ) -> dict[str, Any]:
        bucket, prefix = split_s3_uri(target.s3_uri)
        recorded = self.repository.cache_version(target.cache_id)
        floor = initial_floor(self.config.rules.rules(), recorded)
        ceiling = version_ceiling(self.config.rules.rules(), recorded)
        since = None if full else self.incremental_since(target, floor)
        report, listing = self.inventory_report(target, bucket)
        ranges: list[tuple[str | None, str | None, InventoryFile | None]] = (
            [(None, None, file) for file in report.files]
            if report is not None
            else [
                (start, end, None)
                for start, end in self.plan_ranges(
                    bucket, prefix, self.config.runs_per_item * (INCREMENTAL_RANGE_FACTOR if since else 1)
                )
            ]
        )
        pass_sk = ProvenanceRepository.prune_pass_sk(started_at, pass_id)
        items = [
            WorkItem(
                cache_id=target.cache_id,
                pass_id=pass_id,
                pass_sk=pass_sk,
                round=1,
                item_id=f"{i:05d}",
                bucket=bucket,
                cache_prefix=prefix,
                start=start,
                end=end,
                floor=floor,
                ceiling=ceiling,
                unchanged_before=since,
                inventory=file,
                mode=mode,
                rules=self.config.rules,
                started_at=started_at,
            )
            for i, (start, end, file) in enumerate(ranges)
        ]
        report_uri = self._report_uri(target.cache_id, pass_id, "summary.json")
        # Items first, the pass record next, then the messages: a recorded pass has every item recorded, so a
        # retry sends the plan as recorded; nothing was sent of a pass not recorded, so a retry plans it anew.
        self._put_items(items)
        planned = {i.item_id for i in items}
        for stale in self.repository.prune_items(target.cache_id, pass_id, 1):  # an earlier attempt's plan
            if stale["item_id"] not in planned:
                self.repository.delete_item(keys.cache_pk(target.cache_id), stale["sk"])
        self.repository.put_record(
            {
                keys.PK: keys.cache_pk(target.cache_id),
                keys.SK: pass_sk,
                "entity": "PRUNE_PASS",
                "cache_id": target.cache_id,
                "pass_id": pass_id,
                "mode": mode,
                "status": "RUNNING",
                "started_at": started_at,
                "cache_s3_uri": target.s3_uri,
                "initial_floor": floor,
                "ceiling": ceiling,
                "incremental_since": since,
                # What the pass saw: entries listed (or in the inventory report) as of this time; the next
                # incremental pass re-reads whatever was modified since.
                "listed_at": iso_time(report.created) if report is not None else started_at,
                **listing,
                "rules": self.config.rules.model_dump(exclude_none=True),
                "round": 1,
                "items_total": len(items),
                "items_done": 0,
                **Counts().model_dump(),
                "report_uri": report_uri,
            }
        )
        self.send(items)
        logger.info(
            "prune pass started",
            extra={**result, "items": len(items), "floor": floor, "incremental": bool(since),
                   **_without_locations(listing)},
        )
        return {
            **result,
            "status": "STARTED",
            "items": len(items),
            "floor": floor,
            "incrementalSince": since,
            "listing": listing["listing"],
            "reportUri": report_uri,
        }

    def inventory_report(self, target: CacheTarget, bucket: str) -> tuple[InventoryReport | None, dict[str, Any]]:
        """The cache's latest usable S3 Inventory report, if one is configured; else the pass lists the bucket."""
        source = self.config.inventories.get(target.cache_id)
        if source is None:
            return None, {"listing": "list"}
        # Imported here, as below: only caches with an inventory configured read one (cold start, issue 13).
        from pruner.inventory import InventoryUnusable, latest_report

        try:
            report = latest_report(self.store, source, bucket, self.clock())
        except InventoryUnusable as error:
            log_error("warning", "prune inventory not used", error, {"cache_id": target.cache_id})
            return None, {"listing": "list", "inventory_unused": str(error)}
        return report, {"listing": "inventory", "inventory_manifest": f"s3://{report.bucket}/{report.manifest_key}"}

    def incremental_since(self, target: CacheTarget, floor: int) -> str | None:
        """The watermark of an incremental pass, or None for a full one (see the module docstring)."""
        history = [p for p in self.repository.prune_history(target.cache_id) if p.get("mode") == "enforce"]
        if not history:
            return None
        last = history[-1]  # RUNNING here means it died (this pass holds the lease): not clean
        clean = (
            last.get("status") == "COMPLETED"
            and last.get("cache_s3_uri") == target.s3_uri
            and int(last.get("final_floor", -1)) == floor
            and last.get("rules", {}) == self.config.rules.model_dump(exclude_none=True)
        )
        if not clean:
            return None
        since = iso_time(_parse_time(last.get("listed_at") or last["started_at"]) - INCREMENTAL_MARGIN)
        revisit = last.get("revisit_since")
        return min(since, revisit) if revisit else since

    def plan_ranges(
        self, bucket: str, prefix: str, runs_per_item: int | None = None
    ) -> list[tuple[str | None, str | None]]:
        """Key ranges of `runs_per_item` consecutive run prefixes ({cacheUuid}/{runId}/), in key order.

        Only every `runs_per_item`-th run prefix is kept (as a boundary), so memory stays bounded.
        The first range starts at the cache prefix and the last one runs to its end.
        """
        per_item = runs_per_item or self.config.runs_per_item
        boundaries: list[str] = []
        count = 0
        for cache_uuid in self.store.list_prefixes(bucket, prefix):
            for run_prefix in self.store.list_prefixes(bucket, cache_uuid):
                if count and count % per_item == 0:
                    boundaries.append(run_prefix)
                count += 1
        starts: list[str | None] = [None, *boundaries]
        ends: list[str | None] = [*boundaries, None]
        return list(zip(starts, ends, strict=True))

    def _put_items(self, items: list[WorkItem]) -> None:
        records = [
            {
                keys.PK: keys.cache_pk(i.cache_id),
                keys.SK: self._item_sk(i),
                "entity": "PRUNE_ITEM",
                "pass_id": i.pass_id,
                "round": i.round,
                "item_id": i.item_id,
                "start": i.start,
                "end": i.end,
                "floor": i.floor,
                "previous_floor": i.previous_floor,
                "inventory": i.inventory.model_dump() if i.inventory else None,
            }
            for i in items
        ]
        failed = self.repository.put_items(records)
        if failed:
            raise RetryableError(f"{len(failed)} prune work items could not be recorded")

    # ================================================================== work
    def work(self, item: WorkItem, should_stop: Callable[[], bool], invocation_id: str) -> str:
        """Scan one range until done or `should_stop()`; returns done | continued | duplicate | aborted | settled."""
        now_epoch = int(self.clock().timestamp())
        lease = item_lease(item.pass_id, item.round, item.item_id)
        if not self.repository.acquire_lease(lease, invocation_id, now_epoch, self.config.item_lease_seconds):
            raise RetryableError(f"work item {lease} is being processed by another invocation")
        try:
            return self._work(item, should_stop, now_epoch)
        finally:
            self.repository.release_lease(lease, invocation_id)

    def _work(self, item: WorkItem, should_stop: Callable[[], bool], now_epoch: int) -> str:
        item_sk = self._item_sk(item)
        record = self.repository.get_item(keys.cache_pk(item.cache_id), item_sk) or {}
        if record.get("done"):
            self._finish_if_due(item)
            return "duplicate"
        pass_record = self.repository.get_item(keys.cache_pk(item.cache_id), item.pass_sk)
        if pass_record is not None and pass_record.get("status") != "RUNNING":
            # Settled while this message waited (a DLQ redrive, a late delivery; settle.py held this item's lease
            # to do it): the pass's counts are final and a restore may be bringing back what it deleted.
            return "settled"
        if not self.repository.acquire_lease(
            cache_lease(item.cache_id), item.pass_id, now_epoch, self.config.lease_seconds
        ):
            # The pass outlived its lease and another pass owns the cache now: touch nothing.
            return self._complete(item, None, {"aborted": "cache lease lost"}, checkpointed_counts(record)) or "aborted"
        # Runs still running; a finished or deleted run whose recording is not finished yet (in the index too)
        # writes no more cache entries.
        active_runs = {i["run_id"] for i in self.repository.active_since_before("RUN", FAR_FUTURE)
                       if "run_id" in i and i.get("outcome") not in RUN_TERMINAL
                       and i.get("status") != RunStatus.DELETED}
        state = (
            ScanState.model_validate(record["checkpoint"])
            if record.get("checkpoint")
            else ScanState(floor=item.floor, previous_floor=item.previous_floor)
        )
        sequence = int(record.get("invocations", 0))
        since = _parse_time(item.unchanged_before) if item.unchanged_before else None
        scope = ScanScope(item.bucket, item.cache_prefix, item.cache_id, item.ceiling, item.start, item.end, since)
        listing, verify = None, None
        if item.inventory is not None:
            # An inventory file names candidates; each one the rules would delete is checked against S3 first.
            from pruner.inventory import InventoryListing, InventoryUnusable, live_entry, manifest_rows

            try:
                rows = manifest_rows(self.store, item.inventory, item.bucket, item.cache_prefix)
            except InventoryUnusable as error:
                # judges nothing more: the pass is ABORTED
                return self._complete(item, None, {"aborted": str(error)}, checkpointed_counts(record)) or "aborted"
            listing = InventoryListing(rows)

            def verify(entry: Entry) -> Entry | None:
                return live_entry(self.store, item.bucket, entry)

        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as sink:
            report = ReportWriter(sink, enforce=item.mode == "enforce")
            parts = ReportParts(self, item, sequence, sink, report)

            def checkpoint(progress: ScanState) -> None:
                # The report lines of every deletion so far (the undo records) are stored before the
                # checkpoint that lets a retry resume past those deletions.
                parts.upload()
                self.repository.update_prune_record(
                    item.cache_id,
                    item_sk,
                    {"checkpoint": progress.model_dump(), "checkpointed_at": iso_time(self.clock())},
                )

            scanner = RangeScanner(
                self.store,
                scope,
                rules=item.rules.rules(),
                enforce=item.mode == "enforce",
                now=_parse_time(item.started_at),
                active_runs=active_runs,
                report=report,
                should_stop=should_stop,
                on_checkpoint=checkpoint,
                window=self.scan_window,
                checkpoint_every=self.checkpoint_every,
                listing=listing,
                verify=verify,
            )
            try:
                state = scanner.run(state)
            finally:
                parts.upload()  # a failing invocation too: what it deleted must be restorable
        if state.phase != "done":
            self.repository.update_prune_record(
                item.cache_id,
                item_sk,
                {
                    "checkpoint": state.model_dump(),
                    "invocations": sequence + 1,
                    "checkpointed_at": iso_time(self.clock()),
                },
            )
            self.send([item])  # continue in a fresh invocation
            return "continued"
        if state.max_seen:
            self.repository.raise_cache_version(item.cache_id, state.max_seen, iso_time(self.clock()))
        return self._complete(item, state, {"invocations": sequence + 1}) or "done"

    def _complete(self, item: WorkItem, state: ScanState | None, extra: dict[str, Any],
                  checkpointed: Counts | None = None) -> str | None:
        """Record the item done, its counts added to its pass; "settled" when the pass was final by then.
        An aborted item has no `state` (its range was not judged to the end: it reports no floor, versions or
        kept entries a later pass could rely on) but counts what it did up to its last checkpoint."""
        counts = state.counts if state else checkpointed or Counts()
        sets = {
            **extra,
            "completed_at": iso_time(self.clock()),
            "counts": counts.model_dump(),
            "applied_floor": state.floor if state else item.floor,
            "max_seen": state.max_seen if state else 0,
            "held_version": state.held_version if state else 0,
            "revisit_since": state.revisit_since if state else None,
            "lowest_kept": lowest_kept(state) if state else None,
        }
        if state:
            sets["checkpoint"] = state.model_dump()
        sets = {name: value for name, value in sets.items() if value is not None}
        try:
            pass_record = self.repository.complete_prune_item(
                item.cache_id, item.pass_sk, self._item_sk(item), sets, counts.model_dump()
            )
        except PrunePassFinal:
            # Settled while this worker ran: its counts stay in its item record (its report parts are stored, so
            # a restore brings back what it deleted); the pass's are final.
            logger.warning("prune work item completed after its pass was settled",
                           extra={"cache_id": item.cache_id, "pass_id": item.pass_id, "item": item.item_id})
            return "settled"
        if pass_record and int(pass_record.get("items_done", 0)) >= int(pass_record.get("items_total", 0)):
            self.finish(item.cache_id, pass_record)
        return None

    # ================================================================== finish
    def _finish_if_due(self, item: WorkItem) -> None:
        """A redelivered message of a done item: the invocation that completed it may have failed to finish
        its round (a catch-up round not all queued, the pass not closed). Finish it now, if so."""
        pk = keys.cache_pk(item.cache_id)
        final = self.repository.get_item(pk, self._final_sk(item.pass_id, item.round))
        if final is not None and final.get("outcome"):
            return
        pass_record = self.repository.get_item(pk, item.pass_sk)
        if pass_record is None or pass_record.get("status") != "RUNNING":
            return
        if final is None and (  # that round's finish never began: due once every item of it is done
            int(pass_record.get("round", 1)) != item.round
            or int(pass_record.get("items_done", 0)) < int(pass_record.get("items_total", 0))
        ):
            return
        self.finish(item.cache_id, pass_record, item.round)

    def finish(self, cache_id: str, pass_record: dict[str, Any], round_number: int | None = None) -> None:
        """Finish a round: a catch-up round, or the pass closed. Done once (the round's claim records its
        outcome), one invocation at a time; redone in full when it failed (each step may be repeated)."""
        pass_id = pass_record["pass_id"]
        round_number = round_number or int(pass_record.get("round", 1))
        pk, final_sk = keys.cache_pk(cache_id), self._final_sk(pass_id, round_number)
        self.repository.claim(pk, final_sk, {"entity": "PRUNE_CLAIM"})
        owner, lease = uuid.uuid4().hex, finish_lease(pass_id, round_number)
        if not self.repository.acquire_lease(
            lease, owner, int(self.clock().timestamp()), self.config.item_lease_seconds
        ):
            raise RetryableError(f"round {round_number} of prune pass {pass_id} is being finished elsewhere")
        try:
            if (self.repository.get_item(pk, final_sk) or {}).get("outcome"):
                return
            pass_record = self.repository.get_item(pk, pass_record["sk"]) or pass_record  # as of this lease
            if pass_record.get("status") != "RUNNING":
                return  # settled (settle.py, under this lease): final as it is
            if int(pass_record.get("round", 1)) > round_number:
                # This round's catch-up had moved the pass on (its plan recorded) when it failed: its items,
                # as recorded, not a plan made again from what the cache looks like now.
                self.send(self._recorded_items(pass_record, round_number + 1))
                self.repository.complete_claim(pk, final_sk, {"outcome": "CAUGHT_UP"})
                return
            items = self.repository.prune_items(cache_id, pass_id, round_number)
            recorded = self.repository.cache_version(cache_id) or 0
            highest = max([recorded, *(int(i.get("max_seen", 0)) for i in items)])
            # Ranges that kept entries of a version below the highest one seen anywhere in the cache.
            behind = [i for i in items if i.get("lowest_kept") is not None and int(i["lowest_kept"]) < highest]
            if behind and round_number < self.config.max_rounds:
                self._catch_up(cache_id, pass_record, round_number, behind, highest)
                outcome = "CAUGHT_UP"
            else:
                # Earlier rounds' items too: a catch-up round re-scans only the ranges left behind, so an item of an
                # earlier round that aborted, held a floor jump or asked for a re-read still speaks for its range.
                earlier = [i for r in range(1, round_number) for i in self.repository.prune_items(cache_id, pass_id, r)]
                self._close(cache_id, pass_record, [*earlier, *items], highest, unfinished=len(behind))
                outcome = "CLOSED"
            self.repository.complete_claim(pk, final_sk, {"outcome": outcome})
        finally:
            self.repository.release_lease(lease, owner)

    def _catch_up(
        self, cache_id: str, pass_record: dict[str, Any], finished_round: int, behind: list[dict[str, Any]],
        highest: int,
    ) -> None:
        """Re-scan the ranges judged under a lower floor than the highest version seen in the cache."""
        round_number = finished_round + 1
        items = [
            _round_item(pass_record, round_number, i, floor=highest, previous_floor=int(i["applied_floor"]),
                        unchanged_before=None)
            for i in behind
        ]
        # Items recorded, then the pass moved to the round, then sent: none is sent before the whole plan is
        # recorded, so items of an earlier attempt that failed before the move are replaced.
        self._put_items(items)
        planned = {i.item_id for i in items}
        for stale in self.repository.prune_items(cache_id, pass_record["pass_id"], round_number):
            if stale["item_id"] not in planned:
                self.repository.delete_item(keys.cache_pk(cache_id), stale["sk"])
        self.repository.start_prune_round(cache_id, pass_record["sk"], round_number, len(items))
        logger.info(
            "prune catch-up round",
            extra={"cache_id": cache_id, "round": round_number, "items": len(items), "floor": highest},
        )
        self.send(items)

    def _close(
        self,
        cache_id: str,
        pass_record: dict[str, Any],
        items: list[dict[str, Any]],
        highest: int,
        unfinished: int,
    ) -> None:
        """Close the pass from the items of every round (an earlier round's abort, floor jump or re-read mark
        stands: catch-up rounds re-scan only the ranges left behind)."""
        finished = self.clock()
        started = _parse_time(pass_record["started_at"])
        errors = int(pass_record.get("errors", 0))
        aborted = sum(1 for i in items if i.get("aborted"))
        status = "ABORTED" if aborted else "COMPLETED_WITH_ERRORS" if errors or unfinished else "COMPLETED"
        held = max([0, *(int(i.get("held_version", 0)) for i in items)])
        revisits = [str(i["revisit_since"]) for i in items if i.get("revisit_since")]
        if held:
            # A manifest of this cache claims a version more than one above the recorded floor: either a
            # service jump or a forged manifest. Not applied: an operator confirms it with pruneMinVersion.
            logger.warning(
                "prune floor jump held",
                extra={"cache_id": cache_id, "held_version": held, "floor": highest},
            )
            alarm_metric(FLOOR_JUMP_METRIC)
        # Manifests were found but none names this cache at its own location (wrong cache id, data moved or
        # copied, a layout the pruner does not know): the pass prunes nothing and would do so forever.
        none_of_this_cache = (
            int(pass_record.get("foreign", 0)) > 0
            and int(pass_record.get("ours", 0)) == 0
            and int(pass_record.get("unchanged", 0)) == 0
        )
        if none_of_this_cache:
            logger.warning(
                "prune pass found no entry of this cache",
                extra={"cache_id": cache_id, "foreign": int(pass_record.get("foreign", 0))},
            )
            alarm_metric(NONE_OF_THIS_CACHE_METRIC)
        sets = {
            "status": status,
            "finished_at": iso_time(finished),
            "final_floor": highest,
            "duration_seconds": round((finished - started).total_seconds(), 3),
            "aborted_items": aborted,
            "unfinished_items": unfinished,
            "held_version": held,
            "none_of_this_cache": none_of_this_cache,
            "revisit_since": min(revisits) if revisits else None,
        }
        sets = {name: value for name, value in sets.items() if value is not None}
        record = {**pass_record, **sets}
        summary = pass_summary(record)
        self._put_report(
            cache_id,
            pass_record["pass_id"],
            "summary.json",
            json.dumps(summary, indent=2, default=str).encode(),
            "application/json",
        )
        self.repository.update_prune_record(cache_id, pass_record["sk"], sets)
        self.repository.release_lease(cache_lease(cache_id), pass_record["pass_id"])
        emit_metrics(cache_id, pass_record["mode"], record)
        logger.info("prune pass finished", extra={"cache_id": cache_id, **_without_locations(summary)})

    # ================================================================== helpers
    @staticmethod
    def _final_sk(pass_id: str, round_number: int) -> str:
        return f"PRUNEFINAL#{pass_id}#r{round_number:02d}"

    @staticmethod
    def _item_sk(item: WorkItem) -> str:
        return ProvenanceRepository.prune_item_sk(item.pass_id, item.round, item.item_id)

    def _report_uri(self, cache_id: str, pass_id: str, name: str) -> str | None:
        if not self.config.report_bucket:
            return None
        return f"s3://{self.config.report_bucket}/{self.config.report_prefix}{cache_id}/{pass_id}/{name}"

    def _put_report(self, cache_id: str, pass_id: str, name: str, body: Any, content_type: str) -> None:
        if self.config.report_bucket:
            key = f"{self.config.report_prefix}{cache_id}/{pass_id}/{name}"
            self.report_store.put_object(self.config.report_bucket, key, body, content_type)


METRICS = {
    "entries_scanned": ("PruneEntriesScanned", MetricUnit.Count),
    "stale": ("PruneEntriesStale", MetricUnit.Count),
    "entries_deleted": ("PruneEntriesDeleted", MetricUnit.Count),
    "unreadable": ("PruneManifestsUnreadable", MetricUnit.Count),
    "orphans": ("PruneOrphans", MetricUnit.Count),
    "bytes_reclaimed": ("PruneBytesReclaimed", MetricUnit.Bytes),
    "stale_bytes": ("PruneBytesStale", MetricUnit.Bytes),
    "errors": ("PruneDeleteErrors", MetricUnit.Count),
    "held": ("PruneEntriesHeld", MetricUnit.Count),
    "duration_seconds": ("PruneDurationSeconds", MetricUnit.Seconds),
}


SUMMARY_FIELDS = (
    "cache_id", "pass_id", "mode", "status", "started_at", "finished_at", "duration_seconds", "cache_s3_uri",
    "initial_floor", "final_floor", "ceiling", "incremental_since", "listing", "listed_at", "inventory_manifest",
    "inventory_unused", "held_version", "none_of_this_cache", "rules", "round", *Counts.model_fields,
)


def pass_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The report's summary.json of a pass record as finished; `details`: the report's location."""
    summary = {name: record.get(name) for name in SUMMARY_FIELDS}
    summary["details"] = record["report_uri"].rsplit("/", 1)[0] + "/" if record.get("report_uri") else None
    return summary


def alarm_metric(name: str) -> None:
    """One count of an alarmed condition. One dimension only (no cache id), so that one stack alarm
    watches every cache."""
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE, default_dimensions={"service": "pruner"}
    ):
        pass


def emit_metrics(cache_id: str, mode: str, record: dict[str, Any]) -> None:
    """One EMF document per metric, dimensioned by cache and mode."""
    for attribute, (name, unit) in METRICS.items():
        with single_metric(
            name=name,
            unit=unit,
            value=float(record.get(attribute, 0) or 0),
            namespace=NAMESPACE,
            default_dimensions={"CacheId": cache_id, "Mode": mode},
        ):
            pass


# S3 locations a pass records (its record and report keep them; `autopilot cache report` shows them): never in
# INFO logs, where keys could name samples. The inventory error text may quote a key too.
_S3_LOCATIONS = frozenset({"cache_s3_uri", "inventory_manifest", "inventory_unused", "details"})


def checkpointed_counts(record: dict[str, Any]) -> Counts:
    """What earlier invocations of a work item did (deletions included), as of its last checkpoint."""
    checkpoint = record.get("checkpoint")
    return Counts.model_validate(checkpoint["counts"]) if checkpoint else Counts()


def _without_locations(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if name not in _S3_LOCATIONS}


def _round_item(record: dict[str, Any], round_number: int, item: dict[str, Any], *, floor: int,
                previous_floor: int | None, unchanged_before: str | None) -> WorkItem:
    """The work item of a recorded item record in a round of the pass `record`."""
    bucket, prefix = split_s3_uri(record["cache_s3_uri"])
    rules = record.get("rules", {})
    return WorkItem(
        cache_id=record["cache_id"],
        pass_id=record["pass_id"],
        pass_sk=record["sk"],
        round=round_number,
        item_id=item["item_id"],
        bucket=bucket,
        cache_prefix=prefix,
        start=item.get("start"),
        end=item.get("end"),
        inventory=item.get("inventory"),
        floor=floor,
        # A pass started by an earlier release has no ceiling: derive it from the recorded floor.
        ceiling=int(record.get("ceiling") or ceiling_from(rules, record.get("initial_floor", 0))),
        unchanged_before=unchanged_before,
        previous_floor=previous_floor,
        mode=record["mode"],
        rules=rules,
        started_at=record["started_at"],
    )
