"""The simulated task graph of a workflow, declared through the real CreateWorkflow API.

A workflow's ``definitionZip`` may contain ``sandbox-workflow.json``::

    {"tasks": [
        {"name": "align", "durationSeconds": 600, "cpus": 8, "memory": 32,
         "outputs": [{"name": "bam", "sizeBytes": 1048576}]},
        {"name": "call", "dependsOn": ["align"], "durationSeconds": 300,
         "outputs": [{"name": "vcf", "sizeBytes": 4096}],
         "usage": {"cpusMaximum": 1.5, "memoryMaximumGiB": 3.2}}
    ]}

Without it the workflow gets ``DEFAULT_TASKS`` (align → call).

``usage`` declares the utilisation figures the run manifest reports for the task (the guide's manifest
statistics cpusAverage, cpusMaximum, memoryAverageGiB, memoryMaximumGiB); figures left out default to
fractions of what the task asked (``DEFAULT_USAGE``). The task's instance type is the service's choice:
the smallest omics type that fits the requested vCPUs, memory and GPUs (shared.cost.instances).
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.omics.errors import ValidationException
from shared.cost.instances import smallest_fitting

SPEC_FILE = "sandbox-workflow.json"
USAGE_KEYS = ("cpusAverage", "cpusMaximum", "memoryAverageGiB", "memoryMaximumGiB")
# Undeclared figures: a task that peaks at 3/4 of its vCPUs and 3/5 of its memory, averaging half of each.
DEFAULT_USAGE = {"cpusAverage": 0.5, "cpusMaximum": 0.75, "memoryAverageGiB": 0.5, "memoryMaximumGiB": 0.6}


@functools.lru_cache(maxsize=256)
def service_instance_type(cpus: int, memory: int, gpus: int, region: str | None = None) -> str | None:
    """The guide ('Instance types'): HealthOmics runs a task on the smallest type that fits what it asks;
    None when nothing does (the guide: the run then fails)."""
    chosen = smallest_fitting(cpus, memory, gpus, region=region)
    return chosen.name if chosen else None


@dataclass(frozen=True)
class OutputSpec:
    name: str
    size_bytes: int = 1024
    filename: str | None = None

    @property
    def path(self) -> str:
        return f"out/{self.name}/{self.filename or self.name + '.dat'}"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    depends_on: tuple[str, ...] = ()
    duration_seconds: float = 300.0
    outputs: tuple[OutputSpec, ...] = (OutputSpec("out"),)
    cpus: int = 2
    memory: int = 4
    gpus: int = 0
    usage: tuple[tuple[str, float], ...] = ()  # declared manifest figures (USAGE_KEYS), absolute values

    @property
    def instance_type(self) -> str | None:
        return service_instance_type(self.cpus, self.memory, self.gpus)

    def usage_figures(self) -> dict[str, float]:
        """cpusAverage, cpusMaximum, memoryAverageGiB, memoryMaximumGiB: declared, else DEFAULT_USAGE."""
        declared = dict(self.usage)
        return {key: declared.get(key, round(DEFAULT_USAGE[key] * (self.cpus if key.startswith("cpus")
                                                                     else self.memory), 3))
                for key in USAGE_KEYS}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dependsOn": list(self.depends_on),
            "durationSeconds": self.duration_seconds,
            "outputs": [
                {
                    "name": o.name,
                    "sizeBytes": o.size_bytes,
                    **({"filename": o.filename} if o.filename else {}),
                }
                for o in self.outputs
            ],
            "cpus": self.cpus,
            "memory": self.memory,
            "gpus": self.gpus,
            **({"usage": dict(self.usage)} if self.usage else {}),
        }


DEFAULT_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("align", (), 600.0, (OutputSpec("bam", 64 * 1024),), cpus=8, memory=32),
    TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 4 * 1024),), cpus=4, memory=16),
)


@dataclass(frozen=True)
class WorkflowSpec:
    tasks: tuple[TaskSpec, ...] = field(default_factory=lambda: DEFAULT_TASKS)

    def __post_init__(self) -> None:
        names = [t.name for t in self.tasks]
        if not names:
            raise ValidationException("sandbox-workflow.json declares no tasks")
        if len(set(names)) != len(names):
            raise ValidationException("sandbox-workflow.json: task names must be unique")
        known = set(names)
        for task in self.tasks:
            missing = set(task.depends_on) - known
            if missing:
                raise ValidationException(f"task {task.name} depends on unknown tasks {sorted(missing)}")
        self.topological_order()  # raises on cycles

    def topological_order(self) -> list[TaskSpec]:
        by_name = {t.name: t for t in self.tasks}
        done: list[TaskSpec] = []
        seen: set[str] = set()
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            if name in visiting:
                raise ValidationException(f"sandbox-workflow.json: dependency cycle through {name}")
            visiting.add(name)
            for dep in by_name[name].depends_on:
                visit(dep)
            visiting.discard(name)
            seen.add(name)
            done.append(by_name[name])

        for t in self.tasks:
            visit(t.name)
        return done

    def to_json(self) -> dict[str, Any]:
        return {"tasks": [t.to_json() for t in self.tasks]}


def spec_from_json(doc: Mapping[str, Any]) -> WorkflowSpec:
    try:
        tasks = []
        for raw in doc["tasks"]:
            outputs = tuple(
                OutputSpec(str(o["name"]), int(o.get("sizeBytes", 1024)), o.get("filename"))
                for o in raw.get("outputs", [{"name": "out"}])
            )
            tasks.append(
                TaskSpec(
                    name=str(raw["name"]),
                    depends_on=tuple(str(d) for d in raw.get("dependsOn", [])),
                    duration_seconds=float(raw.get("durationSeconds", 300)),
                    outputs=outputs,
                    cpus=int(raw.get("cpus", 2)),
                    memory=int(raw.get("memory", 4)),
                    gpus=int(raw.get("gpus", 0)),
                    usage=_usage(raw.get("usage") or {}),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationException(f"invalid {SPEC_FILE}: {exc}") from exc
    return WorkflowSpec(tuple(tasks))


def _usage(raw: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    unknown = set(raw) - set(USAGE_KEYS)
    if unknown:
        raise ValueError(f"usage: unknown figures {sorted(unknown)} (known: {list(USAGE_KEYS)})")
    return tuple(sorted((str(k), float(v)) for k, v in raw.items()))


def spec_from_zip(data: bytes) -> WorkflowSpec | None:
    """Read ``sandbox-workflow.json`` from a definition zip; ``None`` when the zip has none."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == SPEC_FILE]
            if not names:
                return None
            return spec_from_json(json.loads(zf.read(names[0])))
    except zipfile.BadZipFile as exc:
        raise ValidationException("definitionZip is not a valid zip archive") from exc
    except json.JSONDecodeError as exc:
        raise ValidationException(f"{SPEC_FILE} is not valid JSON: {exc}") from exc


def definition_zip(tasks: Iterable[TaskSpec], main: str = "main.wdl") -> bytes:
    """Build a definition zip holding a placeholder main file and ``sandbox-workflow.json``."""
    buf = io.BytesIO()
    spec = WorkflowSpec(tuple(tasks))
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(main, "version 1.0\nworkflow sandbox {}\n")
        zf.writestr(SPEC_FILE, json.dumps(spec.to_json()))
    return buf.getvalue()
