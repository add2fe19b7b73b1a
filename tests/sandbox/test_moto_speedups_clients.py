"""Contract tests of the client-creation fast paths in sandbox/moto_speedups.py (the session's handlers copied into
each client directly, one service model per loaded description, one endpoint provider per ruleset): a client
created under `speedups()` is the client botocore creates without them (its methods, configuration, endpoint and
handlers), sends the same requests, and keeps the handlers registered on it its own."""

from __future__ import annotations

import copy
import functools
import http.server
import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.hooks import HierarchicalEmitter, _PrefixTrie
from moto import mock_aws

from sandbox import moto_speedups
from sandbox.moto_speedups import speedups

REGION = "us-east-1"
SERVICES = ("s3", "sqs", "dynamodb", "events", "scheduler", "omics", "sns", "logs")


def _name(handler: Any) -> str:
    """A handler by what it is: a function or method by its qualified name (a client's own handlers are methods
    of objects made for that client), a partial by its function's."""
    if isinstance(handler, functools.partial):
        return f"partial({_name(handler.func)})"
    return getattr(handler, "__qualname__", type(handler).__qualname__)


def _handlers(emitter: HierarchicalEmitter) -> dict[str, list[str]]:
    """Every handler of an emitter by the event name it is registered under, in calling order."""
    found: dict[str, list[str]] = {}

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        if node["values"]:
            found[".".join(path)] = [_name(h) for h in (*node["values"].first, *node["values"].middle,
                                                         *node["values"].last)]
        for chunk, child in node["children"].items():
            walk(child, (*path, chunk))

    walk(emitter._handlers._root, ())
    return found


def _described(client: Any) -> dict[str, Any]:
    meta = client.meta
    return {"class": type(client).__name__, "methods": sorted(n for n in dir(client) if not n.startswith("_")),
            "operations": meta.service_model.operation_names, "endpoint": meta.endpoint_url,
            "region": meta.region_name, "partition": meta.partition, "retries": meta.config.retries,
            "signature": meta.config.signature_version, "handlers": _handlers(meta.events._emitter)}


def _clients_of_every_service() -> list[dict[str, Any]]:
    """Two clients of each service from one session (the second from what the first left cached), one more from a
    second session, in other regions and with a configuration of their own."""
    first, second = boto3.Session(), boto3.Session()
    described = []
    for service in SERVICES:
        described += [_described(first.client(service, region_name=REGION)),
                      _described(first.client(service, region_name="eu-west-1",
                                              config=Config(retries={"mode": "standard", "max_attempts": 2}))),
                      _described(second.client(service, region_name="us-west-2"))]
    return described


def test_clients_created_with_the_fast_paths_are_botocores() -> None:
    """Given clients of every service the sandbox uses, two from one session and one from another, in three regions
    and with a configuration of their own, when they are created under plain moto and under `speedups()`, then
    each has botocore's methods, operations, endpoint, region, partition, retries and signature version, and the
    same handlers in the same order on every event."""
    with mock_aws():
        plain = _clients_of_every_service()
    with mock_aws(), speedups():
        fast = _clients_of_every_service()
    assert fast == plain
    assert all(d["handlers"] for d in plain) and {d["region"] for d in plain} == {REGION, "eu-west-1", "us-west-2"}


def _urls_sent(make: Callable[[str, str], Any]) -> list[str]:
    """The URL and method of each request botocore sends, for calls whose endpoints its rules resolve differently
    by region, bucket and operation, from two clients of each service (the second one's from what the first one's
    first call cached)."""
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(f"{request.method} {request.url}")

    def client(service: str, region: str) -> Any:
        made = make(service, region)
        made.meta.events.register_first("before-send", record)
        return made

    for region in (REGION, "eu-west-1", REGION):
        s3 = client("s3", region)
        bucket = f"contract-{region}"
        configuration = {} if region == REGION else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **configuration)
        s3.put_object(Bucket=bucket, Key="a/b.json", Body=b"{}")
        s3.list_objects_v2(Bucket=bucket, Prefix="a/")
        s3.list_buckets()
        sqs = client("sqs", region)
        sqs.get_queue_url(QueueName=sqs.create_queue(QueueName="q")["QueueUrl"].rsplit("/", 1)[-1])
        client("dynamodb", region).list_tables()
        client("events", region).list_rules()
    return sent


def test_clients_created_with_the_fast_paths_send_the_same_requests() -> None:
    """Given S3 calls in two regions (bucket in the host name or not), SQS, DynamoDB and EventBridge calls, each made
    by clients created for them (one endpoint provider per ruleset under `speedups()`), when they run under plain
    moto and under `speedups()`, then botocore sends the same requests to the same URLs."""
    with mock_aws():
        plain = _urls_sent(lambda service, region: boto3.client(service, region_name=region))
    with mock_aws(), speedups():
        fast = _urls_sent(lambda service, region: boto3.client(service, region_name=region))
    assert fast == plain
    assert any("eu-west-1" in url for url in plain) and any("contract-us-east-1." in url for url in plain)


def test_a_client_s_handlers_stay_its_own_and_a_copy_is_botocore_s() -> None:
    """Given a session with handlers of its own (first, last, with a unique id), when it is copied under
    `speedups()` and by botocore, then both copies hold the same handlers in the same order; and when a client, the
    session and another client register handlers after the clients were created, each has only its own."""

    def own(**_: Any) -> None: ...

    def other(**_: Any) -> None: ...

    with mock_aws():
        session = boto3.Session()
        emitter = session._session._events._emitter
        emitter.register_first("before-call.sqs", own)
        emitter.register_last("after-call.sqs.SendMessage", other, unique_id="other")
        plain_copy = copy.copy(emitter)
        with speedups():
            fast_copy = copy.copy(emitter)
            one, two = session.client("sqs", region_name=REGION), session.client("sqs", region_name=REGION)
            one.meta.events.register("before-call.sqs.ListQueues", own)
            one.meta.events.register("before-call.sqs", other)  # where the session has one already
            session.events.register("before-call.sqs.GetQueueUrl", other)
            one.list_queues()
    assert _handlers(fast_copy) == _handlers(plain_copy) and "before-call.sqs" in _handlers(plain_copy)
    assert fast_copy._unique_id_handlers == plain_copy._unique_id_handlers
    assert _handlers(one.meta.events._emitter)["before-call.sqs.ListQueues"] == [own.__qualname__]
    assert "before-call.sqs.ListQueues" not in _handlers(two.meta.events._emitter)
    assert _handlers(two.meta.events._emitter)["before-call.sqs"] == _handlers(emitter)["before-call.sqs"] \
        == _handlers(one.meta.events._emitter)["before-call.sqs"][:-1]
    assert "before-call.sqs.ListQueues" not in _handlers(emitter)
    assert "before-call.sqs.GetQueueUrl" not in _handlers(one.meta.events._emitter)
    assert "before-call.sqs.GetQueueUrl" not in _handlers(fast_copy)


def test_a_trie_not_laid_out_as_botocore_s_is_copied_by_botocore() -> None:
    """Given a handler trie with a node holding more than botocore's node does, when it is copied under `speedups()`,
    then the copy is botocore's, that value included, and its nodes are new."""

    def handler(**_: Any) -> None: ...

    trie = _PrefixTrie()
    trie.append_item("before-call.sqs", handler)
    trie._root["children"]["before-call"]["note"] = "kept"
    with speedups():
        copied = copy.copy(trie)
    assert copied.__dict__ == trie._recursive_copy(trie.__dict__)
    assert copied._root["children"]["before-call"] is not trie._root["children"]["before-call"]


def test_clients_of_one_loaded_description_share_its_model_and_another_loader_s_get_their_own() -> None:
    """Given clients of one session's loader and one of a loader of its own (other description and ruleset objects),
    when they are created under `speedups()`, then the first two share the service model and the endpoint
    provider built from their loader's description and ruleset, and the third has its own, built from its loader's,
    and works."""
    with mock_aws(), speedups():
        one, two = boto3.client("sqs", region_name=REGION), boto3.client("sqs", region_name=REGION)
        session = botocore.session.Session()
        session.register_component("data_loader", botocore.loaders.create_loader())  # not the tests' shared one
        own = session.create_client("sqs", region_name=REGION)
        own.create_queue(QueueName="own")
        queues = one.list_queues()["QueueUrls"]
    description = own.meta.service_model._service_description
    assert one.meta.service_model is two.meta.service_model
    assert one._ruleset_resolver._provider is two._ruleset_resolver._provider
    assert own.meta.service_model is not one.meta.service_model
    assert description is session.get_component("data_loader").load_service_model("sqs", "service-2")
    assert own._ruleset_resolver._provider is not one._ruleset_resolver._provider
    assert [url.rsplit("/", 1)[-1] for url in queues] == ["own"]
    assert moto_speedups._service_models["sqs"] is own.meta.service_model  # the latest description's is kept


def _class_made() -> list[dict[str, Any]]:
    """Three SQS clients of one session, a `creating-client-class` handler (adding a method and replacing one)
    registered for the second only: each client's class, methods, answers and docstrings."""

    class Extra:
        def extra(self) -> str:
            return "extra"

    def add_and_replace(class_attributes: dict[str, Any], base_classes: list[type], **__: Any) -> None:
        class_attributes["list_queues"] = lambda self, **kwargs: "replaced"
        base_classes.insert(0, Extra)

    session = boto3.Session()
    clients = [session.client("sqs", region_name=REGION)]
    session.events.register("creating-client-class.sqs", add_and_replace)
    clients.append(session.client("sqs", region_name=REGION))
    session.events.unregister("creating-client-class.sqs", add_and_replace)
    clients.append(session.client("sqs", region_name=REGION))
    clients[0].create_queue(QueueName="made")
    return [{"class": type(client).__name__, "bases": [base.__name__ for base in type(client).__mro__],
             "methods": sorted(n for n in dir(client) if not n.startswith("_")), "listed": client.list_queues(),
             "own class": all(type(client) is not type(other) for other in clients if other is not client),
             "doc": str(type(client).send_message.__doc__), "name": type(client).send_message.__name__}
            for client in clients]


def test_client_classes_made_under_speedups_are_botocore_s() -> None:
    """Given three SQS clients of one session, the second made while a `creating-client-class` handler adds a base
    and replaces a method, when they are created under plain moto and under `speedups()` (one set of API methods
    per service model and emitter), then each has a class of its own with botocore's bases, methods, docstrings and
    answers: the handler's changes reach the second client only."""
    with mock_aws():
        plain = _class_made()
    with mock_aws(), speedups():
        fast = _class_made()
    for described in (plain, fast):
        for one in described:
            one["listed"] = one["listed"] if isinstance(one["listed"], str) else sorted(one["listed"]["QueueUrls"])
    assert fast == plain
    assert plain[1]["listed"] == "replaced" and plain[2]["listed"] == plain[0]["listed"] != "replaced"
    assert "extra" in plain[1]["methods"] and "extra" not in plain[2]["methods"]


_PROXY_SETTINGS: list[dict[str, str]] = [
    {}, {"HTTPS_PROXY": "http://proxy.example:3128"}, {"https_proxy": "http://lower.example:3128"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "amazonaws.com"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "example.org"},
    {"HTTP_PROXY": "http://plain.example:80", "REQUEST_METHOD": "GET"},
    {"HTTP_PROXY": "http://plain.example:80"}, {"HTTPS_PROXY": ""}, {}]


def _proxies_of_clients(monkeypatch: Any) -> list[Any]:
    """The proxies of SQS and S3 clients created under each of the settings in turn (the environment changed between
    clients, back to none at the end), and those of a client whose own endpoint URL is a bypassed host."""
    proxies = []
    for settings in _PROXY_SETTINGS:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY", "REQUEST_METHOD"):
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        for service in ("sqs", "s3"):
            proxies.append(boto3.client(service, region_name=REGION)._endpoint.http_session._proxy_config._proxies)
        proxies.append(boto3.client("sqs", region_name=REGION, endpoint_url="http://localhost:4566")
                       ._endpoint.http_session._proxy_config._proxies)
    return proxies


def test_clients_created_under_speedups_get_botocore_s_proxies(monkeypatch: Any) -> None:
    """Given proxy variables set, changed and removed between clients (upper and lower case, NO_PROXY naming the
    endpoints' domain or another, an http proxy with REQUEST_METHOD set, an empty one), when clients are created
    under plain moto and under `speedups()` (proxies remembered per URL and proxy variables), then each gets the
    proxies botocore finds in the environment at its creation."""
    with mock_aws():
        plain = _proxies_of_clients(monkeypatch)
    with mock_aws(), speedups():
        fast = _proxies_of_clients(monkeypatch)
    assert fast == plain
    assert {"https": "http://proxy.example:3128"} in plain and {"http": "http://plain.example:80"} in plain
    assert {} in plain


class _Answering(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"answered {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None: ...


def _pools_used(url: str) -> list[dict[str, Any]]:
    """Clients with botocore's defaults and with a configuration of their own (pool size, timeouts, no TLS check, a
    proxy), each session's pool manager as a request to `url` finds it, and that request sent through it."""
    described = []
    for config, verify in ((None, None), (Config(max_pool_connections=3, connect_timeout=2, read_timeout=4), False),
                           (Config(proxies={"https": "http://proxy.example:3128"}), None)):
        session = boto3.client("sqs", region_name=REGION, config=config, verify=verify)._endpoint.http_session
        manager = session._get_connection_manager(url, session._proxy_config.proxy_url_for(url))
        kw = dict(manager.connection_pool_kw)
        context = kw.pop("ssl_context")
        sent = session.send(AWSRequest(method="GET", url=f"{url}/path?x=1").prepare())
        described.append({
            "manager": type(manager).__name__, "kw": {k: repr(v) for k, v in kw.items()},
            "pools": manager.pool_classes_by_scheme, "context": (context.protocol, context.options,
                                                                  context.verify_mode, context.check_hostname),
            "proxy": repr(session._get_connection_manager("https://x.example", "http://proxy.example:3128")
                          .connection_pool_kw.get("_proxy")),
            "answer": (sent.status_code, sent.content)})
        session.close()
    return described


def test_http_sessions_made_under_speedups_pool_as_botocore_s() -> None:
    """Given clients with botocore's defaults, a pool size, timeouts and no TLS check of their own, and a proxy,
    when they are created under plain moto and under `speedups()` (pool manager made at first use), then each
    session's pool manager has botocore's arguments, pool classes and SSL context, and a request sent through it
    to a local server gets the same answer."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with mock_aws():
            plain = _pools_used(url)
        with mock_aws(), speedups():
            fast = _pools_used(url)
    finally:
        server.shutdown()
    assert fast == plain
    assert plain[0]["answer"] == (200, b"answered /path?x=1") and plain[1]["kw"] != plain[0]["kw"]


def _handlers_after_changes() -> list[dict[str, list[str]]]:
    """A session, its clients and copies of a client's handlers, each changed in turn (registered first, last, on
    a path the session has, on a new one, removed: one the session gave, one of its own), with clients made between
    the changes: every one's handlers at the end."""

    def session_s(**_: Any) -> None: ...

    def client_s(**_: Any) -> None: ...

    def copy_s(**_: Any) -> None: ...

    session = boto3.Session()
    events = session._session._events
    events.register("before-call.sqs.ListQueues", session_s)
    one = session.client("sqs", region_name=REGION)
    two = session.client("sqs", region_name=REGION)
    events.register_last("before-call.sqs", session_s)  # after the first two clients
    three = session.client("sqs", region_name=REGION)
    one.meta.events.register_first("before-call.sqs.ListQueues", client_s)
    two.meta.events.unregister("before-call.sqs.ListQueues", session_s)
    three.meta.events.register("before-call.sqs.SendMessage.extra", client_s)
    copied = copy.copy(three.meta.events)
    copied.register("before-call.sqs.SendMessage", copy_s)
    three.meta.events.unregister("before-call.sqs", session_s)
    events.unregister("before-call.sqs.ListQueues", session_s)
    four = session.client("sqs", region_name=REGION)
    copy_of_copy = copy.copy(copied)
    copied.unregister("before-call.sqs.SendMessage", copy_s)
    one.list_queues()
    return [_handlers(emitter) for emitter in (events._emitter, one.meta.events._emitter, two.meta.events._emitter,
                                               three.meta.events._emitter, copied._emitter, copy_of_copy._emitter,
                                               four.meta.events._emitter)]


def test_handlers_changed_after_clients_are_made_stay_where_botocore_keeps_them() -> None:
    """Given a session, clients made before and after its handlers change, and copies of a client's handlers, when
    each registers and removes handlers (first, last, on paths the others share, on new ones) under plain moto and
    under `speedups()` (clients share a snapshot of the session's handlers until they change one), then every
    session, client and copy ends with botocore's handlers, in botocore's order."""
    with mock_aws():
        plain = _handlers_after_changes()
    with mock_aws(), speedups():
        fast = _handlers_after_changes()
    assert fast == plain
    assert len({str(sorted(handlers.items())) for handlers in plain}) == len(plain)  # each its own


def _clients_around_session_changes() -> list[dict[str, list[str]]]:
    """A session whose handlers change (one registered, then removed) between its clients: their handlers."""

    def added(**_: Any) -> None: ...

    session = boto3.Session()
    events = session._session._events
    clients = [session.client("sqs", region_name=REGION)]
    events.register("before-call.sqs.ListQueues", added)
    clients += [session.client("sqs", region_name=REGION), session.client("sqs", region_name=REGION)]
    events.unregister("before-call.sqs.ListQueues", added)
    clients.append(session.client("sqs", region_name=REGION))
    return [_handlers(client.meta.events._emitter) for client in clients]


def test_a_client_made_after_its_session_s_handlers_change_gets_the_changed_handlers() -> None:
    """Given a session whose handlers change (one registered, then removed) between its clients, when the clients
    are made under plain moto and under `speedups()` (a snapshot of the session's handlers per state), then each
    has the session's handlers as they were at its creation, as botocore's copy has them."""
    with mock_aws():
        plain = _clients_around_session_changes()
    with mock_aws(), speedups():
        fast = _clients_around_session_changes()
    assert fast == plain
    assert plain[1]["before-call.sqs.ListQueues"] == plain[2]["before-call.sqs.ListQueues"] != []
    assert "before-call.sqs.ListQueues" not in plain[0] and plain[3]["before-call.sqs.ListQueues"] == []


def _copies_around_changes() -> list[dict[str, list[str]]]:
    """An emitter of botocore's own changed (registered, removed) between copies: the copies' handlers."""

    def first(**_: Any) -> None: ...

    def second(**_: Any) -> None: ...

    emitter = HierarchicalEmitter()
    emitter.register("before-call.sqs", first)
    copies = [copy.copy(emitter)]
    emitter.register("before-call.sqs.ListQueues", second)
    copies += [copy.copy(emitter), copy.copy(emitter)]
    emitter.unregister("before-call.sqs", first)
    copies.append(copy.copy(emitter))
    copies[1].register_first("before-call.sqs", second)  # one copy's own
    return [_handlers(each) for each in (emitter, *copies)]


def test_copies_of_a_changing_emitter_are_botocore_s() -> None:
    """Given an emitter of botocore's own whose handlers change between copies, when it is copied under plain moto
    and under `speedups()` (one snapshot per state of its handlers), then each copy holds the handlers as they were
    when it was made, and a change to one copy reaches no other."""
    plain = _copies_around_changes()
    with speedups():
        fast = _copies_around_changes()
    assert fast == plain
    assert plain[2] != plain[3] != plain[4] == plain[0] and plain[1] != plain[3]
