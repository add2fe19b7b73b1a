"""Service errors, serialized the way the restJson protocol of HealthOmics returns them."""

from __future__ import annotations

from typing import Any

from sandbox.omics.model import service_model


class OmicsError(Exception):
    """Base class: ``code`` is the modelled exception shape name, ``status`` its HTTP status."""

    code = "InternalServerException"
    status = 500

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        modelled = next((e for e in service_model().error_shapes if e.name == cls.__name__), None)
        if modelled is not None:  # one of the model's errors: its shape name and status, as the service sends
            cls.code, cls.status = modelled.name, int(modelled.metadata["error"]["httpStatusCode"])

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"message": self.message}


# Named after the model's error shapes: their code and HTTP status come from it (OmicsError.__init_subclass__).
class ValidationException(OmicsError):
    pass


class AccessDeniedException(OmicsError):
    pass


class ResourceNotFoundException(OmicsError):
    pass


class ConflictException(OmicsError):
    pass


class ServiceQuotaExceededException(OmicsError):
    pass


class ThrottlingException(OmicsError):
    pass


class InternalServerException(OmicsError):
    pass


class NotImplementedByEmulator(OmicsError):
    """An operation of the omics model that the emulator does not serve (reported as a 501)."""

    code = "NotImplementedException"
    status = 501
