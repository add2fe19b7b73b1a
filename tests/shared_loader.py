"""One botocore data loader for every session a test process creates.

moto's `mock_aws()` starts each test with a new default boto3 session, and `botocore.session.get_session()`
makes a new one per call; each new session has its own loader, which parses the service models and the
~1 MB endpoints.json again for the first client of each service (~60 ms of CPU per client, thousands of
times a run). The files do not change during a run and botocore already hands the same parsed objects
to every client of one session, so sharing the loader across sessions changes nothing but the cost.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session

_create_loader: Any = botocore.loaders.create_loader  # botocore's own, before install() replaces it in the session


class _SearchPaths(list[str]):
    """boto3 appends its own data folder to the loader of every session it creates: once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    loader = _create_loader(search_path_string)
    loader._search_paths = _SearchPaths(loader.search_paths)  # type: ignore[attr-defined]
    return loader


def install() -> None:
    """Sessions created from now on in this process share one loader per data path (AWS_DATA_PATH)."""
    botocore.session.create_loader = _shared_loader  # type: ignore[attr-defined]
