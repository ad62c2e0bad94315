"""Schemas shared by every resource: problem bodies and list paging."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

#: Largest JSON request body (bytes) of the routes that set it: far above any valid body, so an
#: oversized upload is refused with 413 before it is read into memory and parsed.
MAX_JSON_BODY = 1024 * 1024
#: Largest value of an ``Integer`` column (ids, money in minor units) on PostgreSQL (int4).
MAX_DB_INT = 2**31 - 1
#: Instants and dates the API accepts: far enough for any real calendar, and far from the
#: limits of ``datetime`` (so converting to UTC or adding a horizon never overflows).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _instant_in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC), "
            f"got {value.isoformat()}"
        )
    return value


def _date_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}, got {value.isoformat()}"
        )
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_nul_inside(value: dict[str, Any]) -> dict[str, Any]:
    if _has_nul(value):
        raise ValueError("keys and text values must not contain NUL (\x00) characters")
    return value


def _not_bool(value: object) -> object:
    if isinstance(value, bool):  # JSON true/false would otherwise pass as 1/0
        raise ValueError("must be a whole number, not true/false")
    return value


#: A timezone-aware instant between 1970 and 2200 (naive times are refused).
Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
#: A calendar date between 1970 and 2200.
Day = Annotated[date, AfterValidator(_date_in_range)]
#: Text that can be stored on every backend (PostgreSQL refuses NUL characters).
Text = Annotated[str, AfterValidator(_no_nul)]
#: A free-form JSON object (attribute values, lease terms) that every backend can store.
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul_inside)]
#: The id of a stored row in a request body.
RowId = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=MAX_DB_INT)]
#: Integer minor currency units a column can hold.
Minor = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=MAX_DB_INT)]
#: Path parameters naming a stored row, e.g. ``resource_id: IdPath``.
IdPath = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
#: Paging parameters of list endpoints.
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT)]


class RequestModel(BaseModel):
    """Base of every request body (and of the objects nested in one).

    A field the schema does not know is refused (422 naming it, e.g.
    ``operations[0].predecessorz: unknown field``) instead of being silently dropped: a typo in
    an optional field would otherwise fall back to its default without anyone noticing.
    Free-form JSON fields (``attributes``, ``lease_terms``, ...) are typed ``dict`` and keep
    whatever keys they are given. Response models stay lenient (plain ``BaseModel``).
    """

    model_config = ConfigDict(extra="forbid")


class ORMModel(BaseModel):
    """Base of response schemas read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class ProblemFieldError(BaseModel):
    """One offending input field."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem body (media type ``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] = []


class Message(BaseModel):
    """A plain confirmation."""

    message: str


PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for code, text in (
        (401, "Missing, invalid or expired bearer token"),
        (403, "The caller's role may not do this"),
        (404, "Not found, or not visible to the caller's organization"),
        (409, "Conflicts with stored data"),
        (422, "Invalid input; `errors` names each offending field"),
    )
}
