"""Errors raised by services; the API turns each into an RFC 9457 problem response.

Services never know about HTTP. They raise these (or a plain ``ValueError`` from the domain),
and :mod:`sharefab.api.errors` maps them to status codes: :class:`InvalidInput` -> 422,
:class:`NotFound` -> 404, :class:`Conflict` -> 409, :class:`AuthenticationFailed` -> 401,
:class:`PermissionDenied` -> 403.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field (``field`` is a dotted path such as
    ``capabilities[0].code``)."""

    field: str
    message: str


class ServiceError(Exception):
    """Base class of the errors a service raises on purpose."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[FieldError] = list(errors or [])


class InvalidInput(ServiceError, ValueError):
    """The input breaks a rule; ``errors`` names each offending field."""

    @classmethod
    def single(cls, field: str, message: str) -> InvalidInput:
        """An error about exactly one field, whose message is also the detail."""
        return cls(f"{field}: {message}", [FieldError(field, message)])

    @classmethod
    def of(cls, errors: list[FieldError]) -> InvalidInput:
        """An error about each of ``errors``; the detail lists them all (``field: message``,
        separated by ``; ``)."""
        return cls("; ".join(f"{e.field}: {e.message}" for e in errors), errors)


class NotFound(ServiceError):
    """The object does not exist *or the caller may not see it* (existence is not leaked)."""

    def __init__(self, what: str, ident: object) -> None:
        detail = f"{what} {ident} not found"
        super().__init__(detail, [FieldError(f"{what.replace(' ', '_')}_id", detail)])
        self.what = what
        self.ident = ident


class Conflict(ServiceError):
    """The request clashes with stored state (duplicate name, overlapping window, ...)."""


class AuthenticationFailed(ServiceError):
    """Wrong credentials, or a missing, invalid or expired token."""


class PermissionDenied(ServiceError):
    """The caller is known and may see the object but lacks the role to change it."""
