"""Test-wide fixtures: an offline AWS environment (moto) and the provenance table."""

from __future__ import annotations

import gc
import io
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

import stacks  # noqa: F401  (first: quiets jsii's raw-bytes Node banner before any test imports aws_cdk)
from sandbox import shared_loader
from sandbox.moto_speedups import speedups
from tests import rewrite_share, synth_cache
from tests.factories import create_provenance_table

# `make test-fast` (-m "not slow") is the inner loop, under 30 s on 2 cores: the unit tests. These are
# slow by where they live (whole-system scenarios, synthesis, the sandbox) or, for the unit modules below,
# by what they run (moto accounts per test, property tests over moto, RO-Crate validation): seconds
# each as measured with --durations. `make test` runs everything.
SLOW_FOLDERS = frozenset({"e2e", "integration", "infrastructure", "sandbox"})
SLOW_UNIT_MODULES = frozenset({
    "test_batch_resubmission.py", "test_cli_target.py", "test_export.py", "test_launcher_allowlists.py",
    "test_launcher_handler.py", "test_launcher_logic.py", "test_omics_deadline.py", "test_recorder_convergence.py",
    "test_recorder_identity.py", "test_rewrite_share.py", "test_sheet_malformed.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = config.rootpath / "tests"
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if parts and (parts[0] in SLOW_FOLDERS or (parts[0] == "unit" and parts[-1] in SLOW_UNIT_MODULES)):
            item.add_marker(pytest.mark.slow)
    # `make test` hands whole modules to its two workers in this order (--dist loadfile --no-loadscope-reorder):
    # slow modules first, and among them those with the fewest tests (one long scenario each), so that what
    # is left at the end is many short modules that even out the workers' finishing times. xdist's default
    # order (most tests first) left the one-test scenario modules for last, each setting the run's tail.
    # A stable sort by module: modules stay whole.
    slow_modules = {item.path for item in items if item.get_closest_marker("slow") is not None}
    tests_in = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in slow_modules, tests_in[item.path]))


# Under `make test` the modules that synthesize (tests/infrastructure, but for the asset's build) go to one worker, as
# one unit: the process that first runs CDK's built-in CloudFormation validation pays ~6 CPU-s to start its
# WebAssembly engine (stacks/synth.py), and the default and bring-your-own syntheses, cdk-nag's control and the
# real-account checks all run it; spread over both workers, both paid it. Early in the order, like its modules.
CDK_FOLDER = "tests/infrastructure/"
CDK_ALONE = frozenset({"tests/infrastructure/test_lambda_asset.py"})  # builds the asset, synthesizes nothing


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class OneSynthesizingWorker(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return CDK_FOLDER if scope.startswith(CDK_FOLDER) and scope not in CDK_ALONE else scope

    return OneSynthesizingWorker(config, log)


# Allocations between young-generation collections in a test process (Python's default: 700, 10, 10), as the
# sandbox's accounts use (sandbox/local.py): a test process holds every imported service model and moto's
# backends, which each full collection walks. Five moto-heavy modules in one process: 26 full collections,
# 6.0 CPU-s of garbage collection of 28 -> 1 and 1.6 of 23.5; peak RSS 430 -> 560 MB.
GC_THRESHOLDS = (50_000, 20, 20)


def pytest_configure(config: pytest.Config) -> None:
    """Every process of the run (each xdist worker too) shares one synthesis per stack context, its boto3
    sessions share one botocore loader (sandbox/shared_loader.py), and it collects garbage less often; the second
    xdist worker rewrites the test modules' asserts from the last backwards, the first from the first onwards
    (tests/rewrite_share.py)."""
    rewrite_share.share_with_the_first_worker(config, os.environ.get("PYTEST_XDIST_WORKER"))
    synth_cache.install(config.rootpath / ".pytest_cache" / "synth")
    shared_loader.install()
    gc.set_threshold(*GC_THRESHOLDS)


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Nothing of the run is left to collect: the closing garbage collections would walk each process's whole
    heap (every service model, moto's backends) as it exits, 2.4-2.5 s of a worker's exit (0.3-0.5 s frozen,
    measured on three modules). First among the hooks: pytest's own unraisable-exception check collects once
    more here (0.8-1.5 s of exit after the last test -> 0.6, measured twice each). The cost: cycles not yet
    collected when the run ends are frozen, not finalized, so an exception in their `__del__` goes unreported
    (those collected during the run are still reported)."""
    gc.freeze()


def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account: fake credentials and a fixed region. Module-scoped fixtures
    (one moto setup shared by a module's tests) call it with their own `pytest.MonkeyPatch.context()`:
    they are set up before this function-scoped autouse fixture runs."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OmicsAutopilot")
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    # A price list cached by an earlier test's process must not price this test's runs.
    from shared.cost.price_source import clear_price_cache

    clear_price_cache()


@contextmanager
def module_moto_dynamodb() -> Iterator[Any]:
    """One moto context (with the fast paths) for a module's examples, for a module-scoped fixture: entering
    moto, a new default session and client, the table's first creation in a fresh backend cost ~0.1 s an example.
    Each play then creates its table in a backend that holds no table, checks it, and deletes the table after
    (moto drops the table object with its items; the fast paths index a new table object afresh), so each starts
    from an empty table as in a fresh context."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        offline_aws(monkeypatch)
        with speedups(), mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    offline_aws(monkeypatch)


@pytest.fixture
def aws() -> Iterator[None]:
    # moto with the sandbox's fast paths, each contract-tested against plain moto (tests/sandbox/test_moto_speedups.py),
    # entered first: moto's start then takes theirs too
    with speedups(), mock_aws():
        yield


@pytest.fixture
def table_name(aws: None) -> str:
    return create_provenance_table(boto3.client("dynamodb"))


@pytest.fixture
def shipped_logs() -> Iterator[io.StringIO]:
    """What the functions' logger writes at the stack's level (INFO): what reaches CloudWatch Logs. Tests of
    what must never be logged (sample ids, S3 keys, service messages) read it; DEBUG lines are not shipped."""
    from shared.observability import logger

    handler = logger.registered_handler
    before_level, stream = logger.log_level, io.StringIO()
    before_stream = handler.setStream(stream)  # type: ignore[attr-defined]
    logger.setLevel("INFO")
    yield stream
    logger.setLevel(before_level)
    handler.setStream(before_stream)  # type: ignore[attr-defined]
