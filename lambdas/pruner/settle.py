"""Settle a prune pass that cannot finish: give it the final status INCOMPLETE, with the counts of what it did.

A pass closes when its last work item is done. An item whose message failed every receive went to the prune
queue's dead-letter queue: the pass stays RUNNING, and `autopilot cache restore` refuses a RUNNING pass (its
workers may still delete, and would delete again what a restore brought back). Settling ends that:
  - by the next pass that takes the cache's lease (service.Pruner._settle_abandoned): the stuck pass's lease
    expired, so none of its workers started for `lease_seconds`;
  - by the operator, `autopilot cache settle <passId>`, as soon as no worker of the pass is running: the CLI
    invokes the stack's pruner (Pruner.settle), so leases are judged by the clock the workers lease by.

No worker of the pass runs while it is settled, and none deletes after: the settle holds the lease of every
unfinished item and of every round's finish (what a worker and a finish hold while they work), and a worker
that takes an item's lease afterwards finds the pass no longer RUNNING and touches nothing (Pruner._work), as
does a finish (Pruner.finish). Under those leases the items' checkpoints are final: what the unfinished items
deleted up to their last checkpoint (a failing invocation checkpoints too) is added to the pass's counts, in
the same conditional write that sets the status, so a restore and `cache report` see every deletion. A lease
is taken from its holder only TAKEOVER_GRACE_SECONDS after it expired (a clock ahead of the holder's cannot take
a running worker's lease), and a worker's completion is refused by a pass no longer RUNNING (caches_and_prunes:
complete_prune_item), so a worker that outlived a settle never adds to its counts.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pruner.restore import find_pass
from pruner.scan import Counts
from pruner.service import cache_lease, checkpointed_counts, finish_lease, item_lease, pass_summary
from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository
from shared.status import from_iso_time, iso_time

SETTLED_STATUS = "INCOMPLETE"
# A settle that dies holding the item leases delays the pass's workers this long, no more.
SETTLE_LEASE_SECONDS = 300
# A lease of a worker or finish of the pass is taken over only once it expired this long ago (a worker's
# whole timeout): the settle's clock may be ahead of the one the holder set its lease by.
TAKEOVER_GRACE_SECONDS = 900


class SettleError(Exception):
    """The pass cannot be settled: it is not RUNNING."""


class PassBusy(SettleError):
    """A worker or a finish of the pass is running now: settle once it ends (at most the worker's timeout)."""


def settle_pass(repository: ProvenanceRepository, s3: Any, cache_id: str, pass_id: str, *, now: datetime,
                settled_by: str) -> dict[str, Any]:
    """Settle the RUNNING pass `pass_id` (see the module docstring); returns its record as settled.
    Raises PassNotFound (restore.py), SettleError, PassBusy."""
    record = find_pass(repository, cache_id, pass_id)
    owner, epoch = f"settle-{uuid.uuid4().hex}", int(now.timestamp())
    held: set[str] = set()
    try:
        while True:
            # Read again after taking leases: a finish may have started a round (its items) before its lease was
            # taken here. Once no lease is missing, nothing of the pass changes until they are released.
            record = repository.get_item(keys.cache_pk(cache_id), record[keys.SK]) or record
            if record.get("status") != "RUNNING":
                raise SettleError(f"pass {pass_id} is {record.get('status')}: only a RUNNING pass is settled")
            items = repository.prune_pass_items(cache_id, pass_id)
            unfinished = [i for i in items if not i.get("done")]
            rounds = max([int(record.get("round", 1)), *(int(i["round"]) for i in items)])
            wanted = {finish_lease(pass_id, r): f"round {r}'s finish" for r in range(1, rounds + 1)}
            wanted |= {item_lease(pass_id, int(i["round"]), i["item_id"]): f"work item {i['item_id']}"
                       for i in unfinished}
            missing = [name for name in wanted if name not in held]
            if not missing:
                break
            for name in missing:
                if not repository.acquire_lease(name, owner, epoch, SETTLE_LEASE_SECONDS, TAKEOVER_GRACE_SECONDS):
                    raise PassBusy(f"{wanted[name]} of pass {pass_id} is running: settle it once that ends "
                                   "(within the worker's timeout, 15 minutes)")
                held.add(name)
        return _settle(repository, s3, record, unfinished, now, settled_by)
    finally:
        for name in held:
            repository.release_lease(name, owner)


def _settle(repository: ProvenanceRepository, s3: Any, record: dict[str, Any], unfinished: list[dict[str, Any]],
            now: datetime, settled_by: str) -> dict[str, Any]:
    checkpointed = Counts()  # what the unfinished items did up to their last checkpoints
    for item in unfinished:
        checkpointed = checkpointed.add(checkpointed_counts(item))
    if unfinished:
        reason = (f"{len(unfinished)} work item(s) never finished: their messages went to the prune queue's "
                  "dead-letter queue (or were still queued); what they deleted is counted and restorable, what "
                  "they did not judge is left to the next pass")
    else:
        reason = "every work item finished but the pass was not closed: the message that closes it was dead-lettered"
    sets = {
        "status": SETTLED_STATUS,
        "finished_at": iso_time(now),
        "duration_seconds": round((now - from_iso_time(record["started_at"])).total_seconds(), 3),
        "settled_by": settled_by,
        "items_unfinished": len(unfinished),
        "reason": reason,
    }
    counters = checkpointed.model_dump()
    final = {**record, **sets, **{name: int(record.get(name, 0)) + value for name, value in counters.items()}}
    # The summary before the record: a settle that fails between them is settled again by the next attempt.
    if record.get("report_uri"):
        summary = {**pass_summary(final), **{name: final[name] for name in ("settled_by", "items_unfinished",
                                                                             "reason")}}
        bucket, _, key = str(record["report_uri"]).removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(summary, indent=2, default=str).encode(),
                      ContentType="application/json")
    settled = repository.settle_prune_pass(record["cache_id"], record[keys.SK], sets, counters)
    if settled is None:
        raise SettleError(f"pass {record['pass_id']} was closed or settled meanwhile")
    # No worker of the pass deletes any more: the cache is free for the next pass (if the pass still held it).
    repository.release_lease(cache_lease(record["cache_id"]), record["pass_id"])
    return settled
