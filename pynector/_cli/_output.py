"""Results out: one JSON record per result (written by the job's checkpoint, one line each)."""

from __future__ import annotations

from typing import Any

# The command is a client of the public API; it reuses two private helpers (the timeout validator and
# the root-cause formatter) so that its messages match the library's.
from .. import HTTPStatusError
from .._errors import describe_exception
from .._job import add_body
from ._common import _MISSING
from ._input import _Item


def build_record(
    item: _Item, result: object, *, no_body: bool, include_headers: bool = False
) -> dict[str, Any]:
    """The output record of *item*, whose batch result is *result* (a response or an exception)."""
    record: dict[str, Any] = {}
    if item.id is not _MISSING:
        record["id"] = item.id
    record["index"] = item.index
    response: object = None
    error: BaseException | None = None
    if isinstance(result, BaseException):
        error = result
        if isinstance(result, HTTPStatusError):
            response = result.response
    else:
        response = result
    record["ok"] = error is None
    status = getattr(response, "status_code", None)
    record["status"] = status if isinstance(status, int) else None
    if item.started is not None and item.finished is not None:
        record["elapsed"] = round(item.finished - item.started, 6)
    else:
        record["elapsed"] = None
    record["attempts"] = item.attempts
    if error is not None:
        record["error"] = {"type": type(error).__name__, "message": str(error) or describe_exception(error)}
    if response is not None and include_headers:
        headers = getattr(response, "headers", None)
        if headers is not None and hasattr(headers, "items"):
            record["headers"] = dict(headers.items())
    if response is not None and not no_body:
        add_body(record, response)
    return record
