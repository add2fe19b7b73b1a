"""Cost in provenance (issue 14), played through moto + the HealthOmics emulator with the real recorder and
re-runner: a cohort whose failed member is re-run from the run cache.

The repository's price snapshot has no lines (no AWS price could be confirmed offline), so this test builds
its own list from TEST FIGURES (not AWS prices): every omics instance type of the guide's table at
0.04 USD per vCPU-hour + 0.005 USD per GiB-hour, static run storage at 0.0002 USD per GiB-hour."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3

from autopilot_cli.app import main
from autopilot_cli.target import TableTarget
from rerunner.logic import Decided
from sandbox.omics import FaultPlan, OutputSpec, RunFault, TaskSpec
from shared.cost.calculator import billed_seconds
from shared.cost.instances import instance_types
from shared.cost.prices import STATIC_RUN_STORAGE, PriceLine, PriceList, price_list
from shared.provenance.cost_repository import CostRepository
from shared.provenance.repository import ProvenanceRepository, deserialize
from shared.recorder import Recorder
from tests.factories import REGION, create_provenance_table
from tests.integration.rerun_harness import ROLE, STACK_ID

pytest_plugins = ["tests.integration.rerun_harness"]  # the `make` fixture

TEST_PRICES = price_list(
    [PriceLine(t.name, REGION, Decimal("0.04") * t.vcpus + Decimal("0.005") * t.memory_gib, "Hrs")
     for t in instance_types()] + [PriceLine(STATIC_RUN_STORAGE, REGION, Decimal("0.0002"), "GB-Hours")],
    list_id="test-prices", date="2026-03-01", source="test figures, not AWS prices")


def _test_prices(region: str | None) -> PriceList:
    return TEST_PRICES


def _usd(value: Any) -> Decimal:
    assert value is not None, "expected a known figure"
    return Decimal(str(value))


def _capture(recorder: Recorder) -> list[Any]:
    """Every event model the recorder is given, for a replay."""
    seen: list[Any] = []
    record: Callable[[Any], Any] = recorder.record

    def capturing(event: Any) -> Any:
        seen.append(event)
        return record(event)

    recorder.record = capturing  # type: ignore[method-assign]
    return seen


def test_cohort_cost_sample_chain_batch_and_what_the_cache_saved(make: Callable[..., Any]) -> None:
    # Given a cohort of 3 where s2 fails at its last task (align and call completed and were cached)
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="report", run_setting_id="s2")]))
    h.recorder.prices = _test_prices
    events = _capture(h.recorder)
    batch_id = h.start_batch(["s1", "s2", "s3"])
    # When the account runs until quiet (the re-runner starts one follow-up batch, resuming from cache)
    h.run()
    costs = CostRepository(h.repository)

    # Then sample s2 is its failed attempt plus its re-run, and each attempt is the run's own cost
    s2 = costs.sample_cost("s2")
    attempts = sorted(s2["per_run"], key=lambda r: r["attempt"])
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(0, "FAILED"), (1, "COMPLETED")]
    failed, rerun = (costs.run_cost(a["run_id"], a["run_uuid"]) for a in attempts)
    assert _usd(s2["usd"]) == _usd(failed["usd"]) + _usd(rerun["usd"])
    chain = costs.chain_cost(attempts[0]["run_id"], attempts[0]["run_uuid"])
    assert chain["usd"] == s2["usd"] and chain["runs"] == 2
    # and a run's cost is its storage plus its tasks, each task at its type's price x billed seconds
    emulated = h.runs()[attempts[0]["run_id"]]
    by_task = {t.id: t for t in emulated.tasks.values()}
    for task in failed["tasks"]:
        real = by_task[task["task_id"]]
        seconds = billed_seconds(real.start_time.isoformat(), real.stop_time.isoformat()) if real.stop_time \
            else None
        if seconds is not None:
            hourly = TEST_PRICES.instance_hourly(task["instance_type"], REGION)
            assert hourly is not None and _usd(task["usd"]) == hourly * seconds / 3600

    # and the re-run's cache hits avoided exactly what their producers (the failed attempt's tasks) cost
    producers = {t["name"]: _usd(t["usd"]) for t in failed["tasks"] if not t["cache_hit"]}
    hits = [t for t in rerun["tasks"] if t["cache_hit"]]
    assert sorted(t["name"] for t in hits) == ["align", "call"]
    assert all(t["avoided_basis"] == "producer" for t in hits)
    assert _usd(rerun["avoided_usd"]) == producers["align"] + producers["call"] > 0
    # and the re-run from cache cost less than the attempt that failed
    assert _usd(rerun["usd"]) < _usd(failed["usd"])

    # and the batch (with its follow-up) is the sum of its samples, which is the workflow's day
    batch = costs.batch_cost(batch_id)
    assert sorted(batch["per_sample"]) == ["s1", "s2", "s3"] and batch["runs"] == 4
    assert _usd(batch["usd"]) == sum(_usd(s["usd"]) for s in batch["per_sample"].values())
    assert batch["per_sample"]["s2"]["usd"] == s2["usd"]
    assert batch["avoided_usd"] == rerun["avoided_usd"] and batch["price_lists"] == ["test-prices@2026-03-01"]
    day = costs.workflow_day_cost(h.workflow_id, "2026-03-01")
    assert day["usd"] == batch["usd"] and day["runs"] == 4

    # and the re-run decision recorded what the failed attempt cost and estimated what the cache saves
    first = attempts[0]
    records = h.repository.items_with_prefix(f"RUN#{first['run_id']}", f"UUID#{first['run_uuid']}#RERUN#")
    (decision,) = [d for d in records if d.get("entity") == "RERUN_DECISION"]
    assert decision["failed_attempt_cost_usd"] == failed["usd"]
    assert decision["cache_avoided_cost_usd"] == rerun["avoided_usd"] and decision["cost_estimate"] is True

    # and the operator CLI shows the same figures, as tables and as JSON
    target = TableTarget(h.repository.table_name, boto3.Session(region_name=REGION))

    def cli(*argv: str) -> str:
        stdout, stderr = io.StringIO(), io.StringIO()
        assert main(list(argv), target=target, stdout=stdout, stderr=stderr) == 0, stderr.getvalue()
        return stdout.getvalue()

    assert json.loads(cli("--json", "cost", "batch", batch_id))["usd"] == batch["usd"]
    assert json.loads(cli("cost", "sample", "s2", "--json"))["avoided_usd"] == rerun["avoided_usd"]
    shown = json.loads(cli("--json", "cost", "run", attempts[1]["run_id"]))
    assert shown["usd"] == rerun["usd"] and shown["attempt_chain"]["usd"] == s2["usd"]
    assert json.loads(cli("--json", "cost", "workflow", h.workflow_id, "--day", "2026-03-01"))["runs"] == 4
    table = cli("cost", "run", attempts[1]["run_id"])
    assert f"${_usd(rerun['avoided_usd']):,.4f}" in table and "producer" in table and "test-prices@2026-03-01" in table

    # When the same events reach a fresh table in reverse (every re-run before the attempt it resumes),
    # a third of them twice
    replay = ProvenanceRepository(create_provenance_table(boto3.client("dynamodb", region_name=REGION), "replay"))
    # with what the re-runner wrote (its decisions, the follow-up's LINK): they prove the follow-up's run is our
    # re-run, which places it in the batch, sample and chain (a run's tags alone do not: shared/supersede.py)
    scanned = h.repository.client.scan(TableName=h.repository.table_name)["Items"]
    assert not replay.put_items([i for i in map(deserialize, scanned)
                                 if i.get("entity") in ("RERUN_DECISION", "RERUN_CLAIM", "BATCH_LINK")])
    recorder = Recorder(replay, omics=lambda: h.omics, now=h.clock.now, prices=_test_prices)
    stream = events[::-1] + random.Random(7).sample(events, len(events) // 3)
    before = dict(h.emulator.calls)
    for event in stream:
        assert not replay.put_items(recorder.record(event).history)
    # Then pricing cost no HealthOmics call: one GetRun and one ListRunTasks page per run, nothing else
    calls = {op: n - before.get(op, 0) for op, n in h.emulator.calls.items() if n != before.get(op, 0)}
    assert calls == {"GetRun": 4, "ListRunTasks": 4, "ListRunsInBatch": 2}
    # and every figure converges to the same values, whatever the order (a re-run recorded before its
    # parent is repriced when the parent is recorded)
    again = CostRepository(replay)
    assert again.batch_cost(batch_id)["usd"] == batch["usd"]
    assert again.sample_cost("s2")["avoided_usd"] == rerun["avoided_usd"]
    assert again.sample_cost("s2")["usd"] == s2["usd"]


def _decision_claims_no_saving(decision: dict[str, Any]) -> None:
    assert decision["decision"] == Decided.STARTED
    assert decision.get("failed_attempt_cost_usd") is not None  # the failed attempt was priced
    avoided = decision.get("cache_avoided_cost_usd")
    assert avoided in (None, "0"), f"decision claims the cache avoids {avoided} USD for a re-run with nothing cached"


def test_out_of_space_decision_does_not_claim_the_cache_will_save_money(make: Callable[..., Any]) -> None:
    """What went wrong: a run failed with FILE_SYSTEM_OUT_OF_SPACE after its first task completed, and the
    STARTED decision told the operator that resuming from the cache avoided that task's cost
    (cache_avoided_cost_usd 0.08...). The guide ('HealthOmics 실행을 위한 호출 캐싱', '실행 캐시에 대한 오류 사례')
    says call caching saves no task output when a run fails out of file-system space (nor on a run
    timeout): the re-run recomputes everything, and indeed has no cache hit."""
    gib = 1024**3
    tasks = (
        TaskSpec("align", (), 600.0, (OutputSpec("bam", 1000 * gib),), cpus=8, memory=32),
        TaskSpec("call", ("align",), 300.0, (OutputSpec("vcf", 900 * gib),), cpus=4, memory=16),
    )
    h = make(tasks=tasks)
    h.recorder.prices = _test_prices
    failed = h.start_run("s1")
    h.run()
    assert h.runs()[failed].failure_reason == "FILE_SYSTEM_OUT_OF_SPACE"
    (rerun,) = h.reruns_of(failed)
    assert not any(t.cache_hit for t in rerun.tasks.values())  # nothing was cached, as the guide says
    (decision,) = h.decisions(failed)
    _decision_claims_no_saving(decision)


def test_a_run_without_a_cache_does_not_claim_the_cache_will_save_money(make: Callable[..., Any]) -> None:
    """What went wrong: our standalone run, started without a run cache, failed (SERVICE_ERROR) after its
    first task completed, and the decision still estimated that resuming from the cache avoided the
    completed task's cost. A run cache is attached per run, by cacheId (guide, 'HealthOmics 실행을 위한 호출
    캐싱'): a run without one cached nothing, so the re-run (which gets the stack's cache) recomputes every task."""
    h = make(faults=FaultPlan(runs=[RunFault(reason="SERVICE_ERROR", at_task="call", run_name="s1")]))
    h.recorder.prices = _test_prices
    failed = str(h.omics.start_run(
        workflowId=h.workflow_id, roleArn=ROLE, outputUri="s3://autopilot-data/out", name="s1",
        requestId="no-cache", tags={"autopilot:sample": "s1", "autopilot:stack": STACK_ID})["id"])
    h.run()
    (rerun,) = h.reruns_of(failed)
    assert not any(t.cache_hit for t in rerun.tasks.values())  # nothing was cached to resume from
    (decision,) = h.decisions(failed)
    _decision_claims_no_saving(decision)
