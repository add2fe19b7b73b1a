"""The shared botocore loader (sandbox/shared_loader.py) that tests/conftest.py and `python -m sandbox serve` use."""

from __future__ import annotations

import boto3
import botocore.handlers
import botocore.loaders
import botocore.session
import moto.core.loaders
import moto.core.utils
from moto import mock_aws

from sandbox import shared_loader


def test_every_new_session_uses_the_one_loader() -> None:
    first, second = botocore.session.get_session(), botocore.session.get_session()
    assert first is not second
    assert first.get_component("data_loader") is second.get_component("data_loader")


def test_boto3_sessions_do_not_grow_the_search_paths_and_still_find_boto3_data() -> None:
    loader = botocore.session.get_session().get_component("data_loader")
    boto3.Session()
    paths = list(loader.search_paths)
    for _ in range(5):
        session = boto3.Session(region_name="us-east-1")
    assert loader.search_paths == paths and len(set(paths)) == len(paths)
    assert "s3" in session.get_available_resources()  # boto3's own data folder is searched


def test_a_client_of_a_fresh_moto_session_works() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="shared-loader")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["shared-loader"]


def test_moto_loads_its_models_through_one_loader_with_its_own_extras() -> None:
    shared = moto.core.utils.create_loader()
    assert shared is moto.core.utils.create_loader() and isinstance(shared, moto.core.loaders.Loader)
    sqs = shared.load_service_model("sqs", "service-2")
    assert sqs == moto.core.loaders.create_loader().load_service_model("sqs", "service-2")
    assert sqs != botocore.loaders.create_loader().load_service_model("sqs", "service-2")  # with moto's extras


def _handlers_by_event(session: botocore.session.Session) -> dict[str, list[object]]:
    """What the session's emitter calls for every event name a built-in handler is registered on, in order;
    a closure made for each session (Powertools adds one) by its name."""
    emitter = session._original_handler  # type: ignore[attr-defined]
    names = {spec[0] for spec in botocore.handlers.BUILTIN_HANDLERS}
    names |= {f"{name}.dynamodb.PutItem" for name in names} | {"before-send.s3.GetObject", "needs-retry.sqs"}
    return {name: [h.__qualname__ if "<locals>" in getattr(h, "__qualname__", "") else h
                   for h in emitter._handlers.prefix_search(name)] for name in sorted(names)}


def _own_handler(**_kwargs: object) -> None:
    """A handler one session registers."""


def test_a_new_session_calls_the_same_built_in_handlers_as_botocores_own_registration() -> None:
    """Contract: the copied registration (shared_loader._copy_builtin_handlers) against botocore's own, on every
    event a built-in handler listens to, moto's stubber included."""
    copied = botocore.session.get_session()
    botocore.session.get_session()  # a second copy: the first one's emitter must not be shared
    own = botocore.session.Session.__new__(botocore.session.Session)
    original, botocore.session.Session._register_builtin_handlers = (  # type: ignore[method-assign]
        botocore.session.Session._register_builtin_handlers, shared_loader._register_builtin_handlers)
    try:
        own.__init__()  # type: ignore[misc]
    finally:
        botocore.session.Session._register_builtin_handlers = original  # type: ignore[method-assign]
    assert _handlers_by_event(copied) == _handlers_by_event(own)
    assert any(h for handlers in _handlers_by_event(own).values() for h in handlers)


def test_handlers_a_session_adds_stay_its_own() -> None:
    first, second = botocore.session.get_session(), botocore.session.get_session()
    first.register("before-call.s3.ListBuckets", _own_handler)
    assert _own_handler not in second._original_handler._handlers.prefix_search(  # type: ignore[attr-defined]
        "before-call.s3.ListBuckets")
    assert _own_handler in first._original_handler._handlers.prefix_search(  # type: ignore[attr-defined]
        "before-call.s3.ListBuckets")
