"""A batch that failed as a whole for a transient reason is resubmitted, whatever the service answers.

Guide: 실패한 실행 처리 > 배치 수준 실패, 일시적인 서비스 오류 — "동일한 배치를 다시 제출하여 재시도합니다.
멱등성 requestId에 동일한를 사용합니다" (resubmit the same batch with the same requestId). What StartRunBatch
then returns is not documented; the emulator plays each answer (FaultPlan.batch_resubmission) and
shared.batch_submit.resubmit_batch / the launcher handle all three."""

from __future__ import annotations

import io
from typing import Any

import boto3
from moto import mock_aws

from autopilot_cli.app import main
from autopilot_cli.target import TableTarget
from sandbox.moto_speedups import speedups
from sandbox.omics import BatchFault, FaultPlan
from sandbox.omics.faults import RESUBMIT_FAILED_BATCH, RESUBMIT_NEW_BATCH, RESUBMIT_SAME_BATCH
from shared.batch_submit import NEW_BATCH, NOT_RESTARTED, SAME_BATCH
from shared.events import parse_omics_event
from shared.provenance import keys
from tests.factories import reference_event
from tests.launcher_env import BUCKET, LauncherEnv, csv_sheet, launcher_env

TRANSIENT = ("INTERNAL_SERVER_EXCEPTION", "The service encountered a transient error. Retry the batch.")


def _failed_event(env: LauncherEnv, batch_id: str, event_id: str) -> Any:
    batch = env.emu.batches[batch_id]
    raw = reference_event("runbatch-status-change.failed")
    raw["id"] = event_id
    raw["detail"].update({"batchId": batch_id, "arn": batch.arn, "failureReason": batch.failure_reason,
                          "failureMessage": batch.failure_message})
    return parse_omics_event(raw)


def _launch(env: LauncherEnv) -> str:
    env.upload("submissions/t.csv", csv_sheet(3))
    outcome = env.launcher.launch_object(BUCKET, "submissions/t.csv")
    assert outcome is not None and outcome.batch_id
    env.emu.run_until_idle()
    assert env.emu.batches[outcome.batch_id].status == "FAILED"
    return outcome.batch_id


def _plan(answer: str, times: int | None = 1) -> FaultPlan:
    return FaultPlan(batches=[BatchFault(reason=TRANSIENT[0], message=TRANSIENT[1], times=times)],
                     batch_resubmission=answer)


def test_a_new_batch_answer_is_linked_to_the_failed_batch() -> None:
    with speedups(), mock_aws(), launcher_env(faults=_plan(RESUBMIT_NEW_BATCH)) as env:
        # Given a launched batch that failed as a whole, transiently
        failed = _launch(env)
        # When its FAILED event is handled (twice: duplicated delivery)
        result = env.launcher.on_batch_failed(_failed_event(env, failed, "e1"))
        duplicate = env.launcher.on_batch_failed(_failed_event(env, failed, "e1"))
        # Then one new batch carries the same request, and provenance links the failed batch to it
        assert result.action == "RESUBMITTED" and result.new_batch_id not in (None, failed)
        assert duplicate.action == "ALREADY_HANDLED" and env.emu.calls["StartRunBatch"] == 2
        new = str(result.new_batch_id)
        assert env.emu.batches[new].request_id == env.emu.batches[failed].request_id
        link = env.repository.get_batch_link(new)
        assert link is not None and (link["parent_batch_id"], link["root_batch_id"]) == (failed, failed)
        forward = env.repository.get_item(keys.batch_pk(failed), "RESUBMITTED#01")
        assert forward is not None and forward["new_batch_id"] == new
        request = env.repository.get_batch_request(new)
        assert request is not None and request["origin"] == "resubmission" and request["resubmission_of"] == failed
        env.emu.run_until_idle()
        assert env.emu.batches[new].status == "PROCESSED" and env.alarms() == []


def test_the_same_batch_answer_is_followed_and_a_second_failure_is_not_taken_for_a_duplicate() -> None:
    # Given a service that restarts the failed batch under its own id, and a fault that fails it twice
    with speedups(), mock_aws(), launcher_env(faults=_plan(RESUBMIT_SAME_BATCH, times=2)) as env:
        batch_id = _launch(env)
        event = _failed_event(env, batch_id, "e1")
        first = env.launcher.on_batch_failed(event)
        assert (first.action, first.new_batch_id) == ("RESUBMITTED", batch_id)
        # a late duplicate of the first failure, while the batch runs again: nothing is resubmitted
        assert env.launcher.on_batch_failed(event).action == "ALREADY_HANDLED"
        # When the restarted batch fails again (a new event), it is resubmitted again
        env.emu.run_until_idle()
        assert env.emu.batches[batch_id].status == "FAILED"
        second = env.launcher.on_batch_failed(_failed_event(env, batch_id, "e2"))
        assert (second.action, second.new_batch_id) == ("RESUBMITTED", batch_id)
        # Then it completes; the request record counts both resubmissions; three StartRunBatch in all
        env.emu.run_until_idle()
        assert env.emu.batches[batch_id].status == "PROCESSED"
        request = env.repository.get_batch_request(batch_id)
        assert request is not None and request["resubmission_count"] == 2 and request["origin"] == "launcher"
        assert env.emu.calls["StartRunBatch"] == 3 and env.alarms() == []


def test_the_failed_batch_answer_is_recorded_and_alarmed_once() -> None:
    with speedups(), mock_aws(), launcher_env(faults=_plan(RESUBMIT_FAILED_BATCH)) as env:
        batch_id = _launch(env)
        result = env.launcher.on_batch_failed(_failed_event(env, batch_id, "e1"))
        again = env.launcher.on_batch_failed(_failed_event(env, batch_id, "e1"))
        assert (result.action, again.action) == ("RECORDED", "ALREADY_HANDLED")
        claim = env.repository.get_item(keys.batch_pk(batch_id), "RESUBMISSION")
        assert claim is not None and claim["answer"] == NOT_RESTARTED
        assert len(env.alarms()) == 1 and env.emu.runs == {}


def test_a_persistent_failure_gives_up_after_the_bounded_resubmissions() -> None:
    # Given a fault that fails every validation, under the same-batch answer (the loop most at risk)
    with speedups(), mock_aws(), launcher_env(faults=_plan(RESUBMIT_SAME_BATCH, times=None)) as env:
        batch_id = _launch(env)
        actions = []
        for n in range(1, 6):
            actions.append(env.launcher.on_batch_failed(_failed_event(env, batch_id, f"e{n}")).action)
            env.emu.run_until_idle()
        # Then three resubmissions, then one alarm; nothing more
        assert actions == ["RESUBMITTED"] * 3 + ["GAVE_UP", "ALREADY_HANDLED"]
        assert env.emu.calls["StartRunBatch"] == 4


def test_answers_are_named_alike_in_the_emulator_and_the_submitter() -> None:
    assert (RESUBMIT_SAME_BATCH, RESUBMIT_NEW_BATCH) == (SAME_BATCH, NEW_BATCH)


# GetBatch's failureReason is the service's free-text message (guide: 실패한 실행 처리 > 배치 수준 실패, its table of
# "failureReason 메시지 예": "배치에 100001회 실행이 있지만 100000회 실행이 최대입니다." and the like), while the
# event's failureReason is a category (the guide's example event, runbatch-status-change.failed:
# VALIDATION_EXCEPTION). A FAILED event healed by the reconciler carries no category, so the launcher reads
# GetBatch: that text can name a sample or an S3 key and must stay in provenance, out of alarms and logs.
SAMPLE = "PATIENT-S000001"


def _alarm_subjects(env: LauncherEnv) -> list[str]:
    """The Subject of every alarm the launcher publishes from now on (the alarm queue gets raw messages)."""
    subjects: list[str] = []
    env.launcher.store.sns.meta.events.register(
        "before-call.sns.Publish", lambda params, **_: subjects.append(params["body"]["Subject"]))
    return subjects


def _healed_event(env: LauncherEnv, batch_id: str) -> Any:
    from datetime import UTC, datetime

    from reconciler.logic import batch_event

    answer = env.launcher.omics.get_batch(batchId=batch_id)
    event = parse_omics_event(batch_event(answer, "FAILED", datetime(2026, 1, 5, tzinfo=UTC)))
    assert event.detail.failureReason is None  # the reconciler's event: the text is the message
    return event


def test_a_healed_batch_failure_alarms_without_the_services_text(shipped_logs: Any) -> None:
    message = f"Run setting {SAMPLE}: input s3://lab-data/{SAMPLE}.bam is not accessible"
    with speedups(), mock_aws(), launcher_env(faults=FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION",
                                                                                   message=message)])) as env:
        # Given a launched batch that failed validation, whose FAILED event was lost and healed from GetBatch
        batch_id = _launch(env)
        subjects = _alarm_subjects(env)
        # When the launcher handles the healed event
        result = env.launcher.on_batch_failed(_healed_event(env, batch_id))
        # Then it is recorded and alarmed once, and neither the alarm (subject, body) nor the logs quote the text
        assert result.action == "RECORDED"
        (alarm,) = env.alarms()
        assert SAMPLE not in str(alarm) and "lab-data" not in str(alarm)
        assert subjects == [f"HealthOmics batch {batch_id} failed: {result.kind}"]
        assert SAMPLE not in shipped_logs.getvalue()
        # and provenance keeps the whole text (nothing lost), which `autopilot submission show` prints
        claim = env.repository.get_item(keys.batch_pk(batch_id), "FAILURE_ALARM")
        assert claim is not None and claim["message"] == message
        submission_id = str(env.repository.get_batch_request(batch_id)["submission_id"])  # type: ignore[index]
        for argv in (["--json", "submission", "show", submission_id], ["submission", "show", submission_id]):
            stdout = io.StringIO()
            assert main(argv, target=TableTarget(env.repository.table_name, boto3.Session()), stdout=stdout) == 0
            assert message in stdout.getvalue()


def test_a_healed_transient_failure_is_resubmitted_without_logging_the_services_text(shipped_logs: Any) -> None:
    message = f"The service encountered a transient error reading s3://lab-data/{SAMPLE}.bam. Retry the batch."
    with speedups(), mock_aws(), launcher_env(faults=FaultPlan(
            batches=[BatchFault(reason=TRANSIENT[0], message=message)], batch_resubmission=RESUBMIT_NEW_BATCH)) as env:
        # Given a batch that failed transiently, whose FAILED event was lost and healed from GetBatch
        batch_id = _launch(env)
        # When the launcher handles the healed event
        result = env.launcher.on_batch_failed(_healed_event(env, batch_id))
        # Then the text still classifies it (transient) and the batch is resubmitted,
        # and the INFO line that says so does not quote the text
        assert result.action == "RESUBMITTED" and result.new_batch_id not in (None, batch_id)
        assert "batch resubmitted" in shipped_logs.getvalue() and SAMPLE not in shipped_logs.getvalue()
        claim = env.repository.get_item(keys.batch_pk(batch_id), "RESUBMISSION")
        assert claim is not None and claim["message"] == message and env.alarms() == []


def test_an_events_failure_category_still_names_the_alarm() -> None:
    with speedups(), mock_aws(), launcher_env(faults=FaultPlan(batches=[BatchFault(
            reason="VALIDATION_EXCEPTION", message=f"{SAMPLE} is invalid")])) as env:
        batch_id = _launch(env)
        subjects = _alarm_subjects(env)
        env.launcher.on_batch_failed(_failed_event(env, batch_id, "e1"))
        (alarm,) = env.alarms()
        assert subjects == [f"HealthOmics batch {batch_id} failed: VALIDATION_EXCEPTION"]
        assert alarm["reason"] == "VALIDATION_EXCEPTION" and alarm["kind"] == "VALIDATION" and SAMPLE not in str(alarm)
