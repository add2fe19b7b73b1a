"""The brake: too many failures of one workflow in a window pause its automatic re-runs; the work skipped
meanwhile is held, and releasing the brake re-queues it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rerunner.common import CLAIM_TTL_DAYS, Outcome, RerunnerCore
from rerunner.work import Work
from shared.errors import PermanentError
from shared.provenance import keys
from shared.status import from_iso_time, iso_time


def brake_pk(workflow_id: str) -> str:
    return f"BRAKE#{workflow_id}"


class Brake(RerunnerCore):
    """The failure brake, which both kinds of re-run consult before they start anything."""

    def _count_and_check_brake(
        self, workflow_id: str | None, failure: str, failures: int, work: Work, outcome: Outcome
    ) -> bool:
        """Count a failure (a run, or a batch's failed members) once, in the window it was first handled in;
        engage the brake when that window's count exceeds the threshold. Returns whether automatic re-runs of
        the workflow are paused."""
        brake = self.policy.brake
        if not brake.enabled or not workflow_id or failures <= 0:
            return False
        now = self.now()
        pk = brake_pk(workflow_id)
        if work.origin != "event":
            # A delayed re-run waking up, or work released from the brake: counted when its event was handled;
            # counting it again in the window it comes back in would pause the workflow for old failures.
            return _paused(self.repository.get_item(pk, "STATE") or {}, now)
        # Its first handling fixes its window, so a duplicate event or a retry, even in a later window, counts
        # nothing more; the marker lives as long as a claim (an archived event replayed must not count).
        expires_at = int((now + timedelta(days=CLAIM_TTL_DAYS)).timestamp())
        first = from_iso_time(self.repository.first_seen(pk, f"COUNTED#{failure}", iso_time(now), expires_at))
        window = brake.windowMinutes * 60
        start_epoch = int(first.timestamp()) // window * window
        window_start = iso_time(datetime.fromtimestamp(start_epoch, UTC))
        window_sk = f"WINDOW#{window_start}"
        counted = self.repository.count_once(pk, window_sk, failure, failures, start_epoch + window + 86_400)
        total = counted.total
        state = self.repository.get_item(pk, "STATE") or {}
        if _paused(state, now):
            if total > brake.maxFailures:
                # This window's storm is held by the pause already on: that is its one pause, and a release (or
                # the cool-down's end) must not be followed by a second pause for the same window.
                self.repository.mark_window_paused(pk, window_sk, iso_time(now))
            return True
        # At most one pause per window: once a pause ended (cool-down or release), the failures counted in its
        # window, in an earlier one, or in a window that went over the limit while paused, do not pause the
        # workflow again; a later window counts afresh. Only a failure counted now can start one: a duplicate
        # or a retry adds nothing (a crossing lost to a crash is caught by the window's next failure).
        if (
            counted.added
            and total > brake.maxFailures
            and str(state.get("window_start") or "") < window_start
            and not (self.repository.get_item(pk, window_sk) or {}).get("paused_at")
        ):
            until = now + timedelta(minutes=brake.coolDownMinutes) if brake.coolDownMinutes else None
            self.repository.put_record(
                {
                    keys.PK: pk,
                    keys.SK: "STATE",
                    "entity": "RERUN_BRAKE",
                    "workflow_id": workflow_id,
                    "status": "PAUSED",
                    "paused_at": iso_time(now),
                    "paused_until": iso_time(until) if until else None,
                    "reason": f"{total} failures of workflow {workflow_id} since {window_start} "
                    f"(more than {brake.maxFailures} in {brake.windowMinutes} min)",
                    "failures": total,
                    "window_start": window_start,
                }
            )
            outcome.brake_engaged = True
            return True
        return False

    def _hold(self, workflow_id: str | None, work: Work, record: dict[str, Any]) -> None:
        """Keep work skipped while braked, so releasing the brake re-queues it (nothing is lost)."""
        self.repository.put_record(
            {
                keys.PK: brake_pk(workflow_id or "-"),
                keys.SK: f"HELD#{work.kind}#{work.id}",
                "entity": "RERUN_HELD",
                "kind": work.kind,
                "id": work.id,
                "held_at": iso_time(self.now()),
                **{
                    k: v
                    for k, v in record.items()
                    if k in ("run_id", "batch_id", "members", "failure_reason", "attempt")
                },
            }
        )

    def release_brake(self, workflow_id: str, released_by: str = "operator") -> dict[str, Any]:
        """Resume automatic re-runs of a workflow and re-queue the work held while it was paused."""
        if not self.config.queue_url:
            raise PermanentError("releasing the brake needs RERUN_QUEUE_URL")
        pk = brake_pk(workflow_id)
        now = iso_time(self.now())
        state = self.repository.get_item(pk, "STATE") or {}
        self.repository.put_record(
            {
                **state,
                keys.PK: pk,
                keys.SK: "STATE",
                "entity": "RERUN_BRAKE",
                "workflow_id": workflow_id,
                "status": "RELEASED",
                "released_at": now,
                "released_by": released_by,
            }
        )
        requeued = 0
        for held in self.repository.items_with_prefix(pk, "HELD#"):
            work = Work(kind=held["kind"], id=held["id"])
            self.aws.send_delayed(self.config.queue_url, work.message("release"), 0)
            self.repository.delete_item(pk, held[keys.SK])
            requeued += 1
        return {"workflowId": workflow_id, "status": "RELEASED", "requeued": requeued, "releasedAt": now}

    def brake_status(self, workflow_id: str) -> dict[str, Any]:
        pk = brake_pk(workflow_id)
        state = self.repository.get_item(pk, "STATE") or {}
        held = self.repository.items_with_prefix(pk, "HELD#")
        return {
            "workflowId": workflow_id,
            "paused": _paused(state, self.now()),
            "state": state,
            "held": [{"kind": h["kind"], "id": h["id"], "held_at": h.get("held_at")} for h in held],
        }


def _paused(state: dict[str, Any], now: datetime) -> bool:
    if state.get("status") != "PAUSED":
        return False
    until = state.get("paused_until")
    return until is None or iso_time(now) < str(until)

