"""RFC 9457 problem responses for every error the API can produce.

Every error body is ``application/problem+json``::

    {"type": "https://sharefab.org/problems/validation-error", "title": "Validation failed",
     "status": 422, "detail": "capabilities[0].code: unknown capability ...",
     "errors": [{"field": "capabilities[0].code", "message": "unknown capability ..."}]}

``field`` is a dotted path into the request (body fields without the ``body`` prefix, query and
path parameters by name). A field the request schema does not know is reported as
``unknown field; this object accepts: ...`` (request bodies refuse extra fields). At most
:data:`MAX_LISTED_ERRORS` problems are listed, then one ``body`` entry counts the rest.
Values the database itself refuses (numbers beyond a column's range, NUL characters on
PostgreSQL) become a 422 against ``body``. A body larger than a route's limit is a 413.
Unexpected exceptions become a bare 500 problem: the traceback is logged, never sent.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import Scope

from sharefab.services.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from sharefab.storage.errors import BookingConflict, StorageError
from sharefab.storage.errors import NotFound as RowNotFound

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://sharefab.org/problems/"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response; ``slug`` names the problem type (default from the status)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-").replace("'", "")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "capabilities", 0, "code")`` -> ``"capabilities[0].code"``."""
    parts = list(loc)
    if (
        parts
        and parts[0] in ("body", "query", "path", "header", "cookie", "form")
        and len(parts) > 1
    ):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _validation_message(err: dict[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "")
        return f"malformed JSON{': ' + str(reason) if reason else ''}"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through ``X | None``, ``list[X]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _known_fields(request: Request, loc: Sequence[int | str]) -> list[str] | None:
    """The fields the request body's schema accepts at the object holding ``loc``'s last part
    (``None`` when the route or the path cannot be followed)."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    if body_field is None or not loc or loc[0] != "body":
        return None
    models = _models_in(body_field.field_info.annotation)
    for part in loc[1:-1]:
        if isinstance(part, int):
            continue  # an item of a list: the models stay the same
        nested: list[type[BaseModel]] = []
        for model in models:
            info = model.model_fields.get(str(part))
            if info is not None:
                nested += _models_in(info.annotation)
        models = nested
    if len(models) != 1:
        return None
    return list(models[0].model_fields)


def _field_errors_of_validation(
    exc: RequestValidationError, request: Request | None = None
) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            loc = ("body",)
        message = _validation_message(err)
        if err.get("type") == "extra_forbidden":
            known = _known_fields(request, loc) if request is not None else None
            message = "unknown field" + (
                f"; this object accepts: {', '.join(known)}" if known else ""
            )
        errors.append(FieldError(field_path(loc), message))
    return errors


#: Problems listed in one response; more are summarized (a body with 300,000 unknown keys
#: must not get a 50 MB answer).
MAX_LISTED_ERRORS = 20


def _capped(errors: Sequence[FieldError]) -> list[FieldError]:
    if len(errors) <= MAX_LISTED_ERRORS:
        return list(errors)
    more = len(errors) - MAX_LISTED_ERRORS
    return [
        *errors[:MAX_LISTED_ERRORS],
        FieldError("body", f"... and {more} more problem(s) not listed; fix these first"),
    ]


def _detail_of(errors: Sequence[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _capped(_field_errors_of_validation(exc, request))
    return problem_response(
        422, _detail_of(errors), slug="validation-error", title="Validation failed", errors=errors
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    errors: list[FieldError] = []
    slug = None
    if exc.status_code == 400 and "parsing the body" in detail:  # FastAPI's unreadable body
        detail = "the request body could not be read: send UTF-8 JSON (not nested too deeply)"
        errors = [FieldError("body", detail)]
    if exc.status_code == 413:  # a body limit hit while the body was streamed in
        detail, slug = _too_large(request.scope), "content-too-large"
        errors = [FieldError("body", detail)]
    return problem_response(
        exc.status_code, detail, slug=slug, errors=errors, headers=getattr(exc, "headers", None)
    )


def _too_large(scope: Scope) -> str:
    return too_large_detail(scope.get(MAX_BODY_SIZE_SCOPE_KEY))


def too_large_detail(limit: int | None) -> str:
    """The problem detail of a 413 for a body limit of ``limit`` bytes (if known)."""
    return "the request body is too large" + (
        f"; this endpoint accepts at most {limit} bytes" if limit else ""
    )


async def _on_service(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, InvalidInput):
        errors = _capped(exc.errors)
        detail = exc.detail if len(errors) == len(exc.errors) else _detail_of(errors)
        return problem_response(
            422, detail, slug="validation-error", title="Validation failed", errors=errors
        )
    if isinstance(exc, NotFound):
        return problem_response(404, exc.detail, slug="not-found", errors=exc.errors)
    if isinstance(exc, Conflict):
        return problem_response(409, exc.detail, slug="conflict", errors=exc.errors)
    if isinstance(exc, AuthenticationFailed):
        return problem_response(
            401,
            exc.detail,
            slug="authentication-failed",
            errors=exc.errors,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, PermissionDenied):
        return problem_response(403, exc.detail, slug="permission-denied", errors=exc.errors)
    return problem_response(400, exc.detail, errors=exc.errors)


async def _on_storage(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, BookingConflict):
        return problem_response(409, str(exc), slug="booking-conflict", title="Booking conflict")
    if isinstance(exc, RowNotFound):
        return problem_response(404, str(exc), slug="not-found")
    log.exception("storage error", exc_info=exc)
    return problem_response(500, "an unexpected storage error occurred; it has been logged")


async def _on_value_error(_: Request, exc: Exception) -> JSONResponse:
    # A domain rule refused the input without a field path: report it against the body.
    errors = [FieldError("body", str(exc))]
    return problem_response(
        422, str(exc), slug="validation-error", title="Validation failed", errors=errors
    )


async def _on_integrity(_: Request, exc: Exception) -> JSONResponse:
    log.info("integrity error: %s", exc)
    return problem_response(
        409, "the change conflicts with stored data (a uniqueness or overlap rule)", slug="conflict"
    )


def _out_of_range(_: Request, reason: str) -> JSONResponse:
    message = f"a value in the request cannot be stored: {reason}"
    return problem_response(
        422,
        message,
        slug="validation-error",
        title="Validation failed",
        errors=[FieldError("body", message)],
    )


async def _on_data_error(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the request validation let through (a number beyond the
    # column's range, a NUL character in text on PostgreSQL): the input is at fault, not the
    # server. The transaction was rolled back, so nothing was written.
    log.info("database refused a value: %s", exc)
    orig = getattr(exc, "orig", None) or exc
    if "NUL" in str(orig):
        return _out_of_range(request, "text must not contain NUL (\\x00) characters")
    return _out_of_range(request, "a number or date is out of range")


async def _on_statement(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StatementError)
    if isinstance(exc.orig, OverflowError | ValueError):  # raised while binding a parameter
        log.info("parameter refused: %s", exc)
        return _out_of_range(request, "a number or date is out of range")
    return await _on_unexpected(request, exc)


async def _on_overflow(request: Request, exc: Exception) -> JSONResponse:
    log.info("overflow: %s", exc)
    return _out_of_range(request, "a number or date is out of range")


async def _on_operational(_: Request, exc: Exception) -> JSONResponse:
    log.exception("database error", exc_info=exc)
    return problem_response(503, "the database is unavailable; try again", slug="unavailable")


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ServiceError, _on_service)
    app.add_exception_handler(StorageError, _on_storage)
    app.add_exception_handler(ValueError, _on_value_error)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(OperationalError, _on_operational)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(StatementError, _on_statement)
    app.add_exception_handler(OverflowError, _on_overflow)
    app.add_exception_handler(Exception, _on_unexpected)
