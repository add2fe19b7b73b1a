"""The re-runner: a failed run (or a processed batch's failed members) becomes at most one next attempt,
started from the run cache, when the policy says it is worth it.

Exactly once per (failed run, attempt) / (batch, attempt, group):
- a conditional claim item in the provenance table is taken before starting; its result (the new run or
  batch id) is written after, so duplicates and redeliveries skip without calling HealthOmics;
- the StartRun / StartRunBatch requestId is derived from the same key, so a start retried after a crash
  or a timeout (claim taken, no result recorded) returns what the first call created.
Every failed run handled gets a decision record RUN#<runId>/RERUN#<attempt:02> saying what was decided
and why; a follow-up batch gets BATCH#<batchId>/RERUN#<attempt:02>#<group>.

`Rerunner` combines the decisions, each in a module of its own: standalone.py (a failed run), follow_up.py
(a processed batch's failed members), brake.py (pausing a workflow's re-runs); common.py holds what they
share. What callers take from the re-runner stays importable from here.
"""

from __future__ import annotations

from rerunner.brake import brake_pk
from rerunner.common import NOT_STARTED_HERE, Config, Decided, Outcome
from rerunner.follow_up import FollowUps, batch_request_id, follow_up_batch_name
from rerunner.standalone import StandaloneRuns, run_request_id
from rerunner.work import Work

# what the handler, tests and benchmarks take from here
__all__ = [
    "NOT_STARTED_HERE",
    "Config",
    "Decided",
    "Outcome",
    "Rerunner",
    "batch_request_id",
    "brake_pk",
    "follow_up_batch_name",
    "run_request_id",
]


class Rerunner(StandaloneRuns, FollowUps):
    def handle(self, work: Work) -> Outcome:
        if work.kind == "run":
            return self.handle_run(work)
        return self.handle_batch(work)
