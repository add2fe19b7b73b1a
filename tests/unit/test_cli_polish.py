"""The CLI's edges a newcomer meets first (issue 12): `--json` anywhere on the line, a rejected sheet's
problems as a table, a non-UTF-8 sheet answered with the launcher's own message, `--sandbox` without a
running sandbox, and the exit codes the README documents (0 ok, 1 failure, 2 usage, 3 not found); and the
sheet a batch or submission came from, named from what the launcher records (its `sheet` map)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from autopilot_cli.app import main
from autopilot_cli.errors import NotFound
from autopilot_cli.target import TableTarget
from sandbox.__main__ import _say
from sandbox.moto_speedups import speedups
from sandbox.omics import BatchFault, FaultPlan
from shared.provenance.items import RunDetails
from shared.provenance.repository import ProvenanceRepository
from tests.launcher_env import BUCKET, batch_failed_event, csv_sheet, launcher_env

REJECTED = {"status": "REJECTED", "submission_id": "s1", "run_count": 0, "errors": [
    {"row": None, "column": None, "reason": "sheet is empty"},
    {"row": 1, "column": "sample_id", "reason": "runSettingId is missing"}]}


class FakeTarget:
    """A target whose launcher answers `response`; records what was invoked."""

    description = "fake"

    def __init__(self, response: Any = None) -> None:
        self.response = response
        self.invoked: list[tuple[str, Any]] = []

    @property
    def repository(self) -> Any:
        raise NotFound("run X is not recorded in the provenance table")

    def invoke(self, capability: str, payload: Any) -> Any:
        self.invoked.append((capability, payload))
        return self.response

    def settle(self) -> None:
        return None


def _cli(argv: list[str], target: Any) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(argv, target=target, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("argv", [["--json", "submit", "SHEET"], ["submit", "SHEET", "--json"],
                                  ["submit", "--json", "SHEET", "--dry-run"]])
def test_json_is_accepted_anywhere_on_the_line(argv: list[str], tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    sheet.write_text("sample_id,input\nA,s3://b/k\n")
    target = FakeTarget({"status": "VALID", "errors": [], "run_count": 1})
    code, out, _ = _cli([str(sheet) if a == "SHEET" else a for a in argv], target)
    assert code == 0 and json.loads(out)["status"] == "VALID"


def test_run_show_with_json_after_the_subcommand_reaches_the_command() -> None:
    # `autopilot run show X --json` used to be refused as an unknown argument (exit 2)
    code, _, err = _cli(["run", "show", "X", "--json"], FakeTarget())
    assert code == 3 and "not recorded" in err


def test_a_rejected_sheet_prints_a_table_of_row_column_reason_and_exits_1(tmp_path: Path) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text("sample_id\n\n")
    code, out, err = _cli(["submit", str(sheet)], FakeTarget(REJECTED))
    assert code == 1
    assert "rejected the sheet bad.csv (2 problems; nothing was started)" in err
    header = next(line for line in err.splitlines() if "reason" in line)
    assert "row" in header and "column" in header
    assert any("sheet is empty" in line and "-" in line for line in err.splitlines())
    assert any("runSettingId is missing" in line and "sample_id" in line for line in err.splitlines())
    assert ": sheet is empty" not in err and "@1" not in err  # no stray prefixes
    assert "{'row'" not in out and "[{" not in out  # no Python reprs on stdout


def test_a_non_utf8_sheet_gets_the_launchers_message_and_nothing_is_invoked(tmp_path: Path) -> None:
    sheet = tmp_path / "latin1.csv"
    sheet.write_bytes("sample_id,site\nS1,Montréal\n".encode("latin-1"))
    target = FakeTarget()
    code, _, err = _cli(["submit", str(sheet)], target)
    assert code == 1 and target.invoked == []
    assert "sheet is not UTF-8" in err and "save it as UTF-8" in err
    assert "UnicodeDecodeError" not in err


def test_exit_codes_for_usage_errors(tmp_path: Path) -> None:
    assert _cli(["submit", str(tmp_path / "missing.csv")], FakeTarget())[0] == 2
    assert _cli(["run"], FakeTarget())[0] == 2
    assert _cli(["no-such-command"], FakeTarget())[0] == 2


def test_sandbox_without_a_running_sandbox_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_SANDBOX_FILE", str(tmp_path / "absent.json"))
    code, _, err = _cli(["--sandbox", "failures"], None)
    assert code == 2 and "make sandbox" in err
    # a file left by a sandbox that has stopped: its control endpoint does not answer
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"control_url": "http://127.0.0.1:9", "env": {}, "stack_name": "x"}) + "\n")
    monkeypatch.setenv("AUTOPILOT_SANDBOX_FILE", str(stale))
    code, _, err = _cli(["--sandbox", "failures"], None)
    assert code == 2 and "does not answer" in err


def test_the_sandbox_keeps_going_when_its_reader_has_gone() -> None:
    # Given a pipe whose reader closed (a `| head` that exited)
    read, write = os.pipe()
    os.close(read)
    stream = os.fdopen(write, "w")
    # When the sandbox writes a line there, then another: no BrokenPipeError escapes
    _say(stream, "sandbox: SIGINT, stopping")
    _say(stream, "again")
    stream.close()


class PrunedTarget(FakeTarget):
    """Two passes started in the same second: the history sorts them by their random id."""

    class Repository:
        def prune_history(self, cache_id: str) -> list[dict[str, Any]]:
            return [{"pass_id": "aaaa", "mode": "dry-run"}, {"pass_id": "ffff", "mode": "dry-run"}]

    @property
    def repository(self) -> Any:
        return self.Repository()

    def run_cache_id(self) -> str:
        return "1234567"


def test_cache_prune_reports_the_pass_it_started_not_the_last_in_sort_order() -> None:
    # Given a pass started now whose id sorts before an earlier pass of the same second
    target = PrunedTarget({"passes": [{"cacheId": "1234567", "passId": "aaaa", "status": "STARTED"}]})
    # When the operator prunes
    code, out, _ = _cli(["--json", "cache", "prune"], target)
    # Then the pass reported is the one this request started
    assert code == 0 and json.loads(out)["latest_pass"]["pass_id"] == "aaaa"


def test_cache_prune_that_started_no_pass_shows_none_and_exits_1() -> None:
    # Given a pruner that could not read the run cache (GetRunCache failed: no pass id) and an earlier pass
    target = PrunedTarget({"passes": [{"cacheId": "1234567", "status": "SKIPPED",
                                       "reason": "GetRunCache: ResourceNotFoundException"}]})
    # When the operator prunes
    code, out, err = _cli(["--json", "cache", "prune"], target)
    # Then no pass is shown as this request's, the reason is on stderr, and the exit is 1
    assert json.loads(out)["latest_pass"] is None
    assert code == 1 and "GetRunCache: ResourceNotFoundException" in err


def test_batch_show_names_the_sheet_the_batch_came_from() -> None:
    """What went wrong: `autopilot batch show <id>` read the sheet from the submission record's top-level
    `label` / `key`, but the launcher records it as a nested `sheet` map (SheetIdentity.as_dict: bucket, key,
    version_id, name): the "sheet" line was always dropped, so an operator could not see which sample sheet
    started a batch."""
    with speedups(), mock_aws(), launcher_env() as env:
        key = "submissions/cohort-7.csv"
        outcome = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(2)))
        assert outcome is not None and outcome.status == "SUBMITTED"
        stdout, stderr = io.StringIO(), io.StringIO()
        target = TableTarget(env.repository.table_name, boto3.Session())
        code = main(["batch", "show", str(outcome.batch_id)], target=target, stdout=stdout, stderr=stderr)
        assert code == 0, stderr.getvalue()
        assert f"s3://{BUCKET}/{key}" in stdout.getvalue(), f"batch show names no sheet:\n{stdout.getvalue()}"


def test_submission_show_names_a_sheet_sent_by_submit() -> None:
    """What went wrong: `autopilot submission show <id>` named the sheet by the `sheet` map's `label` or `key`;
    the launcher records no label, and a sheet sent by `autopilot submit` (source "direct") has no key, only
    its file name: the "sheet" line was dropped for every sheet submitted from the CLI."""
    with speedups(), mock_aws(), launcher_env() as env:
        outcome = env.launcher.launch_document(csv_sheet(2), name="trio-7.csv")
        assert outcome.status == "SUBMITTED"
        stdout, stderr = io.StringIO(), io.StringIO()
        target = TableTarget(env.repository.table_name, boto3.Session())
        code = main(["submission", "show", outcome.submission_id], target=target, stdout=stdout, stderr=stderr)
        assert code == 0, stderr.getvalue()
        assert "direct:trio-7.csv" in stdout.getvalue(), f"submission show names no sheet:\n{stdout.getvalue()}"


def test_run_show_gives_the_digest_of_each_file_of_a_list_parameter(table_name: str) -> None:
    """What went wrong: `autopilot run show` looked a parameter's digest up only when its value was one URI;
    a list of files (paired FASTQs) showed its digest as "-", though GetRun's resourceDigests for both files
    were recorded: the operator could not see which content of each FASTQ the run read."""
    r1, r2 = "s3://cohort/inputs/S-0042_R1.fastq.gz", "s3://cohort/inputs/S-0042_R2.fastq.gz"
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    repository.record_run_details(RunDetails(
        run_id="1111111", uuid="u-1", status="COMPLETED", root_run_id="1111111", root_run_uuid="u-1",
        parameters={"reads": [r1, r2], "lane": 2},
        resource_digests={r1: "etag:1111aaaa", r2: "etag:2222bbbb"}), "2026-01-05T09:00:00.000000Z", "COMPLETED")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["run", "show", "1111111"], target=TableTarget(table_name, boto3.Session()), stdout=stdout,
                stderr=stderr)
    assert code == 0, stderr.getvalue()
    text = stdout.getvalue()  # a digest is shown in the inputs table only
    assert "etag:1111aaaa" in text and "etag:2222bbbb" in text, f"run show gives no digest:\n{text}"


def test_submission_show_of_a_relaunched_sheet_does_not_report_the_earlier_batch_failure_as_current() -> None:
    """Seen: attempt 1's batch FAILED validation; once the cause was fixed the sheet, uploaded again, launched
    attempt 2, whose batch is PROCESSED. `autopilot submission show` still printed `batch failure: VALIDATION:
    ...` beside `status SUBMITTED` and attempt 2's batch id (attempt 1's `batch_failure` was never tied to its
    batch, and no attempt was shown): the operator read that the processed batch had failed validation, and
    might launch the sheet again. Rests on the submission record (SUBMISSION#<id>/SUMMARY: its batch_id, its
    attempt, and batch_failure.batch_id): a failure of another batch than the current one is shown as earlier."""
    faults = FaultPlan(batches=[BatchFault(reason="VALIDATION_EXCEPTION", message="Invalid JSON format in run "
                                           "configuration", times=1)])
    key = "submissions/cohort.csv"
    with speedups(), mock_aws(), launcher_env(faults=faults) as env:
        first = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert first is not None and first.batch_id
        env.emu.run_until_idle()
        env.launcher.on_batch_failed(batch_failed_event(env, first.batch_id, "e1", "VALIDATION_EXCEPTION",
                                                   "Invalid JSON format in run configuration"))
        second = env.launcher.launch_object(BUCKET, key, env.upload(key, csv_sheet(3)))
        assert second is not None and second.status == "SUBMITTED" and second.attempt == 2
        env.emu.run_until_idle()
        assert env.emu.batches[str(second.batch_id)].status == "PROCESSED"
        stdout = io.StringIO()
        target = TableTarget(env.repository.table_name, boto3.Session())
        assert main(["submission", "show", first.submission_id], target=target, stdout=stdout) == 0
        shown = stdout.getvalue()
        assert str(second.batch_id) in shown
        assert "VALIDATION" not in shown, (
            f"attempt 2's batch {second.batch_id} is PROCESSED, yet `submission show` says:\n{shown}")
