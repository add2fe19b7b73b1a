"""Reading a run's manifest stream from CloudWatch Logs: GetLogEvents pages, forward from the head."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from shared.cost.rightsizing import LOG_GROUP
from shared.errors import RetryableError

# Events per page: bounds what one response holds in memory (the service also stops a page at 1 MB).
PAGE_EVENTS = 1000
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})


class ManifestMissing(Exception):
    """The stream is not there (yet): HealthOmics writes it after the run completes."""


class ManifestLogs:
    def __init__(self, client: Callable[[], Any], page_events: int = PAGE_EVENTS) -> None:
        self._factory, self._client = client, None
        self.page_events = page_events
        self.pages_read = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def events(self, stream: str, stop: Callable[[], bool] = lambda: False) -> Iterator[dict[str, Any]]:
        """The stream's events, oldest first, one page in memory at a time: a page is let go before the next
        request (a caller holding pages would keep two alive while the next one is fetched and parsed).
        `stop` is asked before every request: when it says so, the read ends with RetryableError (the caller
        has written nothing yet). The end is the page whose nextForwardToken is the token that asked for it
        (CloudWatch Logs' documented end condition): a partly full or empty page before it is not the end."""
        token: str | None = None
        while True:
            if stop():
                raise RetryableError(f"no time left to read {stream}; retried")
            page, following = self._page(stream, token)
            ended = not following or following == token
            yield from page
            del page  # before the next request
            if ended:
                return
            token = following

    def _page(self, stream: str, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One GetLogEvents page: its events and nextForwardToken (the rest of the response is dropped)."""
        params: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True,
                                  "limit": self.page_events}
        if token:
            params["nextToken"] = token
        try:
            response = self.client.get_log_events(**params)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ManifestMissing(stream) from error
            raise RetryableError(f"GetLogEvents: {error.response.get('Error', {}).get('Code')}") from error
        self.pages_read += 1
        return response.get("events") or [], response.get("nextForwardToken")
