"""Run caches and their prune passes: each cache's highest manifest version, the pass records and their
work items, under the CACHE#<cacheId> partition (keys.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from shared.provenance import keys
from shared.provenance.base import ProvenanceError, RepositoryBase, _Update, deserialize, serialize


class PrunePassFinal(Exception):
    """A work item completed after its pass was closed or settled: nothing was added to the pass."""


class CachesAndPrunesMixin(RepositoryBase):
    """Reads and writes of run caches' versions and prune passes."""

    # ------------------------------------------------------------------ pruner: run-cache prune passes
    # CACHE#<cacheId> / VERSION                               highest manifest version ever seen (monotonic)
    # CACHE#<cacheId> / PRUNE#<startedAt>#<passId>            the pass record (counts added by work items)
    # CACHE#<cacheId> / PRUNEITEM#<passId>#r<round>#<itemId>  a work item: key range, checkpoint, result
    @staticmethod
    def prune_pass_sk(started_at: str, pass_id: str) -> str:
        return f"PRUNE#{started_at}#{pass_id}"

    @staticmethod
    def prune_item_sk(pass_id: str, round_number: int, item_id: str) -> str:
        return f"PRUNEITEM#{pass_id}#r{round_number:02d}#{item_id}"

    def cache_version(self, cache_id: str) -> int | None:
        item = self.get_item(keys.cache_pk(cache_id), "VERSION")
        return int(item["max_version"]) if item else None

    def raise_cache_version(self, cache_id: str, version: int, observed_at: str) -> None:
        """Record `version` as the cache's highest seen, unless a higher one is recorded already."""
        # ConditionalCheckFailed means an equal or higher version is recorded: nothing to do.
        with contextlib.suppress(ClientError):
            self._call("update_item", Key=serialize({keys.PK: keys.cache_pk(cache_id), keys.SK: "VERSION"}),
                       UpdateExpression="SET max_version = :v, observed_at = :t, entity = :e",
                       ConditionExpression="attribute_not_exists(max_version) OR max_version < :v",
                       ExpressionAttributeValues=serialize({":v": version, ":t": observed_at,
                                                            ":e": "CACHE_VERSION"}))

    def update_prune_record(self, cache_id: str, sk: str, sets: Mapping[str, Any]) -> dict[str, Any]:
        return self._update({keys.PK: keys.cache_pk(cache_id), keys.SK: sk}, _Update(sets=dict(sets)))

    def start_prune_round(self, cache_id: str, pass_sk: str, round_number: int, items: int) -> None:
        """Move a pass from the round before to `round_number`, adding that round's items to its total, once:
        a catch-up redone after its items were not all queued changes nothing here."""
        # ConditionalCheckFailed: the pass is in that round already.
        with contextlib.suppress(ClientError):
            self._call("update_item", Key=serialize({keys.PK: keys.cache_pk(cache_id), keys.SK: pass_sk}),
                       UpdateExpression="SET #round = :round ADD items_total :items",
                       ConditionExpression="#round = :before",
                       ExpressionAttributeNames={"#round": "round"},
                       ExpressionAttributeValues=serialize({":round": round_number, ":items": items,
                                                            ":before": round_number - 1}))

    def prune_items(self, cache_id: str, pass_id: str, round_number: int) -> list[dict[str, Any]]:
        """Every work item of one round of a pass."""
        return list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id),
                                                 ":prefix": f"PRUNEITEM#{pass_id}#r{round_number:02d}#"}),
        ))

    def complete_prune_item(self, cache_id: str, pass_sk: str, item_sk: str, item_sets: Mapping[str, Any],
                            counters: Mapping[str, int]) -> dict[str, Any] | None:
        """Mark a work item done and add its counters to the pass, atomically and exactly once, while the pass
        is RUNNING: a final pass's counts never change (settle.py counted its unfinished items already).

        Returns the pass record afterwards, or None when the item was already completed (a redelivery).
        Raises PrunePassFinal when the pass is no longer RUNNING: the item is marked done, counting nothing.
        """
        pk = keys.cache_pk(cache_id)
        done = _Update(sets={**item_sets, "done": True}).build()
        adds = {"items_done": 1, **{name: value for name, value in counters.items() if value}}
        names = {f"#a{i}": name for i, name in enumerate(adds)}
        values = {f":a{i}": value for i, value in enumerate(adds.values())}
        try:
            self.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table_name, "Key": serialize({keys.PK: pk, keys.SK: item_sk}),
                            "UpdateExpression": done["UpdateExpression"],
                            "ConditionExpression": "attribute_not_exists(done)",
                            "ExpressionAttributeNames": done["ExpressionAttributeNames"],
                            "ExpressionAttributeValues": done["ExpressionAttributeValues"]}},
                {"Update": {"TableName": self.table_name, "Key": serialize({keys.PK: pk, keys.SK: pass_sk}),
                            "UpdateExpression": "ADD " + ", ".join(f"{n} :a{i}" for i, n in enumerate(names)),
                            "ConditionExpression": "#status_ = :running",
                            "ExpressionAttributeNames": {**names, "#status_": "status"},
                            "ExpressionAttributeValues": serialize({**values, ":running": "RUNNING"})}},
            ])
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException" and reasons:
                if reasons[0] == "ConditionalCheckFailed":
                    return None
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    # The item's own record keeps what it did (and it is done: a redelivery is a duplicate).
                    with contextlib.suppress(ClientError):
                        self._call("update_item", Key=serialize({keys.PK: pk, keys.SK: item_sk}),
                                   ConditionExpression="attribute_not_exists(done)",
                                   **_Update(sets={**item_sets, "done": True, "after_final": True}).build())
                    raise PrunePassFinal(f"prune pass {pass_sk} is no longer RUNNING") from error
            code = error.response.get("Error", {}).get("Code", "")
            raise ProvenanceError(f"TransactWriteItems failed: {code}: {error}", True) from error
        return self.get_item(pk, pass_sk)

    def prune_pass_items(self, cache_id: str, pass_id: str) -> list[dict[str, Any]]:
        """Every work item of a pass, all rounds, read consistently: settling a pass needs each item's last
        checkpoint, written by a worker just before."""
        return list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id), ":prefix": f"PRUNEITEM#{pass_id}#"}),
            ConsistentRead=True,
        ))

    def settle_prune_pass(self, cache_id: str, pass_sk: str, sets: Mapping[str, Any],
                          counters: Mapping[str, int]) -> dict[str, Any] | None:
        """Give a RUNNING pass its final `sets` and add `counters` (what its unfinished items did) in one
        conditional write. Returns the pass record afterwards, or None when the pass is no longer RUNNING."""
        built = _Update(sets=dict(sets)).build()
        adds = {name: value for name, value in counters.items() if value}
        if adds:
            built["UpdateExpression"] += " ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds)))
            built["ExpressionAttributeNames"].update({f"#a{i}": name for i, name in enumerate(adds)})
            built["ExpressionAttributeValues"].update(serialize({f":a{i}": v for i, v in enumerate(adds.values())}))
        built["ExpressionAttributeNames"]["#status_"] = "status"
        built["ExpressionAttributeValues"].update(serialize({":running": "RUNNING"}))
        try:
            response = self._call("update_item", Key=serialize({keys.PK: keys.cache_pk(cache_id), keys.SK: pass_sk}),
                                  ConditionExpression="#status_ = :running", ReturnValues="ALL_NEW", **built)
        except ClientError:  # ConditionalCheckFailed: closed or settled meanwhile
            return None
        return deserialize(response.get("Attributes", {}))

    # ------------------------------------------------------------------ queries (one Query each)
    def prune_pass(self, cache_id: str, pass_id: str) -> dict[str, Any] | None:
        """The record of pass `pass_id` of a cache, if one exists (a pass id names one record: service.py)."""
        return next(iter(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            FilterExpression="#pass_id = :pass_id",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK, "#pass_id": "pass_id"},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id), ":prefix": "PRUNE#",
                                                 ":pass_id": pass_id}),
        )), None)

    def prune_history(self, cache_id: str) -> list[dict[str, Any]]:
        """Every prune pass over one run cache, oldest first."""
        return list(self._query(
            None,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues=serialize({":pk": keys.cache_pk(cache_id), ":prefix": "PRUNE#"}),
        ))
