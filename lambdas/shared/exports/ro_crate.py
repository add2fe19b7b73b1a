"""Workflow Run RO-Crate of a run and its lineage, following the Provenance Run Crate profile 0.5
(which includes the Workflow Run Crate and Process Run Crate profiles) on RO-Crate 1.1.

What goes where:
- the HealthOmics workflow is the crate's mainEntity (ComputationalWorkflow + HowTo): its tasks are
  HowToSteps, each with a SoftwareApplication tool; inputs/outputs are FormalParameters;
- every attempt (root run, re-runs) is a CreateAction (instrument = workflow) with its inputs (S3 files,
  each URI of a list parameter too, with HealthOmics' resource digests: an S3 object replaced between attempts
  is one File per content read, the later ones `<uri>#<digest>` with `contentUrl` the URI; other parameters as
  PropertyValues), its output prefix, times, status and failure; an OrganizeAction per attempt stands for
  HealthOmics (the engine) orchestrating it;
- every task is a CreateAction (instrument = its tool) with times, status, resource usage and cache reuse
  (`cacheHit`, `cacheS3Uri`), tied to its step by a ControlAction;
- attempts link to the run they re-ran (`isBasedOn`), with attempt number and re-run reason;
- each attempt's cost as the recorder priced it (`costUSD`, `cacheAvoidedCostUSD`, with `priceList` and
  `priceListDate`): a figure with any unknown part is absent, never 0 (`costUnknownItems` says how many).
Container images are not in what HealthOmics' GetRun/ListRunTasks return (the recorder's sources), so
task actions carry no `containerImage`; the crate says so in its description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.clock import utc_now
from shared.exports.lineage import AttemptRecord, RunLineage, TaskRecord, files_named, names_only_files

RO_CRATE = "https://w3id.org/ro/crate/1.1"
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/provenance/0.5": ("Provenance Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
TERMS = "https://w3id.org/omics-autopilot/terms#"
CONTEXT: list[Any] = [
    f"{RO_CRATE}/context",
    {
        "autopilot": TERMS,
        # The Workflow Run terms this crate uses, inlined (same IRIs as https://w3id.org/ro/terms/workflow-run).
        "resourceUsage": "https://w3id.org/ro/terms/workflow-run#resourceUsage",
        "cacheHit": "autopilot:cacheHit",
        "cacheS3Uri": "autopilot:cacheS3Uri",
        "resourceDigest": "autopilot:resourceDigest",
        "attempt": "autopilot:attempt",
        "rerunReason": "autopilot:rerunReason",
        "remediation": "autopilot:remediation",
        "failureReason": "autopilot:failureReason",
        "runCache": "autopilot:runCache",
        "cacheBehavior": "autopilot:cacheBehavior",
        "healedBy": "autopilot:healedBy",
        "workflowDigest": "autopilot:workflowDigest",
        "costUSD": "autopilot:costUSD",
        "costKnownUSD": "autopilot:costKnownUSD",
        "costUnknownItems": "autopilot:costUnknownItems",
        "cacheAvoidedCostUSD": "autopilot:cacheAvoidedCostUSD",
        "cacheAvoidedCostEstimated": "autopilot:cacheAvoidedCostEstimated",
        "priceList": "autopilot:priceList",
        "priceListDate": "autopilot:priceListDate",
    },
]
ENGINE_ID = "https://aws.amazon.com/healthomics/"
LANGUAGE_ID = "#healthomics-workflow-language"
LICENSE_ID = "https://spdx.org/licenses/CC-BY-4.0"
METADATA_FILE = "ro-crate-metadata.json"
_STATUS = {"COMPLETED": "http://schema.org/CompletedActionStatus", "FAILED": "http://schema.org/FailedActionStatus",
           "CANCELLED": "http://schema.org/FailedActionStatus"}


def _ref(identifier: str) -> dict[str, str]:
    return {"@id": identifier}


def _refs(identifiers: Iterable[str]) -> list[dict[str, str]]:
    return [_ref(i) for i in dict.fromkeys(identifiers)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _status(status: str | None) -> str:
    return _STATUS.get(status or "", "http://schema.org/ActiveActionStatus")


def _clean(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if v not in (None, [], "")}


class _Graph:
    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}

    def add(self, entity: dict[str, Any]) -> str:
        entity = _clean(entity)
        existing = self.entities.get(entity["@id"])
        if existing is None:
            self.entities[entity["@id"]] = entity
        else:  # merge list-valued references (e.g. a parameter's examples across attempts)
            for key, value in entity.items():
                if key in existing and isinstance(existing[key], list) and isinstance(value, list):
                    existing[key] = existing[key] + [v for v in value if v not in existing[key]]
                else:
                    existing.setdefault(key, value)
        return str(entity["@id"])


def build_crate(lineage: RunLineage, created: datetime | None = None) -> dict[str, Any]:
    """The crate's ro-crate-metadata.json content."""
    graph = _Graph()
    subject = lineage.subject
    workflow_id = lineage.workflow_id or "unknown"
    first = lineage.attempts[0].summary
    region, account = _region_account(first.get("arn"))
    workflow_arn = f"arn:aws:omics:{region}:{account}:workflow/{workflow_id}" if region and account else None
    workflow_ref = workflow_path(lineage)

    # ---------------------------------------------------------------- prospective: workflow, steps, tools
    task_names = sorted({t.name or t.task_id for a in lineage.attempts for t in a.tasks})
    steps, tools = [], []
    for position, name in enumerate(task_names):
        tool = graph.add({"@id": f"#tool-{_slug(name)}", "@type": "SoftwareApplication", "name": name,
                          "description": f"HealthOmics workflow task '{name}'"})
        step = graph.add({"@id": f"#step-{_slug(name)}", "@type": "HowToStep", "name": name,
                          "position": str(position), "workExample": _ref(tool)})
        tools.append(tool)
        steps.append(step)
    input_params: list[str] = []
    for name in sorted({k for a in lineage.attempts for k in a.inputs}):
        example = next(a.inputs[name] for a in lineage.attempts if name in a.inputs)
        input_params.append(graph.add({
            "@id": f"#param-input-{_slug(name)}", "@type": "FormalParameter", "name": name,
            "additionalType": "File" if names_only_files(example) else _additional_type(example),
            "multipleValues": True if isinstance(example, list) else None, "valueRequired": True}))
    output_param = graph.add({"@id": "#param-output-run-output", "@type": "FormalParameter", "name": "runOutputUri",
                              "additionalType": "Dataset",
                              "description": "The run's output prefix {outputUri}/{runId}/{runUuid}/"})
    graph.add({"@id": LANGUAGE_ID, "@type": "ComputerLanguage", "name": "AWS HealthOmics workflow",
               "url": _ref(ENGINE_ID),
               "description": "The workflow as registered in HealthOmics (its definition language — WDL, "
                              "Nextflow or CWL — is recorded by HealthOmics, not in this crate)."})
    graph.add({"@id": ENGINE_ID, "@type": "SoftwareApplication", "name": "AWS HealthOmics",
               "url": ENGINE_ID})
    graph.add({
        "@id": workflow_ref, "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
        "name": first.get("workflow_name") or f"HealthOmics workflow {workflow_id}",
        "identifier": workflow_arn or workflow_id, "encodingFormat": "application/json",
        "description": "A descriptor of the HealthOmics workflow these runs executed (id, ARN, digest, tasks); "
                       "its definition is stored in HealthOmics.", "version": first.get("workflow_version_name"),
        "workflowDigest": first.get("digest"), "programmingLanguage": _ref(LANGUAGE_ID),
        "input": _refs(input_params), "output": [_ref(output_param)], "hasPart": _refs(tools),
        "step": _refs(steps)})

    # ---------------------------------------------------------------- retrospective: one run per attempt
    actions: list[str] = []
    outputs: list[str] = []
    for attempt in lineage.attempts:
        actions += _attempt_actions(graph, attempt, lineage, workflow_ref, output_param, outputs)

    when = (created or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ")
    description = (
        f"Provenance of HealthOmics run {subject.run_id} (sample {subject.summary.get('sample') or '-'}, "
        f"attempt {subject.attempt} of root run {lineage.root_run_id}) and every attempt of its lineage, "
        "exported by the omics autopilot from its provenance table. Task actions carry HealthOmics call-cache "
        "reuse (cacheHit, cacheS3Uri). Container images are not recorded: HealthOmics' GetRun and ListRunTasks "
        "do not return them.")
    for profile, (name, version) in PROFILES.items():
        graph.add({"@id": profile, "@type": "CreativeWork", "name": name, "version": version})
    graph.add({"@id": LICENSE_ID, "@type": "CreativeWork", "name": "Creative Commons Attribution 4.0"})
    root = {
        "@id": "./", "@type": "Dataset", "name": f"HealthOmics run {subject.run_id} and its lineage",
        "description": description, "datePublished": when, "license": _ref(LICENSE_ID),
        "conformsTo": _refs(PROFILES), "mainEntity": _ref(workflow_ref),
        "hasPart": _refs([workflow_ref, *outputs, *_data_entities(graph)]), "mentions": _refs(actions),
    }
    metadata = {"@id": METADATA_FILE, "@type": "CreativeWork", "about": _ref("./"),
                "conformsTo": [_ref(RO_CRATE), _ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0")]}
    entities = [metadata, root, *graph.entities.values()]
    return {"@context": CONTEXT, "@graph": [_compact(e) for e in entities]}


def _compact(entity: dict[str, Any]) -> dict[str, Any]:
    """RO-Crate 1.1's JSON-LD recommendation: a single value, not a singleton array."""
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in entity.items()}


def _data_entities(graph: _Graph) -> list[str]:
    """Every File and Dataset (inputs, outputs, reused cache entries): the root must reach them via hasPart."""
    found = []
    for identifier, entity in graph.entities.items():
        types = entity["@type"] if isinstance(entity["@type"], list) else [entity["@type"]]
        if {"File", "Dataset"} & set(types):
            found.append(identifier)
    return found


def _additional_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "Text"


def _region_account(arn: str | None) -> tuple[str | None, str | None]:
    parts = (arn or "").split(":")
    return (parts[3], parts[4]) if len(parts) > 5 else (None, None)


def _time(value: Any) -> str | None:
    return str(value) if value else None


def _attempt_actions(graph: _Graph, attempt: AttemptRecord, lineage: RunLineage, workflow_ref: str,
                     output_param: str, outputs: list[str]) -> list[str]:
    s = attempt.summary
    run_action = f"#run-{_slug(attempt.run_id)}"
    objects: list[str] = []
    for name, value in sorted(attempt.inputs.items()):
        param = f"#param-input-{_slug(name)}"
        entities: list[str] = []
        for uri in files_named(value):
            digest = attempt.digests.get(uri)
            version = lineage.input_version(uri, digest)
            entities.append(graph.add({
                "@id": uri if version is None else f"{uri}#{_slug(version)}", "@type": "File",
                "name": uri.rsplit("/", 1)[-1] or uri, "exampleOfWork": [_ref(param)],
                "contentUrl": None if version is None else uri, "resourceDigest": digest}))
        if not names_only_files(value):
            entities.append(graph.add({
                "@id": f"#pv-{_slug(attempt.run_id)}-{_slug(name)}", "@type": "PropertyValue", "name": name,
                "value": json.dumps(value) if isinstance(value, dict | list) else value,
                "exampleOfWork": [_ref(param)]}))
        graph.add({"@id": param, "@type": "FormalParameter", "workExample": _refs(entities)})
        objects += entities
    results: list[str] = []
    if s.get("run_output_uri"):
        uri = str(s["run_output_uri"]).rstrip("/") + "/"
        results.append(graph.add({"@id": uri, "@type": "Dataset", "name": f"outputs of run {attempt.run_id}",
                                  "exampleOfWork": [_ref(output_param)]}))
        graph.add({"@id": output_param, "@type": "FormalParameter", "workExample": [_ref(uri)]})
        outputs.append(uri)
    failure = s.get("failure_reason")
    parent = s.get("parent_run_id")
    graph.add({
        "@id": run_action, "@type": "CreateAction", "name": f"HealthOmics run {attempt.run_id}",
        "identifier": attempt.run_id, "instrument": _ref(workflow_ref), "object": _refs(objects),
        "result": _refs(results), "startTime": _time(s.get("start_time") or s.get("creation_time")),
        "endTime": _time(s.get("stop_time")), "actionStatus": _ref(_status(attempt.status)),
        "error": f"{failure}: {s.get('status_message') or ''}".rstrip(": ") if failure else None,
        "failureReason": failure, "attempt": attempt.attempt, "rerunReason": s.get("rerun_reason"),
        "remediation": s.get("remediation"),
        "isBasedOn": _ref(f"#run-{_slug(parent)}") if parent and any(a.run_id == parent for a in lineage.attempts)
        else None,
        "runCache": s.get("cache_id"), "cacheBehavior": s.get("cache_behavior"),
        "healedBy": [h.get("source") for h in attempt.heals] or None,
        **_cost(s.get("cost")),
        "description": _attempt_description(attempt)})
    controls: list[str] = []
    task_actions: list[str] = []
    for task in attempt.tasks:
        task_action = _task_action(graph, task)
        task_actions.append(task_action)
        controls.append(graph.add({
            "@id": f"#control-{_slug(task.task_id)}", "@type": "ControlAction",
            "name": f"orchestrate task {task.name or task.task_id}",
            "instrument": _ref(f"#step-{_slug(task.name or task.task_id)}"), "object": _ref(task_action)}))
    organize = graph.add({
        "@id": f"#engine-{_slug(attempt.run_id)}", "@type": "OrganizeAction",
        "name": f"HealthOmics orchestration of run {attempt.run_id}", "instrument": _ref(ENGINE_ID),
        "result": _ref(run_action), "object": _refs(controls),
        "startTime": _time(s.get("creation_time")), "endTime": _time(s.get("stop_time"))})
    return [organize, run_action, *task_actions]


def _cost(cost: dict[str, Any] | None) -> dict[str, Any]:
    """The run's stored cost totals as properties of its action; unknown figures are left out."""
    if not cost:
        return {}
    avoided = cost.get("avoided_usd") if cost.get("avoided_items") else None
    return {"costUSD": cost.get("usd"), "costKnownUSD": cost.get("known_usd") if cost.get("unknown") else None,
            "costUnknownItems": cost.get("unknown") or None, "cacheAvoidedCostUSD": avoided,
            "cacheAvoidedCostEstimated": bool(cost.get("avoided_estimated")) if avoided is not None else None,
            "priceList": cost.get("price_list_id"), "priceListDate": cost.get("price_list_date")}


def _attempt_description(attempt: AttemptRecord) -> str:
    s = attempt.summary
    text = f"Attempt {attempt.attempt} of root run {s.get('root_run_id') or attempt.run_id}"
    if s.get("parent_run_id"):
        text += f", a re-run of {s['parent_run_id']}"
        if s.get("rerun_reason"):
            text += f" after {s['rerun_reason']}"
    if s.get("batch_id"):
        text += f"; batch {s['batch_id']}"
    return text + f"; outcome {attempt.status or 'unknown'}."


def _task_action(graph: _Graph, task: TaskRecord) -> str:
    usage = [("cpus", task.cpus), ("memory", task.memory), ("gpus", task.gpus)]
    usage_refs = []
    for name, value in usage:
        if value is None:
            continue
        usage_refs.append(graph.add({"@id": f"#usage-{_slug(task.task_id)}-{name}", "@type": "PropertyValue",
                                     "name": name, "propertyID": f"{TERMS}{name}", "value": value,
                                     "unitCode": "GiB" if name == "memory" else None}))
    results = []
    if task.cache_s3_uri:
        uri = task.cache_s3_uri.rstrip("/") + "/"
        results.append(graph.add({"@id": uri, "@type": "Dataset", "name": f"call-cache entry reused by {task.name}"}))
    return graph.add({
        "@id": f"#task-{_slug(task.task_id)}", "@type": "CreateAction",
        "name": f"task {task.name or task.task_id} ({task.task_id})", "identifier": task.task_id,
        "instrument": _ref(f"#tool-{_slug(task.name or task.task_id)}"), "startTime": _time(task.start_time),
        "endTime": _time(task.stop_time), "actionStatus": _ref(_status(task.status)),
        "cacheHit": bool(task.cache_hit), "cacheS3Uri": task.cache_s3_uri, "result": _refs(results),
        "resourceUsage": _refs(usage_refs), "description": f"instance type {task.instance_type}"
        if task.instance_type else None})


def workflow_path(lineage: RunLineage) -> str:
    return f"workflow/healthomics-workflow-{_slug(lineage.workflow_id or 'unknown')}.json"


def workflow_descriptor(lineage: RunLineage) -> dict[str, Any]:
    """The crate's main workflow file: what the provenance table knows about the HealthOmics workflow."""
    first = lineage.attempts[0].summary
    region, account = _region_account(first.get("arn"))
    return {
        "workflowId": lineage.workflow_id,
        "arn": f"arn:aws:omics:{region}:{account}:workflow/{lineage.workflow_id}" if region and account else None,
        "digest": first.get("digest"), "workflowType": first.get("workflow_type"),
        "workflowVersionName": first.get("workflow_version_name"),
        "tasks": sorted({t.name or t.task_id for a in lineage.attempts for t in a.tasks}),
    }


def write_crate(lineage: RunLineage, directory: Path, created: datetime | None = None) -> Path:
    """Write the crate (a directory: ro-crate-metadata.json and the workflow descriptor it names as
    mainEntity); returns the metadata file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    workflow_file = directory / workflow_path(lineage)
    workflow_file.parent.mkdir(parents=True, exist_ok=True)
    workflow_file.write_text(json.dumps(workflow_descriptor(lineage), indent=2) + "\n")
    path = directory / METADATA_FILE
    path.write_text(json.dumps(build_crate(lineage, created), indent=2, sort_keys=False) + "\n")
    return path
