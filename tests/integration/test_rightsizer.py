"""The right-sizing consumer against moto (DynamoDB + CloudWatch Logs).

Oracles: the guide's COMPLETED run event and run manifest example (tests/fixtures/guide: the task geno-123
asking 16 vCPUs and 32 GiB, run on omics.c.4xlarge as the service places it), the guide's stream name
manifest/run/<run id>/<run uuid> in /aws/omics/WorkflowLog, and moto's GetLogEvents paging. Utilisation
figures and prices here are TEST FIGURES (stated where added)."""

from __future__ import annotations

import contextlib
import copy
import json
import time
import weakref
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

import rightsizer.handler as handler_module
from rightsizer.dal import ManifestLogs
from rightsizer.logic import Config, ManifestConsumer
from shared.cost.price_source import clear_price_cache
from shared.cost.prices import PriceLine, load_snapshot, price_list
from shared.cost.rightsizing import LOG_GROUP, BatchRightsizing
from shared.errors import RetryableError
from shared.provenance.items import RunDetails, TaskDetails
from shared.provenance.repository import ProvenanceRepository
from shared.provenance.rightsizing_repository import DONE, MANIFEST_MISSING, RightsizingRepository, name_aggregate
from shared.settings import get_settings
from tests.factories import REFERENCE_EVENTS, FakeLambdaContext, reference_event, sqs_event

EVENT = reference_event("run-status-change.completed")
RUN_ID, RUN_UUID = EVENT["detail"]["runId"], EVENT["detail"]["uuid"]
STREAM = f"manifest/run/{RUN_ID}/{RUN_UUID}"
REGION = "us-east-1"  # the guide's manifest records are in us-east-1
PRICES = price_list([
    PriceLine("omics.c.4xlarge", REGION, Decimal("0.72"), "Hrs"),
    PriceLine("omics.m.xlarge", REGION, Decimal("0.24"), "Hrs"),
    PriceLine("omics.c.large", REGION, Decimal("0.09"), "Hrs"),
], list_id="test-list", date="2026-11-01", source="test figures")


def guide_records(tasks: int = 1, names: int = 1) -> list[dict[str, Any]]:
    """The guide's run record, then `tasks` copies of its task (spread over `names` names) with our
    figures: peak 3.2 vCPUs and 10 GiB, one minute of running."""
    run, task = json.loads((REFERENCE_EVENTS / "run-manifest.example.json").read_text())
    records = [run]
    for i in range(tasks):
        copy_ = copy.deepcopy(task)
        copy_.update(arn=f"{task['arn']}{i}", name=f"geno-{i % names}", stopTime="2022-08-24T20:09:22.278Z",
                     metrics={"cpusMaximum": 3.2, "memoryMaximumGiB": 10})
        records.append(copy_)
    return records


def write_manifest(logs: Any, records: list[dict[str, Any]], stream: str = STREAM) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch Logs (and moto) take events of the last 14 days only
    for start in range(0, len(records), 5000):
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[
            {"timestamp": now, "message": json.dumps(r)} for r in records[start:start + 5000]])


def record_details(repo: ProvenanceRepository, run_id: str = RUN_ID, run_uuid: str = RUN_UUID,
                   batch: str | None = "B1") -> None:
    """What the recorder's GetRun enrichment stores (lineage from our tags: the run's root batch)."""
    repo.record_run_details(RunDetails(run_id=run_id, uuid=run_uuid, root_run_id=run_id, root_batch_id=batch,
                                       workflow_id="1234567"), "2022-10-20T22:07:40.000000Z", "COMPLETED")


@pytest.fixture
def logs(aws: None) -> Any:
    return boto3.client("logs", region_name=REGION)


@pytest.fixture
def repo(table_name: str) -> ProvenanceRepository:
    return ProvenanceRepository(table_name, boto3.client("dynamodb"))


@pytest.fixture
def consumer(repo: ProvenanceRepository, logs: Any) -> ManifestConsumer:
    return ManifestConsumer(RightsizingRepository(repo), ManifestLogs(lambda: logs, page_events=50),
                            lambda: PRICES, Config(headroom=0.1, manifest_attempts=3))


@pytest.fixture
def invoke(table_name: str, logs: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setenv("RIGHTSIZING_HEADROOM", "0.1")
    monkeypatch.setenv("RIGHTSIZING_MANIFEST_ATTEMPTS", "3")
    get_settings.cache_clear()
    handler_module._logs_client.cache_clear()
    monkeypatch.setattr(handler_module, "_prices", lambda: PRICES)

    def _invoke(bodies: list[dict[str, Any]], receives: int = 1) -> dict[str, Any]:
        event = sqs_event(bodies)
        for record in event["Records"]:
            record["attributes"]["ApproximateReceiveCount"] = str(receives)
        return handler_module.lambda_handler(event, FakeLambdaContext())

    yield _invoke
    get_settings.cache_clear()
    handler_module._logs_client.cache_clear()


def test_the_guides_completed_run_is_sized_from_its_manifest(invoke, repo, logs) -> None:
    # Given the guide's COMPLETED event, the recorder's details of that run, and its manifest stream,
    record_details(repo)
    write_manifest(logs, guide_records())
    # When the consumer gets the event,
    assert invoke([EVENT]) == {"batchItemFailures": []}
    # then the run's task name has its advice: peak 3.2 vCPUs / 10 GiB + 10 % -> 4 vCPUs, 11 GiB ->
    # omics.m.xlarge; billed 60 s: current 0.72 x 60/3600 = 0.012, recommended 0.24 x 60/3600 = 0.004.
    rightsizing = RightsizingRepository(repo)
    marker = rightsizing.marker(RUN_ID, RUN_UUID)
    assert marker is not None and (marker["status"], marker["tasks"], marker["names"]) == (DONE, 1, 1)
    assert (marker["storage_type"], marker["storage_capacity_gib"]) == ("STATIC", 9600)  # the guide's run
    (item,) = [i for i in rightsizing.batch_items("B1") if i["entity"] == "RIGHTSIZE_NAME"]
    assert (item["task_name"], item["recommended_type"], item["request_cpus"], item["request_memory_gib"]) == (
        "geno-0", "omics.m.xlarge", 4, 11)
    assert item["seconds_by_type"] == {"omics.c.4xlarge": 60}
    assert (item["current_usd"], item["recommended_usd"], item["saving_usd"]) == (0.012, 0.004, 0.008)
    assert item["price_list_id"] == "test-list"


def test_a_duplicate_event_reads_nothing_again(consumer, repo, logs) -> None:
    record_details(repo)
    write_manifest(logs, guide_records(tasks=120, names=3))
    first = consumer.handle(RUN_ID, RUN_UUID)
    # 121 records in pages of 50: 3 pages with events, plus the one that says the stream ended.
    assert (first.kind, first.tasks, first.names, first.pages) == ("SIZED", 120, 3, 4)
    pages = consumer.logs.pages_read
    # When the same run arrives again (a duplicated or replayed event), it is one GetItem, no log read.
    assert consumer.handle(RUN_ID, RUN_UUID).kind == "DUPLICATE"
    assert consumer.logs.pages_read == pages
    # Items are bounded by task names (3), not tasks (120).
    items = list(RightsizingRepository(repo).batch_items("B1"))
    assert sorted(i["entity"] for i in items) == ["RIGHTSIZE_NAME"] * 3 + ["RIGHTSIZE_RUN"]
    assert sum(i["tasks"] for i in items if i["entity"] == "RIGHTSIZE_NAME") == 120


def test_a_run_is_sized_with_one_read_of_its_marker_and_summary_and_one_query_of_its_tasks(consumer, repo,
                                                                                          logs) -> None:
    # Given a run the recorder enriched and its manifest
    record_details(repo)
    write_manifest(logs, guide_records(tasks=3))
    reads: list[str] = []
    repo.client.meta.events.register("before-call.dynamodb", lambda model, **_: reads.append(model.name))
    # When it is sized
    assert consumer.handle(RUN_ID, RUN_UUID).kind == "SIZED"
    # Then its marker and its summary came in one strongly consistent request, its listed tasks in one Query
    assert [r for r in reads if r in ("GetItem", "BatchGetItem", "Query")] == ["BatchGetItem", "Query"]


def test_a_missing_stream_is_retried_then_recorded_and_a_later_event_sizes_it(consumer, repo, logs) -> None:
    # Given a run whose manifest is not written yet,
    record_details(repo)
    rightsizing = RightsizingRepository(repo)
    # when its event arrives (receives 1 and 2 of 3), it is retried and nothing is written,
    for receive in (1, 2):
        with pytest.raises(RetryableError, match="manifest stream not written yet"):
            consumer.handle(RUN_ID, RUN_UUID, receive)
        assert rightsizing.marker(RUN_ID, RUN_UUID) is None
    # at the last attempt the run is recorded as MANIFEST_MISSING (never lost),
    assert consumer.handle(RUN_ID, RUN_UUID, 3).kind == "MISSING"
    marker = rightsizing.marker(RUN_ID, RUN_UUID)
    assert marker is not None and marker["status"] == MANIFEST_MISSING and STREAM in marker["reason"]
    # and once the stream exists, a later event (replay, reconciler) sizes the run.
    write_manifest(logs, guide_records())
    assert consumer.handle(RUN_ID, RUN_UUID).kind == "SIZED"
    assert rightsizing.marker(RUN_ID, RUN_UUID)["status"] == DONE  # type: ignore[index]


def test_a_run_not_yet_enriched_is_retried_and_at_the_last_attempt_sized_outside_any_batch(consumer, repo,
                                                                                          logs) -> None:
    write_manifest(logs, guide_records())
    with pytest.raises(RetryableError, match="details not recorded"):
        consumer.handle(RUN_ID, RUN_UUID, 1)
    assert consumer.logs.pages_read == 0  # nothing read before the run's lineage is known
    assert consumer.handle(RUN_ID, RUN_UUID, 3).kind == "SIZED"
    marker = RightsizingRepository(repo).marker(RUN_ID, RUN_UUID)
    assert marker is not None and marker["status"] == DONE and "batch_pk" not in marker


def test_no_time_left_writes_nothing_and_retries(consumer, repo, logs) -> None:
    record_details(repo)
    write_manifest(logs, guide_records(tasks=120))
    consumer.time_left = lambda: 1.0
    with pytest.raises(RetryableError, match="no time left"):
        consumer.handle(RUN_ID, RUN_UUID)
    assert RightsizingRepository(repo).marker(RUN_ID, RUN_UUID) is None
    assert list(RightsizingRepository(repo).batch_items("B1")) == []


def test_the_batch_aggregate_is_one_query_over_the_runs_items(consumer, repo, logs) -> None:
    # Given two runs of batch B1 sized: the second peaks higher (our figures: 6 vCPUs, 20 GiB).
    record_details(repo)
    write_manifest(logs, guide_records())
    consumer.handle(RUN_ID, RUN_UUID)
    second = guide_records()
    second[1]["metrics"] = {"cpusMaximum": 6, "memoryMaximumGiB": 20}
    record_details(repo, "7654321", "uuid-2")
    write_manifest(logs, second, "manifest/run/7654321/uuid-2")
    consumer.handle("7654321", "uuid-2")
    # When the batch's items are read (one Query) and merged by task name,
    batch = BatchRightsizing(PRICES, headroom=0.1)
    for item in RightsizingRepository(repo).batch_items("B1"):
        if item["entity"] == "RIGHTSIZE_NAME":
            batch.merge(item["task_name"], name_aggregate(item))
    (advice,) = batch.results()
    # then the name fits the batch-wide peak: ceil(6.6) = 7 vCPUs, 22 GiB -> omics.m.2xlarge (unpriced
    # here: no saving), over 2 x 60 billed seconds on omics.c.4xlarge (0.72 x 120 / 3600 = 0.024).
    assert (advice.name, advice.tasks, advice.current_types, advice.recommended_type) == (
        "geno-0", 2, ("omics.c.4xlarge",), "omics.m.2xlarge")
    assert (advice.current_usd, advice.saving_usd) == (Decimal("0.024"), None)


class _Event(dict):  # type: ignore[type-arg]
    """A log event that can be watched with a weak reference (a plain dict cannot)."""


def test_a_page_is_released_before_the_next_one_is_read(repo, logs) -> None:
    """Memory is bounded by one page, whatever the run's size: the issue's benchmark showed the peak growing
    from 1,000 to 10,000 tasks (1.43x) because the previous page was still referenced (by the reader and by
    the consumer's loop) while the next one was fetched and parsed."""
    # Given a run of 120 tasks read in pages of 50, through a client that watches every event it returns,
    record_details(repo)
    write_manifest(logs, guide_records(tasks=120, names=3))
    watched: list[weakref.ref[_Event]] = []
    alive_at_request: list[int] = []

    class WatchingLogs:
        def get_log_events(self, **params: Any) -> dict[str, Any]:
            alive_at_request.append(sum(ref() is not None for ref in watched))
            response = logs.get_log_events(**params)
            response["events"] = [_Event(event) for event in response["events"]]
            watched.extend(weakref.ref(event) for event in response["events"])
            return response  # type: ignore[no-any-return]

    consumer = ManifestConsumer(RightsizingRepository(repo), ManifestLogs(WatchingLogs, page_events=50),
                                lambda: PRICES, Config(headroom=0.1, manifest_attempts=3))
    # When the consumer sizes the run,
    outcome = consumer.handle(RUN_ID, RUN_UUID)
    # then every request (3 pages of events, then the one that says the stream ended) finds at most the one
    # event being handed over still held, never an earlier page: one page at a time.
    assert (outcome.kind, outcome.tasks, outcome.pages) == ("SIZED", 120, 4)
    assert alive_at_request[0] == 0 and max(alive_at_request) <= 1, alive_at_request


def test_before_the_first_price_list_is_loaded_the_saving_is_unknown_never_zero(
        table_name, repo, logs, monkeypatch) -> None:
    """A stack whose price refresh has not run yet (no list in the table): the handler's own price source
    falls back to the repository's snapshot, which has no line."""
    # Given no price list in the table and the handler's real price source (not a test list),
    monkeypatch.setenv("PROVENANCE_TABLE", table_name)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("RIGHTSIZING_HEADROOM", "0.1")
    get_settings.cache_clear()
    clear_price_cache()
    handler_module._logs_client.cache_clear()
    record_details(repo)
    write_manifest(logs, guide_records())
    try:
        # When the run is right-sized,
        assert handler_module.lambda_handler(sqs_event([EVENT]), FakeLambdaContext()) == {"batchItemFailures": []}
    finally:
        get_settings.cache_clear()
        clear_price_cache()
        handler_module._logs_client.cache_clear()
    # then the advice is there (it needs no price), but every figure in dollars is unknown, not 0, and names
    # the snapshot it was priced with.
    snapshot = load_snapshot()
    (item,) = [i for i in RightsizingRepository(repo).batch_items("B1") if i["entity"] == "RIGHTSIZE_NAME"]
    assert item["recommended_type"] == "omics.m.xlarge"
    assert (item.get("current_usd"), item.get("recommended_usd"), item.get("saving_usd")) == (None, None, None)
    assert (item["price_list_id"], item["price_date"]) == (snapshot.list_id, snapshot.date)
    marker = RightsizingRepository(repo).marker(RUN_ID, RUN_UUID)
    assert marker is not None and marker.get("storage_current_usd") is None


def test_a_stream_whose_events_are_not_all_visible_yet_is_retried_not_taken_whole(consumer, repo, logs) -> None:
    # Given a run whose manifest stream exists but whose events are not visible yet (CloudWatch Logs shows
    # events seconds after PutLogEvents; a big manifest takes several calls; found by reviewer 3)
    record_details(repo)
    write_manifest(logs, [])
    rightsizing = RightsizingRepository(repo)
    # When its event arrives, it is retried, nothing written
    with pytest.raises(RetryableError, match="manifest incomplete"):
        consumer.handle(RUN_ID, RUN_UUID, 1)
    assert rightsizing.marker(RUN_ID, RUN_UUID) is None
    # and once the events are visible, the next delivery sizes the whole run
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=STREAM,
                        logEvents=[{"timestamp": now, "message": json.dumps(r)} for r in guide_records(tasks=3)])
    assert consumer.handle(RUN_ID, RUN_UUID, 2).kind == "SIZED"
    marker = rightsizing.marker(RUN_ID, RUN_UUID) or {}
    assert marker.get("tasks") == 3 and marker.get("manifest_complete") is True


def test_fewer_task_records_than_the_recorder_listed_is_retried_then_sized_as_incomplete(consumer, repo,
                                                                                         logs) -> None:
    # Given the recorder listed 3 tasks (ListRunTasks) and the manifest shows 2 of them so far
    record_details(repo)
    repo.put_tasks([TaskDetails(task_id=f"t{i}", run_id=RUN_ID, run_uuid=RUN_UUID, name="geno") for i in range(3)],
                   "2022-10-20T22:07:40.000000Z")
    write_manifest(logs, guide_records(tasks=2))
    with pytest.raises(RetryableError, match="2 of 3 tasks"):
        consumer.handle(RUN_ID, RUN_UUID, 1)
    # At the last attempt it is sized from what there is, and the marker says the manifest was incomplete
    assert consumer.handle(RUN_ID, RUN_UUID, 3).kind == "SIZED"
    marker = RightsizingRepository(repo).marker(RUN_ID, RUN_UUID) or {}
    assert marker.get("tasks") == 2 and marker.get("manifest_complete") is False


def test_the_listed_tasks_are_counted_not_read(consumer, repo, logs) -> None:
    """The completeness check needs how many tasks the recorder listed, not the tasks: the Query counts them
    (Select COUNT), so no task item, nor its status history (which shares the TASK# prefix), is sent back."""
    # Given 3 listed tasks, each with a status history, and a manifest showing 2 of them so far
    record_details(repo)
    repo.put_tasks([TaskDetails(task_id=f"t{i}", run_id=RUN_ID, run_uuid=RUN_UUID, name="geno") for i in range(3)],
                   "2022-10-20T22:07:40.000000Z")
    repo.put_items([{"pk": f"RUN#{RUN_ID}", "sk": f"UUID#{RUN_UUID}#TASK#t{i}#STATUS#0{rank}#2022-10-20T22:0{rank}"
                     f":00.000000Z#{status}", "entity": "TASK_STATUS", "status": status, "run_uuid": RUN_UUID}
                    for i in range(3) for rank, status in ((1, "PENDING"), (5, "COMPLETED"))])
    write_manifest(logs, guide_records(tasks=2))
    queries: list[dict[str, Any]] = []
    repo.client.meta.events.register("provide-client-params.dynamodb.Query",
                                     lambda params, **_: queries.append(dict(params)))
    # When its event arrives, it is retried: 2 of the 3 tasks (not of their 9 items)
    with pytest.raises(RetryableError, match="2 of 3 tasks"):
        consumer.handle(RUN_ID, RUN_UUID, 1)
    # Then the tasks were counted, consistently, none of their items read
    assert [(q.get("Select"), q.get("ConsistentRead")) for q in queries] == [("COUNT", True)]
