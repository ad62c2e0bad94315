"""Pydantic request/response schemas, one family per API resource
(``XCreate`` / ``XUpdate`` / ``XPublic`` / ``XsPublic{data, count}``)."""
