"""Redaction: secrets out of every record before it is matched or written.

The naive cassette redacts credential headers by name and writes the rest as it came. Secrets leak
anyway: a server echoes the ``Authorization`` header in its body, an SDK quotes its key in an error
message, the callable transport was given ``api_key=`` as an argument. So redaction works in three
layers, all deciding what is a credential through the one redaction module (``pynector._redact``):

- by name: credential headers (and the transport's and cassette's ``secret_headers``), URL user-info
  and secret query parameters become ``REDACTED``; so do the call arguments and keys of a request
  value named like a credential header (``api_key``, ``authorization``). There only the names that
  always are credentials count: the header rule's fragments (``token``, ``secret``) would also
  redact ``max_tokens`` and ``token_type``;
- by value: each secret value found that way, and the ones the transport reports (the HTTP
  transport's prepared request, an SDK's key), is scrubbed from every string of the record;
- by hook: a ``scrub`` callable changes anything else (:func:`scrub_json_fields`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..._redact import (
    REDACTED,
    SENSITIVE_HEADERS,
    is_sensitive_header,
    redact_headers,
    redact_url,
    scrub_text,
)

__all__ = ["Scrub", "Secrets", "is_secret_key", "scrub_json_fields"]

Scrub = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Secrets:
    """What must not reach the file for one exchange: secret values, and header names to redact."""

    values: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, request: dict[str, Any], values: Sequence[str], names: tuple[str, ...]) -> Secrets:
        """The secrets of a request record: *values* (those the transport reported), the values of
        its credential headers and of its credential-named fields; *names*: the header names
        declared secret."""
        found = [str(v) for n, v in request.get("headers") or () if is_sensitive_header(str(n), names)]
        _collect_secret_values(request, names, found)
        return cls(tuple(s for s in (*values, *found) if s), names)

    def redact(self, value: Any) -> Any:
        """*value* (a record) with these secrets, credential headers and URLs redacted."""
        return _redact_record(value, self.values, self.names)


@functools.lru_cache(maxsize=1024)
def is_secret_key(key: str, in_headers: bool, extra_headers: tuple[str, ...]) -> bool:
    """Whether a mapping key names a credential: any credential-looking name inside a mapping of
    headers (``extra_headers={...}``), elsewhere only the names that always are (``api_key``...)."""
    if in_headers:
        return is_sensitive_header(key, extra_headers)
    if key.startswith("$"):
        return False
    dashed = key.strip().lower().replace("_", "-")
    if dashed in SENSITIVE_HEADERS:
        return True
    return bool(extra_headers) and dashed in {e.lower().replace("_", "-") for e in extra_headers}


def _collect_secret_values(
    value: Any, names: tuple[str, ...], found: list[str], *, in_headers: bool = False
) -> None:
    """Add to *found* the string values :meth:`Secrets.redact` redacts by their key (``api_key=``,
    credential headers in ``extra_headers=``), so their echoes elsewhere are scrubbed too."""
    kind = type(value)
    if kind is list:
        for item in value:
            if type(item) is dict or type(item) is list:
                _collect_secret_values(item, names, found)
    elif kind is dict:
        for key, item in value.items():
            inner = type(item)
            if inner is str:
                if is_secret_key(key, in_headers, names):
                    found.append(item)
            elif inner is dict or inner is list:
                headers = inner is dict and key.lower().endswith("headers")
                _collect_secret_values(item, names, found, in_headers=headers)


def _redact_record(
    value: Any, secrets: Sequence[str], extra_headers: tuple[str, ...], *, parent_is_headers: bool = False
) -> Any:
    """*value* with credential header values, URLs and known secret values redacted (recursively)."""
    kind = type(value)
    if kind is str:
        return scrub_text(value, secrets) if secrets else value
    if kind is list:
        return [_redact_record(v, secrets, extra_headers) for v in value]
    if kind is not dict:
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        if item is None or type(item) in (int, float, bool):
            result[key] = item
        elif key == "headers" and isinstance(item, list):
            pairs = redact_headers([(str(n), str(v)) for n, v in item], extra_headers)
            result[key] = [[n, scrub_text(v, secrets)] for n, v in pairs]
        elif key == "url" and isinstance(item, str):
            result[key] = scrub_text(redact_url(item), secrets)
        elif is_secret_key(key, parent_is_headers, extra_headers):
            result[key] = REDACTED  # a credential passed as a call argument (api_key=, extra_headers=)
        elif isinstance(item, dict) and key.lower().endswith("headers"):
            result[key] = _redact_record(item, secrets, extra_headers, parent_is_headers=True)
        else:
            result[key] = _redact_record(item, secrets, extra_headers)
    return result


def scrub_json_fields(*names: str) -> Scrub:
    """A ``scrub`` hook replacing the value of JSON fields called *names* (any depth) in every
    request and response body with ``"REDACTED"``.

    ``Cassette(path, scrub=scrub_json_fields("access_token", "email"))``. Bodies that are not JSON
    are left alone.
    """
    wanted = frozenset(names)
    # Every body of the entry: the request's, the response's, a status error's response, each chunk
    # of a stream (a chunk that is not a whole JSON document is left alone).

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: REDACTED if k in wanted else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    def scrub_body(body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("text"), str):
            try:
                document = json.loads(body["text"])
            except ValueError:
                return body
            return {"text": json.dumps(walk(document), separators=(",", ":"), ensure_ascii=False)}
        return body

    def scrub_record(value: Any) -> Any:
        if isinstance(value, list):
            return [scrub_record(v) for v in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            if key == "body":
                result[key] = scrub_body(item)
            elif key == "value":
                result[key] = walk(item)
            elif key == "chunks" and isinstance(item, list):
                result[key] = [[at, scrub_body(body)] for at, body in item]
            else:
                result[key] = scrub_record(item)
        return result

    def scrub(entry: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = scrub_record(entry)
        return scrubbed

    return scrub
