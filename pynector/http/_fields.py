"""The names an HTTP request accepts, and the keyword forms of its fields.

A request is data (a dict of request fields, a URL string or an ``HttpMessage``) plus options
(``timeout``, ``raise_for_status``, ``follow_redirects``). For convenience the fields that are not
the request's identity (``params``, ``headers``, ``cookies``, ``json``, ``data``, ``content``,
``files``) may also be passed as keyword options: ``client.request("/x", headers={...})`` is
``client.request({"url": "/x", "headers": {...}})``. A keyword field overrides the same field of the
data, as a batch item's options override the shared ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError

__all__ = ["FIELD_OPTION_KEYS", "OPTION_KEYS", "merge_request_fields"]

#: Per-request options proper.
OPTION_KEYS = frozenset({"timeout", "raise_for_status", "follow_redirects"})
#: Request fields that may also be given as keyword options.
FIELD_OPTION_KEYS = frozenset({"params", "headers", "cookies", "json", "data", "content", "files"})


def allowed_text() -> str:
    """The accepted option names, for error messages."""
    return (
        f"the options {', '.join(sorted(OPTION_KEYS))} and the request fields "
        f"{', '.join(sorted(FIELD_OPTION_KEYS))}"
    )


def merge_request_fields(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Move request fields passed as keyword options into the request data.

    Returns:
        The request data with those fields (they override the data's own), and the options proper.

    Raises:
        pynector.ConfigurationError: an option that is neither an option nor a request field; the
            message lists the accepted names.
    """
    unknown = set(options) - OPTION_KEYS - FIELD_OPTION_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown HTTP request option(s): {', '.join(sorted(map(str, unknown)))}; "
            f"accepted are {allowed_text()}"
        )
    fields = {k: v for k, v in options.items() if k in FIELD_OPTION_KEYS}
    rest = {k: v for k, v in options.items() if k in OPTION_KEYS}
    return {**data, **fields}, rest
