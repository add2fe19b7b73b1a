"""Exports of a run's lineage, validated by the libraries' own validators: the RO-Crate with
roc-validator (Provenance Run Crate profile, every REQUIRED check, which includes the Workflow Run,
Process Run and Workflow RO-Crate profiles and RO-Crate 1.1) and read back by ro-crate-py and runcrate;
PROV-JSON through the `prov` library; and the mermaid diagram."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import rocrate
from prov.model import ProvDocument
from rocrate.rocrate import ROCrate
from rocrate_validator import models, services
from rocrate_validator.utils import http
from runcrate.report import dump_crate_actions

from shared.exports.lineage import AttemptRecord, RunLineage, TaskRecord, load_lineage
from shared.exports.mermaid import lineage_mermaid
from shared.exports.prov_json import prov_json
from shared.exports.ro_crate import METADATA_FILE, PROFILES, build_crate, write_crate
from shared.provenance.items import RunDetails, TaskDetails
from shared.provenance.repository import ProvenanceRepository

ARN = "arn:aws:omics:us-east-1:123456789012:run/{}"
READS = "s3://cohort/inputs/S-0042.fastq.gz"
ROOT, RERUN = "1111111", "2222222"

# The RO-Crate 1.1 JSON-LD context, offline: the validator fetches it from w3id.org. ro-crate-py bundles
# the 1.3 context (a superset); the four bioschemas terms whose IRIs changed after 1.1 are set back to
# their 1.1 values, which are the IRIs the validator's profile shapes use.
_CONTEXT_1_1 = {
    **json.loads((Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld").read_text())["@context"],
    "ComputationalWorkflow": "https://bioschemas.org/ComputationalWorkflow",
    "FormalParameter": "https://bioschemas.org/FormalParameter",
    "input": "https://bioschemas.org/ComputationalWorkflow#input",
    "output": "https://bioschemas.org/ComputationalWorkflow#output",
}


@pytest.fixture(scope="module")
def sparql_parsed_once() -> Iterator[None]:
    """pyshacl has rdflib parse the profiles' SPARQL queries again at every validation, the same ~25 queries
    each time (pyparsing: a third of this module's time). Each query string is parsed and translated once,
    with rdflib's own `prepareQuery`, whose result is made to be evaluated again (rdflib's query() takes it
    as it takes a string); the evaluation is rdflib's as before."""
    from rdflib.plugins.sparql import processor

    query = processor.SPARQLProcessor.query

    @functools.cache
    def prepared(text: str, base: str | None, namespaces: frozenset[tuple[str, Any]]) -> Any:
        return processor.prepareQuery(text, initNs=dict(namespaces), base=base)

    def query_prepared_once(self: Any, str_or_query: Any, initBindings: Any = None, initNs: Any = None,
                            base: str | None = None, DEBUG: bool = False) -> Any:
        if isinstance(str_or_query, str):
            str_or_query = prepared(str_or_query, base, frozenset((initNs or {}).items()))
        return query(self, str_or_query, initBindings, initNs, base, DEBUG)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(processor.SPARQLProcessor, "query", query_prepared_once)
        yield


@pytest.fixture
def offline_context(monkeypatch: pytest.MonkeyPatch, sparql_parsed_once: None) -> None:
    def get(self: Any, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if url.rstrip("/") != "https://w3id.org/ro/crate/1.1/context":
            raise AssertionError(f"the validator wanted the network: {url}")
        response = requests.Response()
        response.status_code, response.url = 200, url
        response.headers["Content-Type"] = "application/ld+json"
        response._content = json.dumps({"@context": _CONTEXT_1_1}).encode()
        return response

    monkeypatch.setattr(http.HttpRequester, "get", get, raising=False)


@pytest.fixture
def lineage(table_name: str) -> Iterator[RunLineage]:
    """Given sample S-0042's run failed at `call` and its re-run resumed from the run cache, as the
    recorder writes them (GetRun details with lineage, ListRunTasks rows)."""
    repository = ProvenanceRepository(table_name, boto3.client("dynamodb"))
    common: dict[str, Any] = {"workflow_id": "9876543", "cache_id": "555", "cache_behavior": "CACHE_ON_FAILURE",
                              "parameters": {"reads": READS, "lane": 2},
                              "resource_digests": {READS: "etag:9b2cf535f27731c974343645a3985328"},
                              "digest": "sha256:0f1e2d", "sample": "S-0042", "submission_id": "sheet-1",
                              "started_by": "arn:aws:sts::123456789012:assumed-role/launcher/x"}
    repository.record_run_details(RunDetails(
        run_id=ROOT, uuid="u-1", arn=ARN.format(ROOT), status="FAILED", failure_reason="RUN_TASK_FAILED",
        status_message="task call failed", run_output_uri=f"s3://cohort/runs/{ROOT}/u-1",
        creation_time="2026-01-05T08:00:00.000000Z", start_time="2026-01-05T08:01:10.000000Z",
        stop_time="2026-01-05T08:20:00.000000Z", root_run_id=ROOT, root_run_uuid="u-1",
        **common), "2026-01-05T08:21:00.000000Z", "FAILED")
    repository.record_run_details(RunDetails(
        run_id=RERUN, uuid="u-2", arn=ARN.format(RERUN), status="COMPLETED", source_run_id=ROOT,
        run_output_uri=f"s3://cohort/runs/{RERUN}/u-2", creation_time="2026-01-05T09:00:00.000000Z",
        start_time="2026-01-05T09:01:10.000000Z", stop_time="2026-01-05T09:10:00.000000Z", root_run_id=ROOT,
        root_run_uuid="u-1", parent_run_id=ROOT, parent_run_uuid="u-1", attempt=1, rerun_reason="RUN_TASK_FAILED",
        **common), "2026-01-05T09:11:00.000000Z", "COMPLETED")
    repository.supersede(ROOT, "u-1", RERUN)
    repository.put_tasks([
        TaskDetails(task_id="101", run_id=ROOT, run_uuid="u-1", name="align", status="COMPLETED", cache_hit=False,
                    cpus=8, memory=32, start_time="2026-01-05T08:02:00.000000Z",
                    stop_time="2026-01-05T08:12:00.000000Z"),
        TaskDetails(task_id="102", run_id=ROOT, run_uuid="u-1", name="call", status="FAILED", cache_hit=False,
                    cpus=4, memory=16,
                    start_time="2026-01-05T08:12:30.000000Z", stop_time="2026-01-05T08:19:00.000000Z"),
        TaskDetails(task_id="201", run_id=RERUN, run_uuid="u-2", name="align", status="COMPLETED", cache_hit=True,
                    cache_s3_uri=f"s3://cohort-cache/c-uuid/{ROOT}/101/e-1/", cpus=8, memory=32,
                    start_time="2026-01-05T09:02:00.000000Z", stop_time="2026-01-05T09:02:01.000000Z"),
        TaskDetails(task_id="202", run_id=RERUN, run_uuid="u-2", name="call", status="COMPLETED", cache_hit=False,
                    cpus=4, memory=16, start_time="2026-01-05T09:02:05.000000Z",
                    stop_time="2026-01-05T09:09:00.000000Z"),
    ], "2026-01-05T09:11:00.000000Z")
    found = load_lineage(repository, RERUN)
    assert found is not None
    yield found


Validate = Callable[[Path, str], models.ValidationResult]


@pytest.fixture(scope="module")
def validate() -> Validate:
    """roc-validator at the REQUIRED level, as `services.validate` runs it on a crate directory (a `Validator` of
    these settings), with one Validator for the module: a Validator prepares the profiles' requirements and shapes
    (the profiles' Turtle files, parsed into shapes graphs) at its first run and reuses them at later ones, each run
    with its own context and result (roc-validator's warm runs: `Validator.validate(rocrate_uri=)`). Its catalog of
    loaded profiles does not depend on the profile validated against (its validation plans do, one per profile), so
    the three profiles share one load of the five (a Validator per profile loaded them three times: ~0.7 CPU-s of
    the module's ~7). `services.validate` builds a new Validator for each crate, so every run prepared them again.
    The executed checks, issues and verdict of each run (the three profiles, the broken crate, in any order) are
    those of a new Validator's (compared when this was written)."""
    validator = models.Validator(services.ValidationSettings(requirement_severity=models.Severity.REQUIRED))

    def run(crate_dir: Path, profile: str) -> models.ValidationResult:
        validator.validation_settings.profile_identifier = profile
        return validator.validate(rocrate_uri=crate_dir)

    return run


def test_lineage_holds_both_attempts_root_first(lineage: RunLineage) -> None:
    assert [(a.run_id, a.attempt, a.status) for a in lineage.attempts] == [(ROOT, 0, "FAILED"), (RERUN, 1, "COMPLETED")]
    assert lineage.root_run_id == ROOT and lineage.subject.run_id == RERUN
    assert [t.cache_hit for t in lineage.subject.tasks] == [True, False]


# Provenance Run Crate is a transitive profile of the other four (its profile.ttl, prof:isTransitiveProfileOf):
# validating against it runs their checks too, except those it overrides with its own (the Workflow and Process
# Run Crate's 2.0/2.1, measured): those two are validated on their own; RO-Crate 1.1 and Workflow RO-Crate, whose
# every check the Provenance validation runs (measured), are not validated again (1.4-1.5 s each).
INHERITED_WHOLE = {"ro-crate-1.1", "workflow-ro-crate-1.0"}


@pytest.mark.parametrize("profile", ["provenance-run-crate", "workflow-run-crate", "process-run-crate"])
def test_ro_crate_passes_every_required_check_of_the_profile(lineage: RunLineage, tmp_path: Path,
                                                             offline_context: None, validate: Validate,
                                                             profile: str) -> None:
    # When the run's lineage is exported as a crate
    write_crate(lineage, tmp_path / "crate", created=datetime(2026, 1, 6, tzinfo=UTC))
    # Then roc-validator finds no issue at the REQUIRED level
    result = validate(tmp_path / "crate", profile)
    assert [(i.check.identifier, i.message) for i in result.get_issues()] == []
    assert result.passed()
    if profile == "provenance-run-crate":  # and RO-Crate 1.1's and Workflow RO-Crate's checks ran with it
        ran = {check.requirement.profile.identifier for check in result.executed_checks}
        assert ran >= INHERITED_WHOLE, ran


def test_ro_crate_validator_catches_a_broken_crate(lineage: RunLineage, tmp_path: Path,
                                                   offline_context: None, validate: Validate) -> None:
    # The validation above is meaningful: the same crate whose workflow no longer lists its steps fails
    path = write_crate(lineage, tmp_path / "crate")
    crate = json.loads(path.read_text())
    for entity in crate["@graph"]:
        if "ComputationalWorkflow" in entity["@type"]:
            del entity["step"]
    path.write_text(json.dumps(crate))
    assert not validate(tmp_path / "crate", "provenance-run-crate").passed()


def test_ro_crate_carries_attempts_tasks_inputs_digests_outputs_and_cache_reuse(lineage: RunLineage,
                                                                                tmp_path: Path) -> None:
    write_crate(lineage, tmp_path / "crate")
    crate = ROCrate(tmp_path / "crate")  # ro-crate-py reads it back
    assert {p.id for p in crate.root_dataset["conformsTo"]} >= set(PROFILES)
    workflow = crate.mainEntity
    assert "ComputationalWorkflow" in workflow.type and workflow["identifier"].endswith(":workflow/9876543")
    runs = {e["identifier"]: e for e in crate.get_entities() if e.type == "CreateAction"
            and e.get("instrument") is workflow}
    assert set(runs) == {ROOT, RERUN}
    assert runs[RERUN]["isBasedOn"].id == f"#run-{ROOT}" and runs[RERUN]["rerunReason"] == "RUN_TASK_FAILED"
    status = runs[ROOT]["actionStatus"]
    assert getattr(status, "id", status) == "http://schema.org/FailedActionStatus"
    assert runs[ROOT]["error"].startswith("RUN_TASK_FAILED")
    reads = crate.dereference(READS)
    assert reads is not None and reads["resourceDigest"] == "etag:9b2cf535f27731c974343645a3985328"
    tasks = {e["identifier"]: e for e in crate.get_entities() if e.type == "CreateAction"
             and e.get("instrument") is not workflow}
    assert tasks["201"]["cacheHit"] is True and tasks["201"]["cacheS3Uri"].endswith("/101/e-1/")
    assert tasks["202"]["cacheHit"] is False
    organize = [e for e in crate.get_entities() if e.type == "OrganizeAction"]
    assert {o["result"].id for o in organize} == {f"#run-{ROOT}", f"#run-{RERUN}"}
    assert "Container images are not recorded" in crate.root_dataset["description"]

    # runcrate's report walks the actions: the workflow runs first, every task with its step
    report = io.StringIO()
    dump_crate_actions(crate, f=report)
    text = report.getvalue()
    assert text.index(f"action: #run-{RERUN}") < text.index("action: #task-201")
    assert "step: #step-align" in text and "step: #step-call" in text
    assert f"{READS} <- #param-input-reads" in text


def test_ro_crate_is_deterministic_for_the_same_records(lineage: RunLineage) -> None:
    when = datetime(2026, 1, 6, tzinfo=UTC)
    assert build_crate(lineage, when) == build_crate(lineage, when)


def test_prov_json_round_trips_through_the_prov_library(lineage: RunLineage) -> None:
    # When exported as PROV-JSON
    text = prov_json(lineage)
    # Then the prov library parses it back into the same document
    document = ProvDocument.deserialize(content=text, format="json")
    from shared.exports.prov_json import build_prov

    assert document == build_prov(lineage)
    data = json.loads(text)
    assert f"omics:run/{ROOT}" in data["activity"] and f"omics:run/{RERUN}" in data["activity"]
    assert "omics:task/201" in data["activity"]
    rerun_links = [r for r in data["wasInformedBy"].values()
                   if r["prov:informed"] == f"omics:run/{RERUN}" and r["prov:informant"] == f"omics:run/{ROOT}"]
    assert rerun_links and rerun_links[0]["autopilot:rerunReason"] == "RUN_TASK_FAILED"
    cache_use = [u for u in data["used"].values() if u["prov:activity"] == "omics:task/201"]
    assert cache_use and "cache-entry" in cache_use[0]["prov:entity"]
    reads = [e for e in data["entity"].values() if e.get("prov:location") == READS]
    assert reads and reads[0]["autopilot:resourceDigest"] == "etag:9b2cf535f27731c974343645a3985328"


def test_mermaid_diagram_shows_the_attempt_chain_and_cache_hits(lineage: RunLineage) -> None:
    text = lineage_mermaid(lineage)
    assert text.startswith("flowchart LR\n")
    assert f"n_{ROOT} -->|RUN_TASK_FAILED| n_{RERUN}" in text
    assert "align (cache hit)" in text and f"class n_{ROOT} failed" in text and f"class n_{RERUN} completed" in text
    assert "★" in text.split(f'n_{RERUN}["')[1].split("]")[0]


def test_metadata_file_name_is_the_standard_one() -> None:
    assert METADATA_FILE == "ro-crate-metadata.json"


REPLACED = "etag:0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"


def test_an_input_replaced_between_attempts_is_credited_to_each_attempt_with_what_it_read(
        lineage: RunLineage, tmp_path: Path, offline_context: None, validate: Validate) -> None:
    # Given the re-run read the same S3 URI after it was replaced in place (a corrected FASTQ uploaded again):
    # GetRun's resourceDigests differ between the attempts
    first = lineage.attempts[0].digests[READS]
    lineage.attempts[1].summary["resource_digests"] = {READS: REPLACED}
    # When exported as a crate
    path = write_crate(lineage, tmp_path / "crate", created=datetime(2026, 1, 6, tzinfo=UTC))
    graph = {e["@id"]: e for e in json.loads(path.read_text())["@graph"]}
    # Then each attempt's action reads the entity with its own digest; the first keeps the plain URI, the
    # replaced content is another File of the same contentUrl
    read = {graph[f"#run-{run}"]["identifier"]: [graph[o["@id"]] for o in graph[f"#run-{run}"]["object"]
                                                 if o["@id"].startswith(READS)] for run in (ROOT, RERUN)}
    assert [(e["@id"], e["resourceDigest"]) for e in read[ROOT]] == [(READS, first)]
    ((rerun_read,),) = [read[RERUN]]
    assert rerun_read["resourceDigest"] == REPLACED and rerun_read["contentUrl"] == READS
    assert rerun_read["@id"] != READS
    # and the crate still passes every REQUIRED check of the profile (roc-validator)
    result = validate(tmp_path / "crate", "provenance-run-crate")
    assert [(i.check.identifier, i.message) for i in result.get_issues()] == [] and result.passed()
    # and PROV says the same: each run used the entity with its own digest
    data = json.loads(prov_json(lineage))
    used = {u["prov:activity"]: data["entity"][u["prov:entity"]].get("autopilot:resourceDigest")
            for u in data["used"].values() if data["entity"].get(u["prov:entity"], {}).get("prov:location") == READS}
    assert used == {f"omics:run/{ROOT}": first, f"omics:run/{RERUN}": REPLACED}


R1, R2 = "s3://cohort/inputs/S-0042_R1.fastq.gz", "s3://cohort/inputs/S-0042_R2.fastq.gz"
PAIRED_DIGESTS = {R1: "etag:1111aaaa", R2: "etag:2222bbbb"}


def _paired_reads_lineage() -> RunLineage:
    """Sample S-0042's run, whose paired reads are one list parameter (the README's own CSV example types a
    `"[""r1.fq"",""r2.fq""]"` cell as a JSON list), and the resource digests GetRun recorded for both files."""
    summary = {"run_id": ROOT, "run_uuid": "u-1", "status": "COMPLETED", "workflow_id": "9876543",
               "parameters": {"reads": [R1, R2], "lane": 2}, "resource_digests": PAIRED_DIGESTS,
               "sample": "S-0042", "creation_time": "2026-01-05T08:00:00.000000Z",
               "stop_time": "2026-01-05T09:00:00.000000Z", "run_output_uri": f"s3://cohort/runs/{ROOT}/u-1"}
    align = TaskRecord("101", "align", "COMPLETED", False, None)  # a workflow crate's workflow has a step
    return RunLineage(ROOT, ROOT, [AttemptRecord(ROOT, summary, [], [align])])


def test_prov_json_records_the_input_files_and_digests_of_a_list_parameter() -> None:
    """What went wrong: PROV-JSON made an input entity with its digest only of a parameter whose value was one
    URI; a list of files (paired FASTQs) became the bare string "['s3://…R1…', 's3://…R2…']" and the digests
    GetRun gave for them were dropped, so an auditor could not tell which content of a FASTQ the run read."""
    data = json.loads(prov_json(_paired_reads_lineage()))
    digests = {e["prov:location"]: e.get("autopilot:resourceDigest") for e in data["entity"].values()
               if "prov:location" in e and e["prov:location"] in PAIRED_DIGESTS}
    assert digests == PAIRED_DIGESTS
    used = [u["prov:entity"] for u in data["used"].values() if u["prov:role"]["$"] == "autopilot:input/reads"]
    assert sorted(used) == [f"autopilot:input/{R1}", f"autopilot:input/{R2}"]


def test_ro_crate_records_the_input_files_and_digests_of_a_list_parameter(tmp_path: Path, offline_context: None,
                                                                         validate: Validate) -> None:
    """What went wrong: the RO-Crate made File entities (with resourceDigest) only of single-URI parameters; a
    list of files was a PropertyValue holding its JSON text, so the files were not data entities of the crate
    and their digests were absent."""
    lineage = _paired_reads_lineage()
    path = write_crate(lineage, tmp_path / "crate", created=datetime(2026, 1, 6, tzinfo=UTC))
    graph = {e["@id"]: e for e in json.loads(path.read_text())["@graph"]}
    assert {uri: graph[uri]["resourceDigest"] for uri in (R1, R2)} == PAIRED_DIGESTS
    assert [o["@id"] for o in graph[f"#run-{ROOT}"]["object"] if o["@id"] in PAIRED_DIGESTS] == [R1, R2]
    assert {R1, R2} <= {part["@id"] for part in graph["./"]["hasPart"]}
    reads = graph["#param-input-reads"]
    assert reads["additionalType"] == "File" and reads["multipleValues"] is True
    # and the crate still passes every REQUIRED check of the profile (roc-validator)
    result = validate(tmp_path / "crate", "provenance-run-crate")
    assert [(i.check.identifier, i.message) for i in result.get_issues()] == [] and result.passed()
