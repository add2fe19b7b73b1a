"""Where work items go: an SQS queue (deployed) or an in-process queue (CLI, sandbox, tests)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from pruner.config import WorkItem
from shared.errors import RetryableError

SQS_BATCH = 10


class SqsDispatcher:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def __call__(self, items: list[WorkItem]) -> None:
        for start in range(0, len(items), SQS_BATCH):
            chunk = items[start : start + SQS_BATCH]
            entries = [{"Id": str(n), "MessageBody": item.model_dump_json()} for n, item in enumerate(chunk)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as error:
                raise RetryableError(f"SendMessageBatch failed: {error}") from error
            if response.get("Failed"):
                raise RetryableError(f"{len(response['Failed'])} work items could not be queued")


class InlineQueue:
    """Processes work items in this process, in FIFO order, like the queue and worker would."""

    def __init__(self) -> None:
        self.items: deque[WorkItem] = deque()
        self.sent = 0

    def __call__(self, items: list[WorkItem]) -> None:
        self.items.extend(items)
        self.sent += len(items)

    def drain(self, work: Callable[[WorkItem], str], limit: int = 100_000) -> list[str]:
        outcomes: list[str] = []
        while self.items and len(outcomes) < limit:
            outcomes.append(work(self.items.popleft()))
        return outcomes
