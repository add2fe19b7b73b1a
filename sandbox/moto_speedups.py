"""Two hot spots of moto that make a cohort-sized sandbox slow, replaced with equivalent fast paths.

Both are pure performance fixes with moto's own semantics, scoped to a `with speedups():` block:
- EventBridge -> target without an InputTransformer: moto renders its default template through
  jsonpath for every event and target (~10 ms each, and it drops the `account` field); the real
  service delivers the event itself, which is what the fast path does.
- SQS retention check on receive: moto computes every queue attribute (counting all messages) for
  each message it looks at, which is quadratic in the queue depth; the fast path reads the one value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.core.utils import unix_time
from moto.events.utils import EventTemplateParser
from moto.sqs.models import SQSBackend

_original_parse = EventTemplateParser.parse


def _parse(input_template: str | None, input_paths_map: dict[str, Any] | None, event: dict[str, Any]) -> Any:
    if not input_template and not input_paths_map:
        return copy.deepcopy(event)
    return _original_parse(input_template, input_paths_map, event)  # type: ignore[arg-type]


def _is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention_period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())


@contextmanager
def speedups() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(EventTemplateParser, "parse", staticmethod(_parse)))
        stack.enter_context(mock.patch.object(SQSBackend, "is_message_valid_based_on_retention_period",
                                              _is_message_valid_based_on_retention_period))
        yield
