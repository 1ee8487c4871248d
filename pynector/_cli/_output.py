"""Results out: one JSON record per result (written by the job's checkpoint, one line each).

The command's record is the job's default record (``_job.default_record``: ``ok``, ``status``,
``error``, the body as ``json`` or ``body``) with what the command adds: ``status`` always present
(``null`` without a response), the item's ``elapsed`` time and ``attempts`` from the retry policy's
report, and the response ``headers`` with ``--include-headers``. The job writes ``id`` and ``index``
in front.
"""

from __future__ import annotations

from typing import Any

from .. import HTTPStatusError, JobItem, RetryDetails
from .._job import default_record


def build_record(
    item: JobItem,
    result: object,
    details: RetryDetails | None,
    *,
    no_body: bool,
    include_headers: bool = False,
) -> dict[str, Any]:
    """The output record of *item*, whose batch result is *result* (a response or an exception) and
    whose call went as *details* says (``None``: no attempt started)."""
    base = default_record(item, result, body=not no_body)
    record: dict[str, Any] = {
        "ok": base["ok"],
        "status": base.get("status"),
        "elapsed": None if details is None else round(details.elapsed, 6),
        "attempts": 0 if details is None else details.attempts,
    }
    if "error" in base:
        record["error"] = base["error"]
    if include_headers:
        response = result.response if isinstance(result, HTTPStatusError) else result
        headers = getattr(response, "headers", None)
        if headers is not None and hasattr(headers, "items"):
            record["headers"] = dict(headers.items())
    for key in ("json", "body"):
        if key in base:
            record[key] = base[key]
    return record
