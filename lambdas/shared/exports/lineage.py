"""Everything recorded about one run's lineage (root run and every attempt), read with one Query per
attempt plus one on the lineage index, shaped for the exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.provenance import keys
from shared.provenance.repository import ProvenanceRepository

FILE_SCHEMES = ("s3://", "omics://", "https://")


def is_file_uri(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FILE_SCHEMES)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for element in value for leaf in _leaves(element)]
    return [value]


def files_named(value: Any) -> list[str]:
    """The files a run parameter names: its value when that is one URI, else each URI in a list (paired FASTQs,
    a cohort's BAMs; lists of lists too), in order. Both exports make an input entity with its digest of each."""
    return [leaf for leaf in _leaves(value) if is_file_uri(leaf)]


def names_only_files(value: Any) -> bool:
    """Whether the files a parameter names say all of its value (a mixed list also keeps its literal value)."""
    leaves = _leaves(value)
    return bool(leaves) and all(is_file_uri(leaf) for leaf in leaves)


@dataclass
class TaskRecord:
    task_id: str
    name: str | None
    status: str | None
    cache_hit: bool | None
    cache_s3_uri: str | None
    cpus: int | None = None
    memory: int | None = None
    gpus: int | None = None
    instance_type: str | None = None
    start_time: str | None = None
    stop_time: str | None = None
    history: list[str] = field(default_factory=list)


@dataclass
class AttemptRecord:
    run_id: str
    summary: dict[str, Any]
    history: list[dict[str, Any]]
    tasks: list[TaskRecord]
    heals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attempt(self) -> int:
        return int(self.summary.get("attempt", 0))

    @property
    def status(self) -> str | None:
        return self.summary.get("outcome") or self.summary.get("status")

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.summary.get("parameters") or {})

    @property
    def input_files(self) -> list[str]:
        return [uri for value in self.inputs.values() for uri in files_named(value)]

    @property
    def digests(self) -> dict[str, str]:
        return dict(self.summary.get("resource_digests") or {})


@dataclass
class RunLineage:
    run_id: str  # the run asked about
    root_run_id: str
    attempts: list[AttemptRecord]  # root first, in attempt order

    @property
    def subject(self) -> AttemptRecord:
        return next(a for a in self.attempts if a.run_id == self.run_id)

    @property
    def workflow_id(self) -> str | None:
        return next((a.summary.get("workflow_id") for a in self.attempts if a.summary.get("workflow_id")), None)

    def input_version(self, uri: str, digest: str | None) -> str | None:
        """None when `digest` is the first content of `uri` read in this lineage (attempt order), else `digest`.
        An input replaced in place between attempts (a corrected FASTQ uploaded again) is another entity in an
        export, so that no attempt is credited with content it did not read; the first keeps the plain URI."""
        for attempt in self.attempts:
            if uri in attempt.input_files:
                first = attempt.digests.get(uri)
                return None if digest == first else digest or "unknown"
        return None


def _attempt(run_id: str, items: list[dict[str, Any]]) -> AttemptRecord:
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    tasks: dict[str, TaskRecord] = {}
    heals: list[dict[str, Any]] = []
    for item in items:  # sk order: HEALED#, STATUS#<rank>#<time>, SUMMARY, TASK#<id>[#STATUS#...]
        sk = item[keys.SK]
        if sk == keys.SUMMARY:
            summary = item
        elif sk.startswith("STATUS#"):
            history.append({"status": item["status"], "time": item["event_time"]})
        elif item.get("entity") == "HEALED":
            heals.append(item)
        elif sk.startswith("TASK#"):
            task_id = sk.split("#")[1]
            task = tasks.setdefault(task_id, TaskRecord(task_id, None, None, None, None))
            if "#STATUS#" in sk:
                task.history.append(item["status"])
            else:
                task.name, task.status = item.get("name"), item.get("status")
                task.cache_hit, task.cache_s3_uri = item.get("cache_hit"), item.get("cache_s3_uri")
                task.cpus, task.memory, task.gpus = item.get("cpus"), item.get("memory"), item.get("gpus")
                task.instance_type = item.get("instance_type")
                task.start_time, task.stop_time = item.get("start_time"), item.get("stop_time")
    history.sort(key=lambda h: h["time"])
    ordered = sorted(tasks.values(), key=lambda t: (t.start_time or "", t.name or "", t.task_id))
    return AttemptRecord(run_id, summary, history, ordered, heals)


def load_lineage(repository: ProvenanceRepository, run_id: str, run_uuid: str | None = None) -> RunLineage | None:
    """The run, its root and every attempt of that root; None when the run is not recorded. A run is
    (id, uuid): without a uuid, the latest run that carried the id (HealthOmics reuses deleted runs' ids)."""
    items = repository.run_items(run_id, run_uuid)
    if not items:
        return None
    subject = _attempt(run_id, items)
    if subject.summary.get("unproven_claim"):
        # Its tags name a chain nothing proves it belongs to (shared/supersede.py): it is shown alone.
        return RunLineage(run_id=run_id, root_run_id=run_id, attempts=[subject])
    root = str(subject.summary.get("root_run_id") or run_id)
    root_uuid = subject.summary.get("root_run_uuid") or (subject.summary.get("run_uuid") if root == run_id else None)
    attempts = {(subject.run_id, subject.summary.get("run_uuid")): subject}
    for row in repository.attempt_chain(root, root_uuid):
        other = (str(row["run_id"]), row.get("run_uuid"))
        if other not in attempts:
            attempts[other] = _attempt(other[0], repository.run_items(*other))
    ordered = sorted(attempts.values(), key=lambda a: (a.attempt, a.summary.get("creation_time") or "", a.run_id))
    return RunLineage(run_id=run_id, root_run_id=root, attempts=ordered)
