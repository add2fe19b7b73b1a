"""Found by review: a standalone failure that waited for its delayed re-run was re-run as the run that took its id.

What the user saw: s1 failed for lack of capacity (INSTANCE_RESERVATION_FAILED, re-run in 30 minutes); meanwhile it
was deleted (its DELETED event lost) and HealthOmics gave its id to a new run of sample s2. When the wait ended,
the re-runner trusted the recorded summary of (id, s1's uuid) and called StartRun(runId=<id>): HealthOmics copied
s2's run, tagged as attempt 1 of sample s1 (a sample mix-up). It rests on HEALTHOMICS.md: ids of deleted runs are
reused (the uuid tells the runs apart), events are best effort, and StartRun(runId) copies the run the id names
when it is called. Now one GetRun before StartRun proves the id still names the failed run's uuid (none is added
when the path already asked GetRun); otherwise the decision is recorded GONE with the reason and nothing starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rerunner.logic import Decided
from sandbox.omics import FaultPlan, RunFault

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture


def test_a_deleted_failed_run_is_never_re_run_as_the_run_that_took_its_id(make: Callable[..., Any]) -> None:
    h = make(faults=FaultPlan(runs=[RunFault(reason="INSTANCE_RESERVATION_FAILED", at_task="call", run_name="s1")]))
    h.emulator.reuse_deleted_run_ids = True
    s1 = h.start_run("s1")
    h.emulator.run_until_idle()
    s1_uuid = h.runs()[s1].uuid
    h.deliver()  # recorded (FAILED, enriched) and DELAYED 30 minutes
    # the user deletes s1; its DELETED event is lost
    h.omics.delete_run(id=s1)
    h.events[:] = [e for e in h.events if e.get("detail", {}).get("status") != "DELETED"]
    s2 = h.start_run("s2")
    assert s2 == s1 and h.runs()[s2].uuid != s1_uuid  # s2 took s1's id
    h.run()  # the delayed work wakes
    copies = [(r.id, r.parameters, r.tags.get("autopilot:sample"), r.tags.get("autopilot:parent-run-uuid"))
              for r in h.emulator.runs.values() if r.source_run_id == s1]
    assert copies == [], f"s1 ({s1}, {s1_uuid}, deleted) was 're-run' by copying the run that took its id: {copies}"
    # the failure's own decision says why it was not re-run
    gone = [i for i in h.repository.run_items(s1, s1_uuid) if i["sk"].startswith("RERUN#")]
    assert [d["decision"] for d in gone] == [Decided.GONE]
    assert "was deleted" in gone[0]["why"] and h.runs()[s2].uuid in gone[0]["why"]
