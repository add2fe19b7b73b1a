"""Right-sizing records in the provenance table (the table design stays in keys.py; this adds one aggregate).

Items (pk / sk), written by the manifest consumer once per run, bounded by the run's task names:
  RUN#<runId> / UUID#<uuid>#RIGHTSIZE#NAME#<taskName>   one task name of the run: tasks, peaks, billed
        seconds per current type, summed current / recommended cost of each task's own recommendation,
        the type fitting the name's peak in this run (+ what to request for it), the price list used.
        Indexed on the batch GSI under its own partition, so a batch's advice is one Query and the
        batch view (BATCH#<root>) does not read it:
        batch_pk = RIGHTSIZE#BATCH#<rootBatchId>   batch_sk = NAME#<taskName>#<runId>#<uuid>
  RUN#<runId> / UUID#<uuid>#RIGHTSIZE                  the run's marker, written last: status DONE (every
        name item above is written) or MANIFEST_MISSING (the stream never appeared), task and name counts,
        log pages read, storage figures (storageAverageGiB / storageMaximumGiB, static recommendation).
        Indexed beside the names: batch_sk = RUN#<runId>#<uuid>.

Every write is a full put of values derived only from the manifest, the headroom and the price list: a
duplicate or retried event rewrites the same items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.provenance import keys
from shared.provenance.repository import ProvenanceError, ProvenanceRepository, serialize

if TYPE_CHECKING:
    from shared.cost.rightsizing import NameAggregate

DONE, MANIFEST_MISSING = "DONE", "MANIFEST_MISSING"
ENTITY_NAME, ENTITY_RUN = "RIGHTSIZE_NAME", "RIGHTSIZE_RUN"


def rightsize_sk(run_uuid: str) -> str:
    return keys.run_sk(run_uuid, "RIGHTSIZE")


def name_sk(run_uuid: str, task_name: str) -> str:
    return keys.run_sk(run_uuid, f"RIGHTSIZE#NAME#{task_name}")


def batch_partition(root_batch_id: str) -> str:
    return f"RIGHTSIZE#BATCH#{root_batch_id}"


class RightsizingRepository:
    def __init__(self, repository: ProvenanceRepository) -> None:
        self.base = repository

    def marker(self, run_id: str, run_uuid: str) -> dict[str, Any] | None:
        return self.base.get_item(keys.run_pk(run_id), rightsize_sk(run_uuid))

    def marker_and_summary(self, run_id: str, run_uuid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The run's right-sizing marker and its summary: one strongly consistent BatchGetItem."""
        marker_key = (keys.run_pk(run_id), rightsize_sk(run_uuid))
        summary = ProvenanceRepository.run_summary_key(run_id, run_uuid)
        summary_key = (summary[keys.PK], summary[keys.SK])
        found = self.base.get_items([marker_key, summary_key])
        return found.get(marker_key), found.get(summary_key)

    def name_item(self, run_id: str, run_uuid: str, root_batch_id: str | None,
                  fields: Mapping[str, Any]) -> dict[str, Any]:
        name = str(fields["task_name"])
        item: dict[str, Any] = {keys.PK: keys.run_pk(run_id), keys.SK: name_sk(run_uuid, name),
                                "entity": ENTITY_NAME, "run_id": run_id, "run_uuid": run_uuid, **fields}
        if root_batch_id:
            item.update(batch_pk=batch_partition(root_batch_id), batch_sk=f"NAME#{name}#{run_id}#{run_uuid}")
        keys.check_key_sizes(item)
        return item

    def marker_item(self, run_id: str, run_uuid: str, root_batch_id: str | None,
                    fields: Mapping[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {keys.PK: keys.run_pk(run_id), keys.SK: rightsize_sk(run_uuid),
                                "entity": ENTITY_RUN, "run_id": run_id, "run_uuid": run_uuid, **fields}
        if root_batch_id:
            item.update(batch_pk=batch_partition(root_batch_id), batch_sk=f"RUN#{run_id}#{run_uuid}")
        keys.check_key_sizes(item)
        return item

    def write_run(self, names: list[dict[str, Any]], marker: dict[str, Any]) -> None:
        """The name items first, the marker last: a marker saying DONE means every name item is there."""
        if self.base.put_items(names):
            raise ProvenanceError(f"right-sizing items of run {marker['run_id']} were not all written", True)
        self.base.put_record(marker)

    def batch_items(self, root_batch_id: str) -> Iterator[dict[str, Any]]:
        """Every run marker and task-name item of a batch and its follow-ups: one Query (paginated)."""
        # The table's one paginated Query (ProvenanceRepository owns the client and its error mapping).
        return self.base._query(keys.GSI_BATCH[0], KeyConditionExpression="#pk = :pk",
                                ExpressionAttributeNames={"#pk": keys.GSI_BATCH[1]},
                                ExpressionAttributeValues=serialize({":pk": batch_partition(root_batch_id)}))


def name_aggregate(item: Mapping[str, Any]) -> NameAggregate:
    """A stored task-name item as one run's share of the name's batch-wide aggregate (GPU tasks left out:
    they keep their accelerator type)."""
    # Imported here: only readers of the advice aggregate it, and the cost repository's key helpers above
    # must not pull the right-sizing arithmetic into every function's cold start (issue 13).
    from shared.cost.rightsizing import NameAggregate

    region = item.get("region")
    agg = NameAggregate(tasks=int(item.get("tasks", 0)) - int(item.get("gpu_tasks", 0)),
                        cpus_peak=_float(item.get("cpus_peak")), memory_peak_gib=_float(item.get("memory_peak_gib")))
    if not item.get("gpu_tasks"):
        agg.seconds_by_type = {(t, region): Decimal(str(s)) for t, s in (item.get("seconds_by_type") or {}).items()}
    return agg


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
