"""Service errors, serialized the way the restJson protocol of HealthOmics returns them."""

from __future__ import annotations


class OmicsError(Exception):
    """Base class: ``code`` is the modelled exception shape name, ``status`` its HTTP status."""

    code = "InternalServerException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"message": self.message}


class ValidationException(OmicsError):
    code = "ValidationException"
    status = 400


class AccessDeniedException(OmicsError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFoundException(OmicsError):
    code = "ResourceNotFoundException"
    status = 404


class ConflictException(OmicsError):
    code = "ConflictException"
    status = 409


class ServiceQuotaExceededException(OmicsError):
    code = "ServiceQuotaExceededException"
    status = 402


class ThrottlingException(OmicsError):
    code = "ThrottlingException"
    status = 429


class InternalServerException(OmicsError):
    code = "InternalServerException"
    status = 500


class NotImplementedByEmulator(OmicsError):
    """An operation of the omics model that the emulator does not serve (reported as a 501)."""

    code = "NotImplementedException"
    status = 501
