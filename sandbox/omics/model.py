"""botocore's omics service model, loaded once: the emulator's routes, limits and errors come from it."""

from __future__ import annotations

from functools import lru_cache

import botocore.session
from botocore.model import ServiceModel


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("omics")
