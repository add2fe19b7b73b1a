"""The re-run policy: defaults follow the guide, configuration overrides validate, storage rounding."""

from __future__ import annotations

import json

import pytest

from rerunner.policy import (
    NEVER_CONFIG_REASONS,
    Action,
    PolicyError,
    RerunPolicy,
    Storage,
    Verdict,
    decide,
    decide_submission,
    load_policy,
    more_storage,
    round_static_capacity,
)

DEFAULT = RerunPolicy()


@pytest.mark.parametrize(
    ("reason", "limit"),
    [
        ("SERVICE_ERROR", 3),
        ("MODIFIED_INPUT_RESOURCE", 2),
        ("RUN_TASK_FAILED", 1),
        ("INSTANCE_RESERVATION_FAILED", 3),
    ],
)
def test_rerun_reasons_rerun_up_to_their_limit(reason: str, limit: int) -> None:
    for parent in range(limit):
        decision = decide(DEFAULT, reason, parent)
        assert decision.verdict == Verdict.RERUN and decision.attempt == parent + 1 and decision.why
    assert decide(DEFAULT, reason, limit).verdict == Verdict.EXHAUSTED


@pytest.mark.parametrize(
    "reason",
    [
        *NEVER_CONFIG_REASONS,
        "RUN_TIMED_OUT",
        "TASK_TIMED_OUT",
        "OUT_OF_MEMORY_ERROR",
        "A_REASON_FROM_THE_FUTURE",
        None,
    ],
)
def test_never_reasons(reason: str | None) -> None:
    decision = decide(DEFAULT, reason, 0)
    assert decision.verdict == Verdict.NEVER and not decision.reruns and decision.why


def test_every_guide_reason_has_an_explicit_default() -> None:
    guide = {
        "SERVICE_ERROR",
        "INSTANCE_RESERVATION_FAILED",
        "MODIFIED_INPUT_RESOURCE",
        "FILE_SYSTEM_OUT_OF_SPACE",
        "RUN_TASK_FAILED",
        "RUN_TIMED_OUT",
        "TASK_TIMED_OUT",
        "OUT_OF_MEMORY_ERROR",
        *NEVER_CONFIG_REASONS,
    }
    assert guide <= set(DEFAULT.rules)
    assert all(rule.why for rule in DEFAULT.rules.values())


def test_instance_reservation_failed_backs_off() -> None:
    delays = [decide(DEFAULT, "INSTANCE_RESERVATION_FAILED", parent).delay_seconds for parent in range(3)]
    assert delays == [1800, 3600, 7200]
    assert decide(DEFAULT, "SERVICE_ERROR", 0).delay_seconds == 0


@pytest.mark.parametrize(
    ("requested", "allocated"),
    [(1, 1200), (1200, 1200), (1201, 2400), (2400, 2400), (2401, 4800), (7000, 7200), (9600, 9600)],
)
def test_static_capacity_rounding_follows_the_guide(requested: int, allocated: int) -> None:
    assert round_static_capacity(requested) == allocated


def test_out_of_space_grows_static_storage_up_to_the_cap() -> None:
    sizes = []
    storage = Storage(storageType="STATIC", storageCapacity=1200)
    for parent in range(5):
        decision = decide(
            RerunPolicy(
                maxAttempts=10,
                rules={"FILE_SYSTEM_OUT_OF_SPACE": {"action": "RERUN_WITH_REMEDIATION", "maxAttempts": 10}},
            ),
            "FILE_SYSTEM_OUT_OF_SPACE",
            parent,
            storage,
        )
        if not decision.reruns:
            assert decision.verdict == Verdict.EXHAUSTED and "cap" in decision.why
            break
        assert decision.storage is not None
        storage = decision.storage
        sizes.append(storage.storageCapacity)
    assert sizes == [2400, 4800, 9600]


def test_out_of_space_without_capacity_starts_from_the_minimum_and_dynamic_mode() -> None:
    assert more_storage(Storage(), DEFAULT.storage) == Storage(storageType="STATIC", storageCapacity=2400)
    dynamic = load_policy({"storage": {"mode": "DYNAMIC"}})
    decision = decide(dynamic, "FILE_SYSTEM_OUT_OF_SPACE", 0, Storage(storageCapacity=4800))
    assert decision.storage == Storage(storageType="DYNAMIC") and decision.remediation == "storage=DYNAMIC"
    assert decision.storage.request_fields() == {"storageType": "DYNAMIC"}
    # a run already on dynamic storage has nothing more to get
    assert (
        decide(DEFAULT, "FILE_SYSTEM_OUT_OF_SPACE", 0, Storage(storageType="DYNAMIC")).verdict
        == Verdict.EXHAUSTED
    )


def test_configuration_overrides_merge_over_defaults() -> None:
    policy = load_policy(
        json.dumps(
            {
                "rules": {
                    "RUN_TASK_FAILED": {"action": "NEVER"},
                    "OUT_OF_MEMORY_ERROR": {"action": "RERUN", "maxAttempts": 1},
                },
                "maxAttempts": 2,
                "brake": {"maxFailures": 5},
            }
        )
    )
    assert policy.rule("RUN_TASK_FAILED").action == Action.NEVER
    assert decide(policy, "OUT_OF_MEMORY_ERROR", 0).reruns
    assert policy.rule("SERVICE_ERROR").maxAttempts == 3  # untouched defaults stay
    assert decide(policy, "SERVICE_ERROR", 2).verdict == Verdict.EXHAUSTED  # global cap 2
    assert policy.brake.maxFailures == 5 and policy.brake.windowMinutes == 60
    assert load_policy("") == RerunPolicy() and load_policy(None) == RerunPolicy()


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ('{"rules": {"SERVICE_ERROR": {"action": "SOMETIMES"}}}', "rerunPolicy.rules.SERVICE_ERROR.action"),
        ('{"maxAttempts": -1}', "rerunPolicy.maxAttempts"),
        ('{"brake": {"maxFailures": 0}}', "rerunPolicy.brake.maxFailures"),
        ('{"storage": {"factor": 1}}', "rerunPolicy.storage.factor"),
        ('{"unknownKey": 1}', "rerunPolicy.unknownKey"),
        ("{not json", "not valid JSON"),
    ],
)
def test_invalid_configuration_names_the_key(raw: str, names: str) -> None:
    with pytest.raises(PolicyError, match=names.replace(".", r"\.")):
        load_policy(raw)


def test_submission_failures_retry_only_the_retryable_reasons() -> None:
    for reason in (
        "ServiceQuotaExceededException",
        "ConflictException",
        "ThrottlingException",
        "RequestTimeoutException",
        "InternalServerException",
    ):
        assert decide_submission(DEFAULT, reason, 0).reruns
    for reason in ("ValidationException", "AccessDeniedException", "ResourceNotFoundException", None):
        assert decide_submission(DEFAULT, reason, 0).verdict == Verdict.NEVER
    assert decide_submission(DEFAULT, "ThrottlingException", 3).verdict == Verdict.EXHAUSTED
