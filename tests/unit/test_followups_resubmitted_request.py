"""A resubmitted batch's recorded request (BATCH#<new>/REQUEST) names the same root and attempt as its
LINK: the re-runner falls back to the request when the LINK was never written (a stop in between)."""

from __future__ import annotations

from moto import mock_aws

from sandbox.moto_speedups import speedups
from sandbox.omics.faults import RESUBMIT_NEW_BATCH
from tests.launcher_env import launcher_env
from tests.unit.test_batch_resubmission import _failed_event, _launch, _plan


def test_a_resubmitted_batch_records_its_root_and_attempt_with_its_request() -> None:
    with speedups(), mock_aws(), launcher_env(faults=_plan(RESUBMIT_NEW_BATCH)) as env:
        failed = _launch(env)
        result = env.launcher.on_batch_failed(_failed_event(env, failed, "e1"))
        new = str(result.new_batch_id)
        link = env.repository.get_batch_link(new)
        recorded = env.repository.get_batch_request(new)
        assert link is not None and recorded is not None
        assert (recorded["root_batch_id"], int(recorded["attempt"])) == (link["root_batch_id"], int(link["attempt"]))
