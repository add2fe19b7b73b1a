"""Two hot spots of moto that make a cohort-sized sandbox slow, replaced with equivalent fast paths.

All are pure performance fixes with moto's own semantics, scoped to a `with speedups():` block:
- EventBridge -> target without an InputTransformer: moto renders its default template through
  jsonpath for every event and target (~10 ms each, and it drops the `account` field); the real
  service delivers the event itself, which is what the fast path does.
- SQS retention check on receive: moto computes every queue attribute (counting all messages) for
  each message it looks at, which is quadratic in the queue depth; the fast path reads the one value.
- EventBridge targets with an input template (moto's archive rule): moto compiles the same jsonpath
  expressions again for every event; the fast path caches the compiled expressions (they are pure).
- SQS ReceiveMessage: moto lists every visible message of the queue (checking each one's visibility
  against the clock) before taking the first 10; the fast path yields them lazily, so a receive costs
  what it returns, not the queue's depth.
- DynamoDB Query on a table's own key: moto compares every item of the table with the partition key;
  the fast path hands moto only the queried partition (moto already stores items by partition), so a
  query costs the size of its partition, as in DynamoDB.
- DynamoDB Query on an index: moto sorts the whole table (`all_items`) and then sorts the matching items
  again by the index's key; the fast path skips the first sort, whose order the second one replaces
  (the index key plus the table key is unique per item, so the result does not depend on it).
- SQS SendMessage: moto reads the queue's `ContentBasedDeduplication` from `queue.attributes`, which
  computes every attribute, counting all the queue's messages three times, on each send (quadratic in
  the queue's depth); the fast path computes the attributes only when something reads one other than
  that flag.
- DynamoDB UpdateItem validation: moto's action-count and overlapping-path validators visit every node
  of the parsed expression and collect the clauses below each one again (`find_clauses`), which is
  quadratic in the number of actions (seconds for a 150-action SET); the fast path remembers each
  node's clauses for the length of one validator's pass, so each subtree is collected once. The
  validators themselves, their order and their errors are moto's.

tests/sandbox/test_moto_speedups.py runs the same calls with and without each fast path and compares
the answers, so the sandbox keeps moto's behaviour when moto changes.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any
from unittest import mock

import jsonpath_ng.ext
from moto.core.utils import unix_time
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator
from moto.events.utils import EventTemplateParser
from moto.sqs.models import Queue, SQSBackend

_original_parse = EventTemplateParser.parse


def _parse(input_template: str | None, input_paths_map: dict[str, Any] | None, event: dict[str, Any]) -> Any:
    if not input_template and not input_paths_map:  # the event itself, less moto's own bookkeeping field
        return {key: copy.deepcopy(value) for key, value in event.items() if key != "ingestion-time"}
    return _original_parse(input_template, input_paths_map, event)  # type: ignore[arg-type]


def _is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention_period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())


_original_query = Table.query


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    candidates: list[Any]
    if index_name:
        candidates = [item for entry in self.items.values()
                      for item in (entry.values() if self.range_key_attr else (entry,))]
    elif hash_key is None or not self.has_range_key:
        return _original_query(self, hash_key, *args, **kwargs)
    else:
        candidates = list(self.items.get(hash_key, {}).values())
    self.all_items = lambda: candidates  # type: ignore[method-assign]  # this call only
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


_original_find_clauses = Node.find_clauses
_clauses_seen: ContextVar[dict[tuple[int, tuple[type, ...]], list[Any]] | None] = ContextVar(
    "_clauses_seen", default=None)


def _find_clauses(self: Node, clause_types: Any) -> list[Any]:
    seen = _clauses_seen.get()
    if seen is None:
        return _original_find_clauses(self, clause_types)  # type: ignore[no-any-return]
    key = (id(self), tuple(clause_types))
    if key not in seen:  # the recursion into children comes back here, so each subtree is collected once
        seen[key] = _original_find_clauses(self, clause_types)
    return list(seen[key])


def _remembering_clauses(traverse: Callable[..., Any]) -> Callable[..., Any]:
    """A validator's pass with `find_clauses` remembered: these validators only read the tree."""

    @functools.wraps(traverse)
    def wrapper(self: Any, node: Any) -> Any:
        token = _clauses_seen.set({})
        try:
            return traverse(self, node)
        finally:
            _clauses_seen.reset(token)

    return wrapper


_ContentBasedDeduplication = "ContentBasedDeduplication"
_original_attributes = Queue.attributes.fget  # type: ignore[attr-defined]


class _QueueAttributes(Mapping[str, Any]):
    """`Queue.attributes` computed on first use, except the one flag SendMessage reads."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    @functools.cached_property
    def _all(self) -> dict[str, Any]:
        return dict(_original_attributes(self._queue))

    def get(self, key: str, default: Any = None) -> Any:
        if key != _ContentBasedDeduplication:
            return self._all.get(key, default)
        if not self._queue.fifo_queue:  # moto lists the FIFO attributes for FIFO queues only
            return default
        value = self._queue.content_based_deduplication  # type: ignore[attr-defined]
        return str(value).lower() if isinstance(value, bool) else value

    def __getitem__(self, key: str) -> Any:
        return self._all[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


_cached_jsonpath = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)


class _VisibleMessages:
    """`Queue.messages` evaluated lazily (moto iterates it in receive_message and takes len() of it)."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        return (m for m in list(self._queue._messages) if m.visible and not m.delayed)

    def __len__(self) -> int:
        return sum(1 for m in self._queue._messages if m.visible and not m.delayed)


@contextmanager
def speedups() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(EventTemplateParser, "parse", staticmethod(_parse)))
        stack.enter_context(mock.patch.object(SQSBackend, "is_message_valid_based_on_retention_period",
                                              _is_message_valid_based_on_retention_period))
        stack.enter_context(mock.patch.object(Table, "query", _query))
        stack.enter_context(mock.patch.object(jsonpath_ng.ext, "parse", _cached_jsonpath))
        stack.enter_context(mock.patch.object(Queue, "messages", property(_VisibleMessages)))
        stack.enter_context(mock.patch.object(Queue, "attributes", property(_QueueAttributes)))
        stack.enter_context(mock.patch.object(Node, "find_clauses", _find_clauses))
        for validator in (ActionCountValidator, OverlappingPathsValidator):
            stack.enter_context(mock.patch.object(validator, "traverse", _remembering_clauses(validator.traverse)))
        yield
