"""Claims, leases and the re-runner's decisions, counters and brake: items that make an action happen
once, or one at a time (keys.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from shared.provenance import keys
from shared.provenance.base import RepositoryBase, _plain, _serializer, _Update, deserialize, serialize


class Counted(NamedTuple):
    """A counter's total after `count_once`, and whether this call added its member (False: already counted)."""

    total: int
    added: bool


class ClaimsAndLeasesMixin(RepositoryBase):
    """Conditional writes that make an action happen exactly once, or under one holder at a time."""

    # ------------------------------------------------------------------ claims, leases
    def claim(self, pk: str, sk: str, attributes: Mapping[str, Any], expires_at: int | None = None) -> bool:
        """Create an item only if it does not exist yet: the first caller wins, every other gets False.
        Used to make an action (a re-run of (run, attempt), a resubmission) happen exactly once."""
        item = {keys.PK: pk, keys.SK: sk, **attributes, keys.TTL_ATTRIBUTE: expires_at}
        try:
            self._call("put_item", Item=serialize(item), ConditionExpression="attribute_not_exists(#pk)",
                       ExpressionAttributeNames={"#pk": keys.PK})
        except ClientError:
            return False
        return True

    def acquire_lease(self, name: str, owner: str, now_epoch: int, ttl_seconds: int, grace_seconds: int = 0) -> bool:
        """A time-bounded exclusive lease (e.g. one prune of a cache at a time); re-entrant for `owner`,
        taken over once expired (`grace_seconds` ago), so a crashed holder never blocks for longer than
        `ttl_seconds` (+ grace)."""
        try:
            self._call(
                "put_item",
                Item=serialize({keys.PK: keys.lease_pk(name), keys.SK: "LEASE", "entity": "LEASE", "owner": owner,
                                "lease_until": now_epoch + ttl_seconds,
                                keys.TTL_ATTRIBUTE: now_epoch + ttl_seconds + 86_400}),
                ConditionExpression="attribute_not_exists(#pk) OR lease_until < :now OR #owner = :owner",
                ExpressionAttributeNames={"#pk": keys.PK, "#owner": "owner"},
                ExpressionAttributeValues=serialize({":now": now_epoch - grace_seconds, ":owner": owner}),
            )
        except ClientError:
            return False
        return True

    def release_lease(self, name: str, owner: str) -> None:
        with contextlib.suppress(ClientError):  # someone else holds it now (ours expired): nothing to release
            self._call("delete_item", Key=serialize({keys.PK: keys.lease_pk(name), keys.SK: "LEASE"}),
                       ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                       ExpressionAttributeValues=serialize({":owner": owner}))

    # ------------------------------------------------------------------ re-runner: decisions, claims, brake
    # RUN#<runId>/RERUN#<attempt:02>            why a failed run was (not) re-run as that attempt
    # BATCH#<batchId>/RERUN#<attempt:02>#<group> one follow-up batch of a batch's failed members
    # BRAKE#<workflowId>/WINDOW#<start>          failures of a workflow in one fixed window; paused_at (TTL)
    # BRAKE#<workflowId>/COUNTED#<failure>      when a failure was first counted: its window (TTL)
    # BRAKE#<workflowId>/STATE                   the workflow's automatic re-runs are paused (or released)
    # BRAKE#<workflowId>/HELD#<kind>#<id>        work skipped while paused, re-queued on release
    def record_decision(self, pk: str, sk: str, attributes: Mapping[str, Any],
                        final: str = "STARTED") -> bool:
        """Set a decision record's attributes unless it already holds the `final` decision (a start is
        never overwritten by what a late or duplicate event concludes). `decided_at` keeps the first
        decision's time, so a duplicate or replayed event leaves the record exactly as it was.
        Returns whether it was written."""
        values = {k: v for k, v in attributes.items() if v is not None}
        first = {"decided_at": values.pop("decided_at")} if "decided_at" in values else {}
        built = _Update(sets=_plain(values), set_if_absent=_plain(first)).build()
        built["ExpressionAttributeNames"]["#decision_"] = "decision"
        built["ExpressionAttributeValues"] = {**(built["ExpressionAttributeValues"] or {}),
                                              ":final_": _serializer.serialize(final)}
        try:
            self._call("update_item", Key=serialize({keys.PK: pk, keys.SK: sk}),
                       ConditionExpression="attribute_not_exists(#decision_) OR #decision_ <> :final_",
                       **built)
        except ClientError:
            return False
        return True

    def first_seen(self, pk: str, sk: str, seen_at: str, expires_at: int | None = None) -> str:
        """When something (a decision, a failure the brake counted) was first seen: set once, every later call
        reads the first value. `expires_at`: the item's TTL, for items that exist only to remember that."""
        first = {"first_seen_at": seen_at, **({keys.TTL_ATTRIBUTE: expires_at} if expires_at else {})}
        item = self._update({keys.PK: pk, keys.SK: sk}, _Update(set_if_absent=first))
        return str(item["first_seen_at"])

    def complete_claim(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> None:
        """Record what a won claim produced (e.g. the run it started), so duplicates can skip."""
        self._update({keys.PK: pk, keys.SK: sk}, _Update(sets=_plain(dict(attributes))), returns="NONE")

    def mark_window_paused(self, pk: str, sk: str, paused_at: str) -> None:
        """Remember that a brake window (`count_once`'s counter item) went over its limit while its workflow was
        already paused: that pause was the window's one pause (the first time is kept)."""
        self._update({keys.PK: pk, keys.SK: sk}, _Update(set_if_absent={"paused_at": paused_at}), returns="NONE")

    def count_once(self, pk: str, sk: str, member: str, count: int, expires_at: int) -> Counted:
        """Add `count` to a counter item once per `member` (a run or batch id); returns the total and whether
        this call added it. A duplicate delivery of the same member adds nothing (members are kept in a
        string set)."""
        try:
            response = self._call(
                "update_item", Key=serialize({keys.PK: pk, keys.SK: sk}),
                UpdateExpression="ADD #count :n, #members :m SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(#members) OR NOT contains(#members, :member)",
                ExpressionAttributeNames={"#count": "failures", "#members": "members",
                                          "#ttl": keys.TTL_ATTRIBUTE},
                ExpressionAttributeValues={":n": {"N": str(count)}, ":m": {"SS": [member]},
                                           ":member": {"S": member}, ":ttl": {"N": str(expires_at)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            item = self.get_item(pk, sk) or {}
            return Counted(int(item.get("failures", 0)), added=False)
        return Counted(int(deserialize(response.get("Attributes", {})).get("failures", 0)), added=True)
