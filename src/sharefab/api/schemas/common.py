"""Schemas shared by every resource: problem bodies and list paging."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
