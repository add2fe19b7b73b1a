"""Right-sizing end to end in the sandbox: the emulator writes each completed run's manifest to (moto)
CloudWatch Logs, the stack's rule routes COMPLETED runs to the right-sizing queue, the real handler reads
the stream, and `autopilot rightsize batch` answers from what it stored.

Hand arithmetic (headroom 5 %, the default): `align` asks 8 vCPUs / 32 GiB (the service places it on
omics.m.2xlarge) and peaks at 3 vCPUs / 12 GiB (declared in the spec): ceil(3.15) = 4 vCPUs,
ceil(12.6) = 13 GiB -> omics.m.xlarge (4, 16). Prices are TEST FIGURES."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from autopilot_cli.app import main
from autopilot_cli.target import SandboxTarget
from sandbox.local import STACK_NAME, LocalAccount
from sandbox.omics import OutputSpec, TaskSpec
from shared.cost.prices import PriceLine, price_list, to_snapshot
from shared.provenance.rightsizing_repository import DONE, MANIFEST_MISSING, RightsizingRepository

pytestmark = pytest.mark.slow

TASKS = [
    TaskSpec("align", (), 600.0, (OutputSpec("bam", 4096),), cpus=8, memory=32,
             usage=(("cpusMaximum", 3.0), ("memoryMaximumGiB", 12.0))),
    TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 1024),), cpus=4, memory=16),
]


def _cohort(account: LocalAccount, samples: int) -> str:
    workflow = account.emulator.register_workflow("wgs", tasks=TASKS)
    outputs = account.outputs
    return str(account.omics.start_run_batch(
        requestId="cohort", batchName="cohort",
        tags={"autopilot:submission": "cohort", "autopilot:stack": STACK_NAME},
        defaultRunSetting={"workflowId": workflow, "roleArn": outputs["OmicsServiceRoleArn"],
                           "outputUri": f"s3://{outputs['RunOutputsBucketName']}/out"},
        batchRunSettings={"inlineSettings": [{"runSettingId": f"s{i}", "parameters": {"sample": f"s{i}"}}
                                             for i in range(samples)]},
    )["id"])


def test_a_cohort_is_right_sized_from_manifests_written_after_completion(tmp_path: Path) -> None:
    with LocalAccount() as account:
        # Given manifests that reach CloudWatch Logs 10 minutes after each run's COMPLETED event,
        account.emulator.manifest_delay_seconds = 600
        batch = _cohort(account, 3)
        # when the cohort completes and every queue drains,
        assert account.run_until_quiet()
        assert account.dlq_messages() == 0
        # then every run is sized (each was retried until its stream appeared), nothing half-written,
        items = list(RightsizingRepository(account.repository).batch_items(batch))
        assert sorted(i["status"] for i in items if i["entity"] == "RIGHTSIZE_RUN") == [DONE] * 3
        assert account.stats.record_failures[account.function("rightsizer").logical_id] >= 3
        # and the batch advice (test prices for the two types) says align fits omics.m.xlarge.
        prices = tmp_path / "prices.json"
        prices.write_text(json.dumps(to_snapshot(price_list([
            PriceLine("omics.m.2xlarge", "us-east-1", Decimal("0.48"), "Hrs"),
            PriceLine("omics.m.xlarge", "us-east-1", Decimal("0.24"), "Hrs"),
        ], list_id="test-list", date="2026-11-01", source="test figures"), "us-east-1")))
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(["--json", "rightsize", "batch", batch, "--prices", str(prices)],
                    target=SandboxTarget(account), stdout=stdout, stderr=stderr)
        assert code == 0, stderr.getvalue()
        doc = json.loads(stdout.getvalue())
        rows = {r["task_name"]: r for r in doc["task_names"]}
        assert (doc["runs_sized"], doc["runs_manifest_missing"]) == (3, 0)
        align = rows["align"]
        assert (align["tasks"], align["runs"], align["current_types"], align["recommended_type"]) == (
            3, 3, ["omics.m.2xlarge"], "omics.m.xlarge")
        assert align["request"] == {"cpus": 4, "memory_gib": 13}
        # Each align is billed startTime..stopTime = 602 s (600 s running + the emulator's 2 s stopping) on
        # m.2xlarge: 3 x 602 x 0.48 / 3600 = 0.2408; on m.xlarge it would save 3 x 602 x 0.24 / 3600 = 0.1204.
        assert (align["current_usd"], align["saving_usd"]) == ("0.2408", "0.1204")
        assert "withName: \"align\" { cpus = 4; memory = '13 GB' }" in doc["nextflow_config"]
        assert rows["call"]["recommended_type"] == "omics.m.xlarge" == rows["call"]["current_types"][0]
        # The table form prints the same advice.
        human = io.StringIO()
        assert main(["rightsize", "batch", batch, "--prices", str(prices)], target=SandboxTarget(account),
                    stdout=human, stderr=stderr) == 0
        assert "omics.m.xlarge" in human.getvalue() and "withName" in human.getvalue()
        # Without --prices the advice is priced with the region's current list in the table, the one
        # `autopilot prices show` reports (the sandbox installs its synthetic list at deploy): every $ column
        # has a figure, none is unknown.
        shown, priced = io.StringIO(), io.StringIO()
        assert main(["--json", "prices", "show"], target=SandboxTarget(account), stdout=shown, stderr=stderr) == 0
        assert main(["--json", "rightsize", "batch", batch], target=SandboxTarget(account), stdout=priced,
                    stderr=stderr) == 0, stderr.getvalue()
        current, doc = json.loads(shown.getvalue())["current"], json.loads(priced.getvalue())
        assert current["list_id"].startswith("sandbox-synthetic-") and current["from"] == "provenance table"
        assert doc["price_list"] == {"id": current["list_id"], "date": current["date"], "from": "provenance table"}
        assert all(row[column] is not None for row in doc["task_names"]
                   for column in ("current_usd", "recommended_usd", "saving_usd")), doc["task_names"]
        assert Decimal(next(r for r in doc["task_names"] if r["task_name"] == "align")["saving_usd"]) > 0


def test_a_run_whose_manifest_never_appears_is_recorded_as_such() -> None:
    with LocalAccount() as account:
        account.emulator.manifest_delay_seconds = None  # the stream is never written
        batch = _cohort(account, 1)
        assert account.run_until_quiet()
        (marker,) = [i for i in RightsizingRepository(account.repository).batch_items(batch)
                     if i["entity"] == "RIGHTSIZE_RUN"]
        assert marker["status"] == MANIFEST_MISSING
        assert account.dlq_messages() == 0  # recorded, not dead-lettered
