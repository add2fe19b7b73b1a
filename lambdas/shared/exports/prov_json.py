"""W3C PROV of a run's lineage, built with the `prov` library and serialized as PROV-JSON.

- activities: one per attempt (HealthOmics run) and one per task; a task `wasInformedBy` its run, and
  a re-run `wasInformedBy` the run it re-ran (with the reason);
- entities: the workflow (a prov:Plan), inputs (each file, a list parameter's too, with HealthOmics resource
  digests), run outputs, and the call-cache entries a task reused (the task `used` them: cache reuse as
  provenance);
- agents: HealthOmics (the engine, acting on the workflow plan), and the principal that started the run.
"""

from __future__ import annotations

from typing import Any

from prov.model import PROV_TYPE, Namespace, ProvDocument

from shared.exports.lineage import AttemptRecord, RunLineage, files_named, names_only_files
from shared.status import from_iso_time

AUTOPILOT = Namespace("autopilot", "https://w3id.org/omics-autopilot/terms#")
OMICS = Namespace("omics", "https://w3id.org/omics-autopilot/healthomics/")
PROV_PLAN = "prov:Plan"


def _datetime(value: Any) -> Any:
    if not value:
        return None

    return from_iso_time(str(value))


class _Once:
    """Declare each entity/agent once (a second declaration would become a list in PROV-JSON)."""

    def __init__(self, doc: ProvDocument) -> None:
        self.doc = doc
        self.records: dict[str, Any] = {}

    def entity(self, identifier: Any, attributes: dict[Any, Any]) -> Any:
        key = str(identifier)
        if key not in self.records:
            self.records[key] = self.doc.entity(identifier, attributes)
        return self.records[key]

    def agent(self, identifier: Any, attributes: dict[Any, Any]) -> Any:
        key = str(identifier)
        if key not in self.records:
            self.records[key] = self.doc.agent(identifier, attributes)
        return self.records[key]


def _attrs(values: dict[str, Any]) -> dict[Any, Any]:
    return {AUTOPILOT[k]: v for k, v in values.items() if v is not None and v != ""}


def build_prov(lineage: RunLineage) -> ProvDocument:
    doc = ProvDocument()
    doc.add_namespace(AUTOPILOT)
    doc.add_namespace(OMICS)
    engine = doc.agent(OMICS["engine"], {PROV_TYPE: "prov:SoftwareAgent", "prov:label": "AWS HealthOmics"})
    workflow_id = lineage.workflow_id or "unknown"
    workflow = doc.entity(OMICS[f"workflow/{workflow_id}"], {
        PROV_TYPE: PROV_PLAN, "prov:label": f"HealthOmics workflow {workflow_id}",
        **_attrs({"digest": lineage.attempts[0].summary.get("digest"),
                  "version": lineage.attempts[0].summary.get("workflow_version_name")})})
    runs: dict[str, Any] = {}
    once = _Once(doc)
    for attempt in lineage.attempts:
        runs[attempt.run_id] = _attempt(doc, once, lineage, attempt, engine, workflow)
    for attempt in lineage.attempts:
        parent = attempt.summary.get("parent_run_id")
        if parent and parent in runs:
            doc.wasInformedBy(runs[attempt.run_id], runs[parent], other_attributes=_attrs({
                "relation": "re-run", "rerunReason": attempt.summary.get("rerun_reason"),
                "attempt": attempt.attempt}))
    return doc


def _attempt(doc: ProvDocument, once: _Once, lineage: RunLineage, attempt: AttemptRecord, engine: Any,
             workflow: Any) -> Any:
    s = attempt.summary
    run = doc.activity(OMICS[f"run/{attempt.run_id}"], _datetime(s.get("start_time") or s.get("creation_time")),
                       _datetime(s.get("stop_time")), {
                           "prov:label": f"HealthOmics run {attempt.run_id}",
                           **_attrs({"status": attempt.status, "failureReason": s.get("failure_reason"),
                                     "attempt": attempt.attempt, "rootRun": s.get("root_run_id"),
                                     "sample": s.get("sample"), "batch": s.get("batch_id"),
                                     "runCache": s.get("cache_id"), "cacheBehavior": s.get("cache_behavior"),
                                     "healed": ",".join(h.get("source", "") for h in attempt.heals) or None})})
    doc.wasAssociatedWith(run, engine, workflow)
    if s.get("started_by"):
        starter = once.agent(AUTOPILOT[f"principal/{s['started_by']}"], {"prov:label": s["started_by"]})
        doc.wasStartedBy(run, starter=None, time=_datetime(s.get("creation_time")),
                         other_attributes=_attrs({"startedBy": s["started_by"]}))
        doc.actedOnBehalfOf(engine, starter, run)
    for name, value in sorted(attempt.inputs.items()):
        role = {"prov:role": AUTOPILOT[f"input/{name}"]}
        for uri in files_named(value):
            digest = attempt.digests.get(uri)
            version = lineage.input_version(uri, digest)
            entity = once.entity(AUTOPILOT[f"input/{uri}" + (f"#{version}" if version else "")], {
                "prov:label": uri, "prov:location": uri, **_attrs({"resourceDigest": digest})})
            doc.used(run, entity, other_attributes=role)
        if not names_only_files(value):
            entity = doc.entity(AUTOPILOT[f"parameter/{attempt.run_id}/{name}"],
                                {"prov:label": name, "prov:value": str(value)})
            doc.used(run, entity, other_attributes=role)
    if s.get("run_output_uri"):
        output = doc.entity(AUTOPILOT[f"output/{s['run_output_uri']}"],
                            {"prov:label": f"outputs of run {attempt.run_id}", "prov:location": s["run_output_uri"]})
        doc.wasGeneratedBy(output, run, _datetime(s.get("stop_time")))
    for task in attempt.tasks:
        activity = doc.activity(OMICS[f"task/{task.task_id}"], _datetime(task.start_time), _datetime(task.stop_time), {
            "prov:label": f"task {task.name or task.task_id}",
            **_attrs({"status": task.status, "cacheHit": bool(task.cache_hit), "instanceType": task.instance_type,
                      "cpus": task.cpus, "memory": task.memory})})
        doc.wasInformedBy(activity, run)
        if task.cache_s3_uri:
            entry = once.entity(AUTOPILOT[f"cache-entry/{task.cache_s3_uri}"], {
                "prov:label": f"call-cache entry for {task.name}", "prov:location": task.cache_s3_uri})
            doc.used(activity, entry, other_attributes={"prov:role": AUTOPILOT["cache-reuse"]})
    return run


def prov_json(lineage: RunLineage) -> str:
    return str(build_prov(lineage).serialize(format="json", indent=2))
