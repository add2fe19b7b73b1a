"""Launcher: launch attempts of a sheet whose batch FAILED as a whole, and when a failure reopens its submission.
moto + the HealthOmics emulator (sandbox/)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from sandbox.moto_speedups import speedups
from sandbox.omics import BatchFault, FaultPlan
from sandbox.omics.faults import RESUBMIT_FAILED_BATCH, RESUBMIT_SAME_BATCH
from tests.launcher_env import BUCKET, batch_failed_event, csv_sheet, launcher_env

TRANSIENT = ("INTERNAL_SERVER_EXCEPTION", "The service encountered a transient error. Retry the batch.")


def test_a_reasonless_copy_of_a_transient_failure_does_not_fail_a_batch_restarted_in_place() -> None:
    """Seen: a batch restarted in place after a transient failure (SAME_BATCH, same id) got a reasonless copy of
    its FAILED event (healed by the reconciler, or redelivered); GetBatch had no reason any more, the failure was
    classed UNKNOWN, the submission marked FAILED although its batch ran, and the next upload of the sheet started
    a second batch of the same samples. Rests on the guide (batch-level failures: only a batch that failed and is
    not resubmitted is fixed and submitted again) and on GetBatch's status: the submission is reopened only when
    GetBatch proves the batch still FAILED; a copy of a failure the service has restarted is ignored."""
    faults = FaultPlan(batches=[BatchFault(reason=TRANSIENT[0], message=TRANSIENT[1], times=1)],
                       batch_resubmission=RESUBMIT_SAME_BATCH)
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        version = env.upload(key, csv_sheet(3))
        first = env.launcher.launch_object(BUCKET, key, version)
        assert first is not None and first.batch_id
        env.emu.run_until_idle()
        assert env.emu.batches[first.batch_id].status == "FAILED"
        # the event carries no category: the launcher reads it from GetBatch (TRANSIENT) and resubmits
        handled = env.launcher.on_batch_failed(batch_failed_event(env, first.batch_id, "e1", None, None))
        assert (handled.kind, handled.action, handled.new_batch_id) == ("TRANSIENT", "RESUBMITTED", first.batch_id)
        assert env.emu.batches[first.batch_id].status != "FAILED"  # running again, same id
        # a duplicate delivery of that same event, while the batch runs again
        env.launcher.on_batch_failed(batch_failed_event(env, first.batch_id, "e1", None, None))
        submission = env.repository.get_submission(first.submission_id) or {}
        # the sheet uploaded again
        again = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert again is not None
        assert submission.get("status") == "SUBMITTED" and again.status == "DUPLICATE", (
            f"batch {first.batch_id} restarted in place and running ({env.emu.batches[first.batch_id].status}), "
            f"yet the submission was made {submission.get('status')} and a re-upload was {again.status} with "
            f"batch {again.batch_id}: {env.emu.calls['StartRunBatch']} StartRunBatch calls, "
            f"{len(env.emu.batches)} batches of the same samples")


def test_a_batch_that_failed_before_its_submission_was_recorded_submitted_still_reopens_it() -> None:
    """Seen: the launcher started batch B1 and stopped (Lambda timeout) before recording SUBMITTED; B1 FAILED
    validation while the submission was ACCEPTED, so its failure reopened nothing (its alarm claim taken, no
    redelivery retried it); the sheet's message came back, the same requestId returned B1 and SUBMITTED was
    recorded with a FAILED batch: every re-upload after the fix was a DUPLICATE and the samples never ran. Rests
    on the guide (batch-level failures: fix the cause and submit a new batch) and on BATCH#<id>/REQUEST naming
    the submission and requestId: an ACCEPTED submission with this batch's requestId is reopened (FAILED ranks
    above the SUBMITTED the resumed launch would record)."""
    faults = FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION", message="Invalid JSON format in run "
                                           "configuration", times=1)], batch_resubmission=RESUBMIT_FAILED_BATCH)
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        version = env.upload(key, csv_sheet(3))
        original = env.repository.record_submission
        crashed = {"n": 0}

        def crash_on_submitted(submission_id, status, recorded_at, attributes, attempt=1):  # type: ignore[no-untyped-def]
            if status == "SUBMITTED" and not crashed["n"]:
                crashed["n"] += 1
                raise RuntimeError("Lambda timed out")
            return original(submission_id, status, recorded_at, attributes, attempt)

        env.repository.record_submission = crash_on_submitted  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="Lambda timed out"):
            env.launcher.launch_object(BUCKET, key, version)
        (batch_id,) = env.emu.batches
        env.emu.run_until_idle()
        assert env.emu.batches[batch_id].status == "FAILED"
        env.launcher.on_batch_failed(batch_failed_event(env, batch_id, "e1", "VALIDATION_EXCEPTION",
                                                   "Invalid JSON format in run configuration"))
        resumed = env.launcher.launch_object(BUCKET, key, version)  # the sheet's message comes back
        assert resumed is not None
        reupload = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert reupload is not None
        submission = env.repository.get_submission(resumed.submission_id) or {}
        assert reupload.status == "SUBMITTED", (
            f"batch {batch_id} FAILED validation; the submission is {submission.get('status')} with batch "
            f"{submission.get('batch_id')} and a re-upload after the fix is {reupload.status}: the samples never run")


def test_a_transient_failure_the_service_does_not_restart_leaves_the_sheet_launchable_again() -> None:
    """Seen: a batch FAILED transiently; resubmitted with the same requestId, the service answered with the failed
    batch itself (NOT_RESTARTED: nothing runs). The failure was recorded and alarmed, but only the non-transient
    path reopened a submission: it stayed SUBMITTED with a FAILED batch and every re-upload was a DUPLICATE, so
    the samples never ran. Rests on the guide (batch-level failures: a batch not resubmitted is fixed and
    submitted again): every path that resubmits nothing (not transient, NOT_RESTARTED, given up) reopens it."""
    faults = FaultPlan(batches=[BatchFault(reason=TRANSIENT[0], message=TRANSIENT[1], times=1)],
                       batch_resubmission=RESUBMIT_FAILED_BATCH)
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        first = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert first is not None and first.batch_id
        env.emu.run_until_idle()
        handled = env.launcher.on_batch_failed(batch_failed_event(env, first.batch_id, "e1", *TRANSIENT))
        assert handled.action == "RECORDED" and env.emu.batches[first.batch_id].status == "FAILED"
        again = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert again is not None
        status = (env.repository.get_submission(first.submission_id) or {}).get("status")
        assert again.status == "SUBMITTED", (
            f"batch {first.batch_id} FAILED and was not restarted, yet the submission is {status} and a re-upload "
            f"is {again.status} (batch {again.batch_id}): the samples never run")


def test_a_transient_failure_given_up_on_leaves_the_sheet_launchable_again() -> None:
    """Seen: a batch that kept failing transiently was resubmitted MAX_RESUBMISSIONS times and then given up on
    (alarmed), but its submission stayed SUBMITTED: every re-upload of the sheet was a DUPLICATE. Rests on the
    guide (batch-level failures): once nothing resubmits it, the sheet can be launched again."""
    faults = FaultPlan(batches=[BatchFault(reason=TRANSIENT[0], message=TRANSIENT[1], times=None)],
                       batch_resubmission=RESUBMIT_SAME_BATCH)
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        first = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert first is not None and first.batch_id
        actions = []
        for n in range(1, 5):
            env.emu.run_until_idle()
            event = batch_failed_event(env, first.batch_id, f"e{n}", *TRANSIENT)
            actions.append(env.launcher.on_batch_failed(event).action)
        assert actions == ["RESUBMITTED"] * 3 + ["GAVE_UP"]
        assert (env.repository.get_submission(first.submission_id) or {}).get("status") == "FAILED"
        again = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert again is not None and (again.status, again.attempt) == ("SUBMITTED", 2)


def test_a_late_redelivery_of_an_earlier_upload_does_not_launch_another_attempt() -> None:
    """Seen: upload v1 launched attempt 1 (batch FAILED validation), upload v2 attempt 2 (FAILED again); a late
    redelivery of v1's Object Created event (S3 event notifications are delivered at least once and may come out
    of order) was compared only with the last launched version (v2) and launched attempt 3: a batch nobody
    uploaded for, while the operator was still fixing the cause. Rests on S3's notification semantics: the
    submission keeps every version it launched (`launched_versions`), and any of them again is a DUPLICATE."""
    faults = FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION", message="Invalid JSON format in run "
                                           "configuration", times=2)])
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        v1 = env.upload(key, csv_sheet(3))
        batches = []
        for n, version in enumerate((v1, env.upload(key, csv_sheet(3))), start=1):
            outcome = env.launcher.launch_object(BUCKET, key, version)
            assert outcome is not None and outcome.status == "SUBMITTED" and outcome.batch_id
            env.emu.run_until_idle()
            env.launcher.on_batch_failed(batch_failed_event(env, outcome.batch_id, f"e{n}", "VALIDATION_EXCEPTION",
                                                       "Invalid JSON format in run configuration"))
            batches.append(outcome.batch_id)
        stale = env.launcher.launch_object(BUCKET, key, v1)  # v1's notification, delivered again
        assert stale is not None
        assert stale.status == "DUPLICATE", (
            f"a redelivery of upload v1 (already launched as attempt 1, batch {batches[0]}) was {stale.status} "
            f"as attempt {stale.attempt}, batch {stale.batch_id}: {env.emu.calls['StartRunBatch']} StartRunBatch")


def test_a_processed_batch_does_not_reopen_its_sheet_for_a_second_launch() -> None:
    """Regression (review G): a RunBatch FAILED event was believed without asking HealthOmics, so a forged one
    (any EventBridge rule of the account could put it on the launch queue, tests/infrastructure/
    test_queue_policies.py) turned the submission of a PROCESSED batch FAILED and the same sheet, uploaded again,
    started a second batch of every sample. lambdas/launcher/logic.py reopens a submission only when GetBatch
    says the batch still FAILED (`_reopen_submission`)."""
    with speedups(), mock_aws(), launcher_env() as env:
        env.upload("submissions/cohort.csv", csv_sheet(3))
        outcome = env.launcher.launch_object(BUCKET, "submissions/cohort.csv")
        assert outcome is not None and outcome.status == "SUBMITTED" and outcome.batch_id
        batch_id = outcome.batch_id
        env.emu.run_until_idle()
        assert env.emu.batches[batch_id].status == "PROCESSED"  # the batch did not fail
        env.launcher.on_batch_failed(batch_failed_event(env, batch_id, "f2", "VALIDATION_EXCEPTION", "forged"))
        status = (env.repository.get_submission(
            env.repository.get_batch_request(batch_id)["submission_id"]) or {}).get("status")
        version = env.upload("submissions/cohort.csv", csv_sheet(3))  # the same bytes, uploaded again
        again = env.launcher.launch_object(BUCKET, "submissions/cohort.csv", version)
        assert again is not None
        assert again.status == "DUPLICATE" and env.emu.calls["StartRunBatch"] == 1, (
            f"batch {batch_id} is PROCESSED per GetBatch, yet after a FAILED event the submission became "
            f"{status!r} and the same sheet started batch {again.batch_id} (attempt {again.attempt}): "
            f"StartRunBatch calls={env.emu.calls['StartRunBatch']}")
