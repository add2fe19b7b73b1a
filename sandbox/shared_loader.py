"""One botocore data loader, and one registration of botocore's built-in handlers, for every session a process
creates: the served sandbox's (`python -m sandbox serve`) and each test process's (tests/conftest.py).

moto's `mock_aws()` starts each test with a new default boto3 session, and `botocore.session.get_session()`
makes a new one per call; each new session has its own loader, which lists the ~400 service folders and parses
the service models and the ~1 MB endpoints.json again for the first client of each service (~60 ms of CPU per
client, thousands of times a test run; a served sandbox makes four sessions as it starts). The files do not
change while a process runs and botocore already hands the same parsed objects to every client of one session,
so sharing the loader across sessions changes nothing but the cost. moto parses the models its responses read
through a loader of its own, a new one (listing botocore's and moto's folders) for each model: one serves all.

Each new session also registers botocore's ~150 built-in event handlers one by one, through the alias
checks of its event emitter: 3.9 % of a `make test` run's samples (py-spy), nearly all of it in sessions
that moto's fresh default sessions create. The handlers are module-level functions, the same for every
session: a new session takes a copy of the first one's registrations, as botocore itself gives every
client a copy of its session's emitter.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import botocore.handlers
import botocore.hooks
import botocore.loaders
import botocore.session
import moto.core.loaders
import moto.core.utils

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


@functools.cache
def _shared_moto_loader() -> moto.core.loaders.Loader:
    return moto.core.loaders.create_loader()


_register_builtin_handlers: Any = botocore.session.Session._register_builtin_handlers  # botocore's own
# keyed by the built-in handler specs themselves (moto appends its own at import): a changed list registers anew
_registered_builtins: dict[tuple[Any, ...], botocore.hooks.HierarchicalEmitter] = {}


def _copy_builtin_handlers(session: botocore.session.Session, events: Any) -> None:
    """botocore's `Session._register_builtin_handlers`, done once per list of built-in handlers (moto adds its
    own at import) and copied into each later session whose emitter is still empty, as botocore creates it."""
    emitter = session._original_handler  # type: ignore[attr-defined]
    if (type(emitter) is not botocore.hooks.HierarchicalEmitter or emitter._unique_id_handlers
            or emitter._handlers._root["children"]):  # hooks of the caller's own: botocore's way
        _register_builtin_handlers(session, events)
        return
    key = tuple(botocore.handlers.BUILTIN_HANDLERS)
    registered = _registered_builtins.get(key)
    if registered is None:
        _register_builtin_handlers(session, events)
        _registered_builtins[key] = copy.copy(emitter)
        return
    fresh = copy.copy(registered)
    emitter._handlers, emitter._unique_id_handlers = fresh._handlers, fresh._unique_id_handlers
    emitter._lookup_cache = {}


def install() -> None:
    """Sessions created from now on in this process share one loader per data path (AWS_DATA_PATH) and copy
    one registration of botocore's built-in handlers; moto's service models load through one loader."""
    botocore.session.create_loader = _shared_loader  # type: ignore[attr-defined]
    botocore.session.Session._register_builtin_handlers = _copy_builtin_handlers  # type: ignore[method-assign]
    moto.core.utils.create_loader = _shared_moto_loader  # type: ignore[attr-defined]
