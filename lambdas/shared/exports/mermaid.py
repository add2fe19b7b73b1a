"""A lineage diagram for humans: mermaid flowchart of attempts (root → re-runs) and their tasks."""

from __future__ import annotations

import re

from shared.exports.lineage import AttemptRecord, RunLineage

_CLASSES = {"COMPLETED": "completed", "FAILED": "failed", "CANCELLED": "cancelled"}


def _node(text: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", text)


def _label(text: str) -> str:
    return text.replace('"', "'")


def _attempt_label(attempt: AttemptRecord, subject: str) -> str:
    s = attempt.summary
    lines = [f"run {attempt.run_id}{' ★' if attempt.run_id == subject else ''}",
             f"attempt {attempt.attempt} · {attempt.status or 'unknown'}"]
    if s.get("failure_reason"):
        lines.append(str(s["failure_reason"]))
    if s.get("sample"):
        lines.append(f"sample {s['sample']}")
    hits = sum(1 for t in attempt.tasks if t.cache_hit)
    if attempt.tasks:
        lines.append(f"{len(attempt.tasks)} tasks, {hits} from cache")
    return "<br/>".join(_label(line) for line in lines)


def lineage_mermaid(lineage: RunLineage, with_tasks: bool = True) -> str:
    lines = ["flowchart LR"]
    for attempt in lineage.attempts:
        node = _node(attempt.run_id)
        lines.append(f'  {node}["{_attempt_label(attempt, lineage.run_id)}"]')
        css = _CLASSES.get(attempt.status or "")
        if css:
            lines.append(f"  class {node} {css}")
        if with_tasks and attempt.tasks:
            lines.append(f'  subgraph {node}_tasks["tasks of {attempt.run_id}"]')
            lines.append("    direction TB")
            for task in attempt.tasks:
                mark = " (cache hit)" if task.cache_hit else ""
                tnode = _node(f"{attempt.run_id}_{task.task_id}")
                lines.append(f'    {tnode}["{_label(task.name or task.task_id)}{mark}<br/>{task.status or ""}"]')
                if task.cache_hit:
                    lines.append(f"    class {tnode} cached")
            lines.append("  end")
            lines.append(f"  {node} -.-> {node}_tasks")
    known = {a.run_id for a in lineage.attempts}
    for attempt in lineage.attempts:
        parent = attempt.summary.get("parent_run_id")
        if parent and parent in known:
            reason = attempt.summary.get("rerun_reason") or "re-run"
            lines.append(f"  {_node(parent)} -->|{_label(str(reason))}| {_node(attempt.run_id)}")
    lines += ["  classDef completed fill:#d4f7d4,stroke:#2b8a3e",
              "  classDef failed fill:#ffd8d8,stroke:#c92a2a",
              "  classDef cancelled fill:#eeeeee,stroke:#868e96",
              "  classDef cached fill:#dbe4ff,stroke:#364fc7"]
    return "\n".join(lines) + "\n"
