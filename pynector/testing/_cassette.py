"""Cassettes: record the exchanges of any transport once, replay them on trio's clock afterwards.

A :class:`Cassette` is one file of recorded exchanges. ``cassette.wrap(transport)`` returns a
transport (:class:`CassetteTransport`) that, depending on the record mode, answers from the file,
forwards to the wrapped transport and records what happened, or both. It wraps the transport object,
not a protocol, so every transport gets cassettes: HTTP (both engines, whole and streamed bodies), the
framed tcp/unix transports, the SDK and callable transports, the mock and memory transports.

The file format is JSON Lines: a header line, then one line per exchange, in the order the exchanges
started. JSON needs nothing beyond the standard library (a YAML reader would be a new dependency), a
line per exchange makes a re-recording diff show exactly the exchanges that changed, and every line
is a complete record that ``jq`` or ``grep`` reads. Bodies are stored as ``{"text": ...}`` when they
are UTF-8 and ``{"base64": ...}`` otherwise. Each exchange line holds:

- ``transport`` (``"http"``, ``"frames"`` or ``"call"``: how the request and response are encoded),
  ``op`` (``"exchange"`` or ``"stream"``);
- ``start`` (seconds from the first recorded exchange) and ``duration`` (seconds until the response,
  or until the error), measured on trio's clock;
- ``request`` (HTTP: method, URL, headers and body as sent; otherwise the request value and options);
- one outcome: ``response``, ``error`` (the pynector exception class, message and attributes) or
  ``cancelled`` (the caller's deadline or cancel scope ended the exchange);
- for streams, ``chunks``: ``[offset, body]`` pairs (offset in seconds from the start of the exchange)
  and how the stream ended.

Secrets never reach the file: header values the one redaction module (``pynector._redact``) calls
credentials (``Authorization``, cookies, API-key headers, the HTTP transport's ``secret_headers``, the
cassette's own ``secret_headers``), URL user-info and secret query parameters are replaced with
``REDACTED``; every string of a line is also scrubbed of the secret values the request carried (an
echoing server, an SDK key). A ``scrub`` hook changes anything else (for example JSON fields of bodies,
see :func:`scrub_json_fields`). Matching compares redacted requests, so it never needs the secrets.

Replay answers after the recorded duration on trio's clock (``latency=`` scales it; ``0`` answers at
once): under ``autojump_clock`` an hour of recorded latency replays instantly, and a ``timeout=``
shorter than a recorded duration fires exactly as it would against the real service. A recorded error
is raised again as the same pynector exception class with the same attributes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import difflib
import functools
import importlib
import json
import math
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import trio

from .. import _errors
from .._errors import ConfigurationError, HTTPStatusError, PynectorError
from .._redact import (
    REDACTED,
    SENSITIVE_HEADERS,
    is_sensitive_header,
    redact_headers,
    redact_url,
    scrub_text,
)
from .._version import __version__
from ..http._model import BodyReader, RequestInfo, Response
from ..http._transport import HTTPTransport
from ..transport._base import SerializedTransport, Transport, adapt_transport
from ..transport._sdk import TextReply, Usage
from ..transport._stream import StreamTransport

__all__ = [
    "RECORD_MODES",
    "Cassette",
    "CassetteError",
    "CassetteTransport",
    "UnmatchedRequestError",
    "scrub_json_fields",
]

#: The record modes, as the tools people know them name them.
RECORD_MODES = ("once", "new_episodes", "none", "all")
RecordMode = Literal["once", "new_episodes", "none", "all"]
#: The built-in matchers (``match_on=``); a callable ``(recorded, live) -> bool`` is a matcher too.
MATCHERS = ("method", "url", "host", "path", "query", "headers", "body", "json_body")
#: What requests are matched on by default.
DEFAULT_MATCH_ON = ("method", "url", "body")
#: The version of the file format (the header line's ``pynector_cassette``).
FORMAT_VERSION = 1

# Headers that differ on every run without changing the request's meaning.
_VOLATILE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
_ROUND = 6  # seconds are written to the microsecond

Matcher = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
Scrub = Callable[[dict[str, Any]], dict[str, Any] | None]


class CassetteError(PynectorError):
    """A cassette cannot be used as asked: a missing file in mode ``none``, an unreadable line, a
    result that cannot be written, entries never replayed (strict mode)."""


class UnmatchedRequestError(CassetteError):
    """Replay received a request that no unused recorded exchange matches.

    Not a :class:`~pynector.TransportError`, so it is never retried. The message lists the closest
    recorded exchanges and what differs.

    Attributes:
        request: the redacted request record that found no match.
    """

    def __init__(self, message: str, request: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.request = request


# --- bodies and values ------------------------------------------------------------------------


def encode_body(data: bytes) -> dict[str, str]:
    """``{"text": ...}`` for UTF-8 *data*, else ``{"base64": ...}``."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def decode_body(record: object) -> bytes:
    """The bytes of a body written by :func:`encode_body`.

    Raises:
        pynector.testing.CassetteError: *record* is not a body.
    """
    if type(record) is dict or isinstance(record, Mapping):
        text = record.get("text")
        if type(text) is str:
            return text.encode("utf-8")
        if isinstance(record.get("base64"), str):
            try:
                return base64.b64decode(str(record["base64"]), validate=True)
            except binascii.Error as exc:
                raise CassetteError(f"a recorded body is not valid base64: {exc}") from exc
    raise CassetteError(f"a recorded body must be {{'text': ...}} or {{'base64': ...}}, got {record!r}")


def _class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise CassetteError(f"the recorded class {path} cannot be imported: {exc}") from exc
    return target


def encode_value(value: Any) -> Any:
    """A JSON value for *value* (a request or result of a non-HTTP transport), tagged when needed.

    JSON types pass as they are; bytes, SDK text replies, pydantic models (SDK responses), pynector
    messages and HTTP responses are written as ``{"$bytes"|"$reply"|"$model"|"$message"|"$http": ...}``.

    Raises:
        pynector.testing.CassetteError: *value* has a type a cassette cannot write.
    """
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is dict:
        for key in value:
            if type(key) is not str or key.startswith("$"):
                break
        else:
            return {k: encode_value(v) for k, v in value.items()}
    if isinstance(value, TextReply):
        usage = value.usage
        return {
            "$reply": str(value),
            "usage": [usage.requests, usage.input_tokens, usage.output_tokens],
            "response": None if value.response is None else encode_value(value.response),
        }
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": encode_body(bytes(value))}
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, Response):
        return {"$http": encode_response(value)}
    if callable(getattr(value, "model_dump", None)) and callable(getattr(kind, "model_validate", None)):
        return {"$model": _class_path(value), "data": value.model_dump(mode="json")}
    if callable(getattr(value, "serialize", None)) and callable(getattr(kind, "deserialize", None)):
        return {"$message": _class_path(value), "data": encode_body(bytes(value.serialize()))}
    raise CassetteError(
        f"a cassette cannot write a {type(value).__name__}: requests and results must be JSON values, "
        "bytes, messages with serialize()/deserialize(), pydantic models or HTTP responses"
    )


def decode_value(record: Any) -> Any:
    """The value :func:`encode_value` wrote as *record*.

    Raises:
        pynector.testing.CassetteError: a tag names a class that cannot be imported or rebuilt.
    """
    if isinstance(record, list):
        return [decode_value(v) for v in record]
    if not isinstance(record, dict):
        return record
    if "$bytes" in record:
        return decode_body(record["$bytes"])
    if "$reply" in record:
        requests, input_tokens, output_tokens = record.get("usage") or (0, 0, 0)
        response = record.get("response")
        return TextReply(
            record["$reply"],
            usage=Usage(requests, input_tokens, output_tokens),
            response=None if response is None else decode_value(response),
        )
    if "$dict" in record:
        return {decode_value(k): decode_value(v) for k, v in record["$dict"]}
    if "$http" in record:
        return rebuild_response(record["$http"], None, 0.0)
    if "$model" in record:
        cls = _import_class(record["$model"])
        if not callable(getattr(cls, "model_validate", None)):
            raise CassetteError(f"the recorded class {record['$model']} is not a pydantic model")
        return cls.model_validate(record["data"])
    if "$message" in record:
        cls = _import_class(record["$message"])
        if not callable(getattr(cls, "deserialize", None)):
            raise CassetteError(f"the recorded class {record['$message']} has no deserialize()")
        return cls.deserialize(decode_body(record["data"]))
    return {k: decode_value(v) for k, v in record.items()}


# --- HTTP responses ---------------------------------------------------------------------------


def encode_response(response: Response, *, with_body: bool = True) -> dict[str, Any]:
    """An HTTP response (and its redirect history) as a JSON record."""
    record: dict[str, Any] = {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "http_version": response.http_version,
        "url": response.url,
        "headers": [list(pair) for pair in response.headers.multi_items()],
    }
    if with_body:
        record["body"] = encode_body(response.content)
    if response.history:
        record["history"] = [encode_response(hop) for hop in response.history]
    return record


# RequestInfo is immutable: one per method and URL serves every response rebuilt for them.
_REQUEST_INFO: dict[tuple[str, str], RequestInfo] = {}


def rebuild_response(
    record: Mapping[str, Any], method: str | None, elapsed: float, *, with_body: bool = True
) -> Response:
    """The :class:`~pynector.http.Response` a record describes (the request's *method*, or GET)."""
    method = method or "GET"
    url = record["url"]
    hops = record.get("history")
    info = _REQUEST_INFO.get((method, url))
    if info is None:
        if len(_REQUEST_INFO) >= 512:
            _REQUEST_INFO.clear()
        info = _REQUEST_INFO[(method, url)] = RequestInfo(method, url)
    return Response(
        record["status"],
        record["reason"],
        record["http_version"],
        record["headers"],  # [name, value] lists, as (name, value) pairs
        url,
        info,
        elapsed,
        [rebuild_response(hop, method, 0.0) for hop in hops] if hops else None,
        decode_body(record["body"]) if with_body else None,
    )


# --- errors -----------------------------------------------------------------------------------

_SIMPLE = (str, int, float, bool, type(None))


def encode_error(exc: Exception, encode_response_value: Callable[[Any], Any]) -> dict[str, Any]:
    """The exception class, message and simple attributes of *exc* (``__cause__`` is not kept)."""
    cls = type(exc)
    name = cls.__name__ if cls.__module__.startswith("pynector") else f"{cls.__module__}.{cls.__qualname__}"
    attributes: dict[str, Any] = {}
    if isinstance(exc, PynectorError):
        for attr in ("attempts", "http_method", "request_sent"):
            value = getattr(exc, attr, None)
            if value is not None:
                attributes[attr] = value
    for key, value in vars(exc).items():
        if key.startswith("_") or key == "response":
            continue
        if isinstance(value, _SIMPLE):
            attributes[key] = value
    if isinstance(exc, HTTPStatusError) and exc.response is not None:
        with contextlib.suppress(CassetteError):
            attributes["response"] = encode_response_value(exc.response)
    return {"type": name, "message": str(exc), "attributes": attributes}


def rebuild_error(record: Mapping[str, Any], rebuild_response_value: Callable[[Any], Any]) -> Exception:
    """The exception a record of :func:`encode_error` describes: same class, message, attributes.

    A pynector class is looked up by name; a builtin exception class (``builtins.ValueError``) is
    rebuilt as well; any other class becomes a :class:`CassetteError` naming it (a cassette never
    imports code to rebuild an error).
    """
    name = str(record.get("type"))
    message = str(record.get("message", ""))
    attributes = dict(record.get("attributes") or {})
    cls: Any = getattr(_errors, name, None)
    if cls is None:
        from . import _mock

        cls = getattr(_mock, name, None)
    if cls is None and name.startswith("builtins."):
        import builtins

        cls = getattr(builtins, name.removeprefix("builtins."), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return CassetteError(f"replayed a recorded {name}: {message}")
    exc: Any = cls.__new__(cls, message)
    exc.args = (message,)
    if issubclass(cls, HTTPStatusError):
        exc.status_code = attributes.pop("status_code", 0)
        exc.retry_after = attributes.pop("retry_after", None)
        response = attributes.pop("response", None)
        exc.response = None if response is None else rebuild_response_value(response)
    for key, value in attributes.items():
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, key, value)
    return exc  # type: ignore[no-any-return]  # an Exception subclass, checked above


# --- codecs: how each kind of transport's requests and results are written --------------------


class _Codec:
    """Writes the requests and results of one kind of transport, and rebuilds the results."""

    kind = "call"

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        #: Header names the transport itself treats as credentials (the HTTP ``secret_headers``).
        self.secret_headers: tuple[str, ...] = tuple(getattr(transport, "_secret_headers", ()))
        #: The redacted records of requests seen before, by :meth:`simple_key` or :meth:`cache_key`
        #: (per transport: a simple request's record depends on the transport's settings).
        self.cache: dict[tuple[Hashable, str], tuple[object, _Live]] = {}

    def token_for(self, data: Any, options: Mapping[str, Any]) -> object:
        """An object standing for this request's record (the same object, the same record), or
        ``None``. The HTTP transport reuses one prepared request per simple request, which lets
        replay skip encoding and redacting it again."""
        return None

    def simple_key(self, data: Any, options: Mapping[str, Any]) -> Hashable | None:
        """A key for a request whose record depends on nothing but the key, found without
        preparing the request (the common requests of replay's fast path), or ``None``."""
        return None

    def cache_key(self, data: Any, options: Mapping[str, Any], token: object) -> Hashable | None:
        """A key equal for requests whose records are equal (the same *token*, or the same JSON
        value and options), or ``None`` when there is none: replay then reuses the record."""
        if token is not None:
            return ("token", id(token))
        kind = type(data)
        if kind is str or kind is bytes:
            return (kind, data) if not options else None
        if kind is dict:
            try:
                return ("json", _STRICT_JSON((data, options)))
            except (TypeError, ValueError):
                return None
        return None

    def request(
        self, data: Any, options: Mapping[str, Any], token: object = None
    ) -> tuple[dict[str, Any], Sequence[str]]:
        """The request record and the secret values it carried (*token*: from :meth:`token_for`)."""
        record: dict[str, Any] = {"body": encode_value(data)}
        if options:
            record["options"] = encode_value(dict(options))
        secrets = [str(getattr(self.transport, "_api_key", "") or "")]
        defaults = getattr(self.transport, "defaults", None)
        if isinstance(defaults, Mapping):  # the callable transport's fixed arguments (api_key=...)
            secrets += [
                str(v) for k, v in defaults.items() if isinstance(v, str) and _is_secret_key(k, False, ())
            ]
        return record, secrets

    def response(self, result: Any) -> dict[str, Any]:
        return {"value": encode_value(result)}

    def rebuild(self, record: Mapping[str, Any], request: Mapping[str, Any], elapsed: float) -> Any:
        return decode_value(record["value"])

    def error_response(self, response: Any) -> Any:
        return encode_value(response)

    def rebuild_error_response(self, record: Any) -> Any:
        return decode_value(record)


class _FramesCodec(_Codec):
    """tcp, unix and framed memory transports: the payload bytes of the request and reply frames."""

    kind = "frames"
    transport: StreamTransport

    def request(
        self, data: Any, options: Mapping[str, Any], token: object = None
    ) -> tuple[dict[str, Any], Sequence[str]]:
        payload = self.transport._serialize(data)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            return super().request(data, options)  # the transport reports the bad payload
        record: dict[str, Any] = {"body": encode_body(bytes(payload))}
        if options:
            record["options"] = encode_value(dict(options))
        return record, ()

    def response(self, result: Any) -> dict[str, Any]:
        payload = result if isinstance(result, (bytes, bytearray, memoryview)) else result.serialize()
        return {"body": encode_body(bytes(payload))}

    def rebuild(self, record: Mapping[str, Any], request: Mapping[str, Any], elapsed: float) -> Any:
        return self.transport._deserialize(decode_body(record["body"]))


class _HTTPCodec(_Codec):
    """The HTTP transport: the request as it goes on the wire (absolute URL, headers, body bytes)."""

    kind = "http"
    transport: HTTPTransport

    def simple_key(self, data: Any, options: Mapping[str, Any]) -> Hashable | None:
        """The items of a request dict whose values are all strings, with no options: the record
        of such a request depends on them and the transport's fixed settings alone (the
        trace-context headers the transport may add are never recorded)."""
        if options or type(data) is not dict:
            return None
        for value in data.values():
            if type(value) is not str:
                return None
        return tuple(data.items())

    def token_for(self, data: Any, options: Mapping[str, Any]) -> object:
        """The transport's prepared request (the same object for a repeated simple request), or
        ``None`` for a streamed body, which can be sent once and so is never prepared here."""
        if type(data) is dict or isinstance(data, Mapping):
            content = data.get("content")
            if content is not None and not isinstance(content, (str, bytes, bytearray, memoryview)):
                return None
        return self.transport._prepare(data, options)

    def request(
        self, data: Any, options: Mapping[str, Any], token: object = None
    ) -> tuple[dict[str, Any], Sequence[str]]:
        if token is None:
            # A streamed body: it is not read here, only named.
            method = str(data.get("method", "GET")).upper()
            url = str(self.transport._requests.resolve(str(data.get("url", data.get("path", "")))))
            return {"method": method, "url": url, "body": {"text": "<streamed body not recorded>"}}, ()
        prepared: Any = token
        headers = [[n, v] for n, v in prepared.headers if n.lower() not in _VOLATILE_HEADERS]
        body = prepared.body
        record = {
            "method": prepared.method,
            "url": prepared.url_text,
            "headers": headers,
            "body": encode_body(body if isinstance(body, bytes) else b""),
        }
        return record, prepared.secrets

    def response(self, result: Any) -> dict[str, Any]:
        if not isinstance(result, Response):
            return super().response(result)
        return encode_response(result)

    def rebuild(self, record: Mapping[str, Any], request: Mapping[str, Any], elapsed: float) -> Any:
        if "value" in record:
            return super().rebuild(record, request, elapsed)
        return rebuild_response(record, request.get("method"), elapsed)

    def error_response(self, response: Any) -> Any:
        if isinstance(response, Response):
            return {"$http": encode_response(response)}
        return super().error_response(response)


def _codec_for(transport: Any) -> _Codec:
    if isinstance(transport, HTTPTransport):
        return _HTTPCodec(transport)
    if isinstance(transport, StreamTransport):
        return _FramesCodec(transport)
    return _Codec(transport)


# --- redaction --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str, in_headers: bool, extra_headers: tuple[str, ...]) -> bool:
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
    """Add to *found* the string values :func:`_redact_record` redacts by their key (``api_key=``,
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
                if _is_secret_key(key, in_headers, names):
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
        elif _is_secret_key(key, parent_is_headers, extra_headers):
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


# --- matching ---------------------------------------------------------------------------------


def _split(url: Any) -> Any:
    try:
        return urlsplit(str(url))
    except ValueError:
        return urlsplit("")


def _json_or_text(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        try:
            return json.loads(body["text"])
        except ValueError:
            return body["text"]
    return body


_BUILTIN_MATCHERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "method": lambda r: r.get("method"),
    "url": lambda r: r.get("url"),
    "host": lambda r: _split(r.get("url")).netloc,
    "path": lambda r: _split(r.get("url")).path,
    "query": lambda r: sorted(parse_qsl(_split(r.get("url")).query, keep_blank_values=True)),
    "headers": lambda r: sorted(map(tuple, r.get("headers") or ())),
    "body": lambda r: (r.get("body"), r.get("options")),
    "json_body": lambda r: (_json_or_text(r.get("body")), r.get("options")),
}


def _freeze(value: Any) -> Any:
    """*value* (JSON data) as a hashable key: equal JSON, equal key, whatever the key order."""
    if value is None or type(value) is str:
        return value
    return _KEY_ENCODER(value)


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=repr).encode
_STRICT_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


def _describe_request(request: Mapping[str, Any]) -> str:
    if "method" in request or "url" in request:
        return f"{request.get('method', '?')} {request.get('url', '?')}"
    return _short(json.dumps(request.get("body"), ensure_ascii=False))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the cassette -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Secrets:
    """What must not reach the file for one exchange: secret values, and header names to redact."""

    values: tuple[str, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Live:
    """A request being made, as it is matched and recorded."""

    kind: str
    op: str
    request: dict[str, Any]
    secrets: _Secrets
    key: tuple[Any, ...] | None


@dataclass(eq=False)
class _Entry:
    """One recorded exchange, as read or being recorded."""

    record: dict[str, Any]
    key: tuple[Any, ...] | None = None
    used: bool = False
    new: bool = False
    done: bool = True

    @property
    def request(self) -> dict[str, Any]:
        return self.record["request"]  # type: ignore[no-any-return]


@dataclass(eq=False)
class Cassette:
    """One cassette file: the exchanges to replay and the exchanges recorded.

    Args:
        path: the file (JSON Lines; parent directories are created when it is written).
        record_mode: ``"once"`` (default: replay when the file exists, else record every exchange),
            ``"new_episodes"`` (replay what matches, record and add what does not), ``"none"`` (replay
            only; the file must exist) or ``"all"`` (record every exchange, rewrite the file).
        match_on: what a live request must share with a recorded one: names from :data:`MATCHERS`
            (``"method"``, ``"url"``, ``"host"``, ``"path"``, ``"query"``, ``"headers"``, ``"body"``,
            ``"json_body"``) or callables ``(recorded_request, live_request) -> bool``. Default:
            method, URL and body (for non-HTTP transports, the request value and its options).
        order: ``"sequence"`` (default): each request must match the next unused recorded exchange;
            ``"any"``: it takes the first unused exchange that matches, wherever it is (batches, whose
            order varies from run to run).
        allow_unused: do not fail at :meth:`close` when recorded exchanges were never replayed.
        latency: factor applied to the recorded durations on replay (default 1: as recorded, on
            trio's clock; 0: answer at once).
        secret_headers: more header names (and call-argument names) whose values are never written.
        scrub: a hook ``scrub(entry) -> entry`` called on every exchange (a dict with ``request``
            and, when recording, the outcome) before it is written or matched; return the entry
            changed (or ``None`` to keep the one changed in place). See :func:`scrub_json_fields`.

    Use it as a context manager, or call :meth:`close` at the end: that writes what was recorded and
    checks that every request matched and every recorded exchange was replayed.

    Raises:
        pynector.ConfigurationError: an unknown record mode, matcher or order.
        pynector.testing.CassetteError: the file cannot be read or is not a cassette; mode ``none`` and no
            file.
    """

    path: str | os.PathLike[str]
    record_mode: str = "once"
    match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON
    order: str = "sequence"
    allow_unused: bool = False
    latency: float = 1.0
    secret_headers: Iterable[str] = ()
    scrub: Scrub | None = None
    entries: list[_Entry] = field(init=False, repr=False)
    unmatched: list[UnmatchedRequestError] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.record_mode not in RECORD_MODES:
            raise ConfigurationError(
                f"record_mode must be one of {', '.join(RECORD_MODES)}, got {self.record_mode!r}"
            )
        if self.order not in ("sequence", "any"):
            raise ConfigurationError(f"order must be 'sequence' or 'any', got {self.order!r}")
        if isinstance(self.match_on, str):
            raise ConfigurationError("match_on must be a list of matcher names or callables")
        for matcher in self.match_on:
            if not callable(matcher) and matcher not in _BUILTIN_MATCHERS:
                raise ConfigurationError(
                    f"unknown matcher {matcher!r}: use {', '.join(MATCHERS)} or a callable(recorded, live)"
                )
        if (
            isinstance(self.latency, bool)
            or not isinstance(self.latency, (int, float))
            or not (0 <= self.latency < math.inf)
        ):
            raise ConfigurationError(f"latency must be a number >= 0, got {self.latency!r}")
        if isinstance(self.secret_headers, str):
            raise ConfigurationError("secret_headers must be a list of header names")
        self.path = Path(self.path)
        self.secret_headers = tuple(self.secret_headers)
        self._keyed = all(isinstance(m, str) for m in self.match_on)
        self._sequence = self.order == "sequence"
        self.entries = []
        self.unmatched = []
        self._origin: float | None = None
        self._closed = False
        exists = self.path.exists()
        if self.record_mode == "none" and not exists:
            raise CassetteError(
                f"cassette {self.path} does not exist and record_mode is 'none': record it first "
                "(record_mode 'once' or 'all')"
            )
        #: Whether recorded exchanges answer requests (else every request goes to the transport).
        self.replaying = exists and self.record_mode in ("once", "new_episodes", "none")
        #: Whether a request without a recorded answer is sent to the transport and recorded.
        self.recording = self.record_mode in ("all", "new_episodes") or (
            self.record_mode == "once" and not exists
        )
        if self.replaying:
            self._load()
        self._next = 0  # sequence mode: the first entry not yet used
        # order="any" with named matchers: the unused entries of each request key, oldest first.
        self._index: dict[tuple[Any, ...], deque[_Entry]] = {}
        if self._keyed:
            for entry in self.entries:
                self._index.setdefault(entry.key or (), deque()).append(entry)

    # -- the file --

    def _load(self) -> None:
        path = Path(self.path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CassetteError(f"cannot read cassette {path}: {exc}") from exc
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CassetteError(f"{path}:{number} is not a JSON line: {exc}") from exc
            if not isinstance(record, dict):
                raise CassetteError(f"{path}:{number} is not a JSON object")
            records.append(record)
        if not records or records[0].get("pynector_cassette") != FORMAT_VERSION:
            raise CassetteError(
                f"{path} is not a pynector cassette (its first line must be "
                f'{{"pynector_cassette": {FORMAT_VERSION}, ...}})'
            )
        for number, record in enumerate(records[1:], 2):
            if not isinstance(record.get("request"), dict) or "transport" not in record:
                raise CassetteError(f"{path}: exchange line {number} has no transport or request")
            op = str(record.setdefault("op", "exchange"))
            self.entries.append(
                _Entry(record, key=self._key(str(record["transport"]), op, record["request"]))
            )

    def _key(self, kind: str, op: str, request: Mapping[str, Any]) -> tuple[Any, ...] | None:
        if not self._keyed:
            return None
        parts: list[Any] = [kind, op]
        for name in self.match_on:
            parts.append(_freeze(_BUILTIN_MATCHERS[str(name)](request)))
        return tuple(parts)

    def save(self) -> None:
        """Write the file when exchanges were recorded (atomically: a temporary file, then a rename).

        Exchanges still in flight are left out. Raises:
            pynector.testing.CassetteError: the file cannot be written.
        """
        if not self.recording or not any(e.new for e in self.entries):
            return
        path = Path(self.path)
        header = {"pynector_cassette": FORMAT_VERSION, "recorded_with": f"pynector {__version__}"}
        lines = [json.dumps(header)]
        kept = [e for e in self.entries if e.done and (e.new or self.record_mode == "new_episodes")]
        lines += [json.dumps(e.record, ensure_ascii=False) for e in kept]
        temporary = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            raise CassetteError(f"cannot write cassette {path}: {exc}") from exc

    def unused(self) -> list[dict[str, Any]]:
        """The recorded exchanges (read from the file) that no request replayed."""
        return [e.record for e in self.entries if not e.new and not e.used]

    def check(self) -> None:
        """Fail if a request found no recorded exchange, or (unless ``allow_unused``) if recorded
        exchanges were never replayed.

        Raises:
            pynector.testing.CassetteError: listing the unmatched requests or the unused exchanges.
        """
        if self.unmatched:
            raise CassetteError(
                f"{len(self.unmatched)} request(s) matched no recorded exchange of cassette {self.path}:\n"
                + "\n".join(str(error) for error in self.unmatched)
            )
        unused = [] if self.allow_unused else self.unused()
        if unused:
            listing = "\n".join(
                f"  #{r.get('id', '?')} {_describe_request(r['request'])}" for r in unused[:20]
            )
            more = f"\n  ... and {len(unused) - 20} more" if len(unused) > 20 else ""
            raise CassetteError(
                f"{len(unused)} recorded exchange(s) of cassette {self.path} were never replayed "
                f"(the code no longer makes these requests; re-record, or pass allow_unused=True):\n"
                f"{listing}{more}"
            )

    def close(self) -> None:
        """Write what was recorded, then :meth:`check`. Idempotent.

        Raises:
            pynector.testing.CassetteError: as :meth:`save` and :meth:`check`.
        """
        if self._closed:
            return
        self._closed = True
        self.save()
        self.check()

    def __enter__(self) -> Cassette:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.close()
        else:
            self._closed = True
            self.save()  # keep what was recorded; the block's own error is the one to report

    # -- wrapping --

    def wrap(self, transport: object) -> CassetteTransport:
        """A transport that records *transport*'s exchanges into this cassette or replays them.

        Raises:
            pynector.ConfigurationError: *transport* is not a transport.
        """
        adapted = adapt_transport(transport)
        if callable(getattr(adapted, "stream", None)):
            return _StreamingCassetteTransport(self, adapted)
        return CassetteTransport(self, adapted)

    # -- used by the transport --

    def _prepare(self, codec: _Codec, op: str, data: Any, options: Mapping[str, Any]) -> _Live:
        cache = codec.cache
        key = codec.simple_key(data, options)
        if key is not None:
            cached = cache.get((key, op))
            if cached is not None:
                return cached[1]
            token = codec.token_for(data, options)
        else:
            token = codec.token_for(data, options)
            key = codec.cache_key(data, options, token)
            if key is not None:
                cached = cache.get((key, op))
                if cached is not None and cached[0] is token:
                    return cached[1]
        request, values = codec.request(data, options, token)
        live = self._redacted(codec, op, request, values)
        if key is not None:
            if len(cache) >= 512:
                cache.clear()
            cache[(key, op)] = (token, live)  # a token is kept alive: its id stays its own
        return live

    def _redacted(self, codec: _Codec, op: str, request: dict[str, Any], values: Sequence[str]) -> _Live:
        names = (*self.secret_headers, *codec.secret_headers)
        found = [str(v) for n, v in request.get("headers") or () if is_sensitive_header(str(n), names)]
        _collect_secret_values(request, names, found)
        secrets = _Secrets(tuple(s for s in (*values, *found) if s), names)
        request = _redact_record(request, secrets.values, secrets.names)
        if self.scrub is not None:
            entry: dict[str, Any] = {"transport": codec.kind, "op": op, "request": request}
            entry = self.scrub(entry) or entry
            request = entry["request"]
        return _Live(codec.kind, op, request, secrets, self._key(codec.kind, op, request))

    def _find(self, live: _Live) -> _Entry | None:
        """The recorded exchange answering *request* (marked used), or ``None``."""
        if self._sequence:
            entries = self.entries
            position = self._next
            while position < len(entries) and (entries[position].used or entries[position].new):
                position += 1
            self._next = position
            if position < len(entries):
                entry = entries[position]
                key = live.key
                if (entry.key == key) if key is not None else self._matches(entry, live):
                    entry.used = True
                    return entry
            return None
        if self._keyed:
            waiting = self._index.get(live.key or ())
            while waiting:
                entry = waiting.popleft()
                if not entry.used:
                    entry.used = True
                    return entry
            return None
        for entry in self.entries:
            if not entry.used and not entry.new and self._matches(entry, live):
                entry.used = True
                return entry
        return None

    def _failed_matchers(self, entry: _Entry, kind: str, op: str, request: Mapping[str, Any]) -> list[str]:
        record = entry.record
        failed: list[str] = []
        if record["transport"] != kind or record["op"] != op:
            failed.append("transport")
        for matcher in self.match_on:
            if callable(matcher):
                if not matcher(entry.request, request):
                    failed.append(getattr(matcher, "__name__", "matcher"))
            else:
                rule = _BUILTIN_MATCHERS[matcher]
                if rule(entry.request) != rule(request):
                    failed.append(matcher)
        return failed

    def _matches(self, entry: _Entry, live: _Live) -> bool:
        if live.key is not None and entry.key is not None:
            return entry.key == live.key
        return not self._failed_matchers(entry, live.kind, live.op, live.request)

    def _unmatched(self, live: _Live) -> UnmatchedRequestError:
        kind, op, request = live.kind, live.op, live.request
        described = _describe_request(request)
        candidates = [e for e in self.entries if not e.new]
        text = json.dumps(request, sort_keys=True, ensure_ascii=False)

        def closeness(entry: _Entry) -> tuple[int, float]:
            failed = self._failed_matchers(entry, kind, op, request)
            other = json.dumps(entry.request, sort_keys=True, ensure_ascii=False)
            return (-len(failed), difflib.SequenceMatcher(None, text, other).quick_ratio())

        ranked = sorted(candidates, key=closeness, reverse=True)[:3]
        lines = [
            f"no recorded exchange of cassette {self.path} matches {described} "
            f"(record_mode={self.record_mode!r}, order={self.order!r}, "
            f"match_on={[getattr(m, '__name__', m) for m in self.match_on]})"
        ]
        if self.order == "sequence" and self._next < len(self.entries):
            nxt = self.entries[self._next]
            lines.append(
                f"the next exchange in sequence is #{nxt.record.get('id')}; order='any' ignores the order"
            )
        if ranked:
            lines.append("closest recorded exchanges:")
            for entry in ranked:
                failed = self._failed_matchers(entry, kind, op, request)
                state = "already replayed" if entry.used else "unused"
                differs = f"differs in {', '.join(failed)}" if failed else "matches"
                number = entry.record.get("id", "?")
                lines.append(f"  #{number} {_describe_request(entry.request)} ({differs}; {state})")
                for name in failed:
                    if name in ("body", "json_body", "headers"):
                        recorded = json.dumps(
                            entry.request.get(name.removeprefix("json_")), ensure_ascii=False
                        )
                        this = json.dumps(request.get(name.removeprefix("json_")), ensure_ascii=False)
                        lines.append(f"      recorded {name}: {_short(recorded)}")
                        lines.append(f"      this {name}:     {_short(this)}")
        else:
            lines.append("the cassette has no recorded exchanges")
        error = UnmatchedRequestError("\n".join(lines), request)
        self.unmatched.append(error)
        return error

    def _start_recording(self, live: _Live, now: float) -> _Entry:
        if self._origin is None:
            self._origin = now
        number = len(self.entries) + 1
        record: dict[str, Any] = {
            "id": number,
            "transport": live.kind,
            "op": live.op,
            "start": round(now - self._origin, _ROUND),
            "duration": None,
            "request": copy.deepcopy(live.request),  # a scrub hook may change it in place
        }
        entry = _Entry(record, new=True, done=False, used=True)
        self.entries.append(entry)
        return entry

    def _finish(self, entry: _Entry, secrets: _Secrets, started: float, **outcome: Any) -> None:
        record = entry.record
        record["duration"] = round(trio.current_time() - started, _ROUND)
        for name, value in outcome.items():
            record[name] = _redact_record(value, secrets.values, secrets.names)
        if self.scrub is not None:
            entry.record = self.scrub(record) or record
        entry.done = True

    async def _wait(self, seconds: object) -> None:
        """Sleep *seconds* (times ``latency``) on trio's clock; at least a checkpoint."""
        delay = float(seconds) * self.latency if isinstance(seconds, (int, float)) else 0.0
        if delay > 0:
            await trio.sleep(delay)
        else:
            await trio.lowlevel.checkpoint()

    async def _replay_outcome(self, entry: _Entry, codec: _Codec, started: float) -> Any:
        record = entry.record
        if record.get("cancelled"):
            # The caller's deadline or cancel scope ended this exchange while it was recorded: the
            # same deadline ends it now. Wait twice as long before saying nothing did.
            cut = float(record.get("duration") or 0.0)
            await self._wait(cut + max(cut, 1.0))
            raise CassetteError(
                f"exchange #{record.get('id')} ({_describe_request(entry.request)}) was cancelled after "
                f"{cut:g}s when it was recorded, and nothing cancelled it on replay"
            )
        duration = record.get("duration")
        if duration and self.latency:
            await trio.sleep_until(started + float(duration) * self.latency)
        else:
            await trio.lowlevel.checkpoint()
        if "error" in record:
            raise rebuild_error(record["error"], codec.rebuild_error_response)
        return codec.rebuild(record["response"], entry.request, trio.current_time() - started)


class CassetteTransport:
    """A transport recording into, or replaying from, a :class:`Cassette`; made by
    :meth:`Cassette.wrap`.

    Attributes the client reads (``name``, the span hooks, ``retry_statuses``...) come from the
    wrapped transport, so logs, spans and retries look as they do without the cassette.
    """

    def __init__(self, cassette: Cassette, inner: Transport) -> None:
        self.cassette = cassette
        self.inner = inner
        self._codec = _codec_for(inner.inner if isinstance(inner, SerializedTransport) else inner)
        #: The wrapped transport's name (the client's messages, logs and spans use it).
        self.name: str = getattr(inner, "name", None) or type(inner).__name__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("cassette", "inner", "_codec", "name"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<CassetteTransport {self.cassette.record_mode} {self.cassette.path} over {self.inner!r}>"

    async def connect(self) -> None:
        """Connect the wrapped transport (cheap for every built-in one: connections open on use)."""
        await self.inner.connect()

    async def disconnect(self) -> None:
        """Disconnect the wrapped transport. Idempotent."""
        await self.inner.disconnect()

    async def __aenter__(self) -> CassetteTransport:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Answer from the cassette, or exchange through the wrapped transport and record it.

        Blocks for the recorded duration (times ``latency``) on replay.

        Raises:
            pynector.testing.UnmatchedRequestError: no recorded exchange matches and the mode does not record.
            pynector.PynectorError: a recorded error, raised again; or the wrapped transport's error.
            pynector.testing.CassetteError: the result cannot be written to a cassette.
        """
        cassette = self.cassette
        codec = self._codec
        live = cassette._prepare(codec, "exchange", data, options)
        secrets = live.secrets
        if cassette.replaying:
            entry = cassette._find(live)
            if entry is not None:
                record = entry.record
                response = record.get("response")
                if response is None or "cancelled" in record:
                    return await cassette._replay_outcome(entry, codec, trio.current_time())
                # The common case, inlined: a response after the recorded duration (its elapsed).
                duration = record.get("duration")
                elapsed = float(duration or 0.0) * cassette.latency
                if elapsed > 0:
                    await trio.sleep(elapsed)
                    return codec.rebuild(response, entry.request, elapsed)
                # No wait: a checkpoint on both sides, as the memory transport does (cheaper than
                # trio.lowlevel.checkpoint's cancel scope), never losing a built result.
                await trio.lowlevel.checkpoint_if_cancelled()
                result = codec.rebuild(response, entry.request, elapsed)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return result
            if not cassette.recording:
                raise cassette._unmatched(live)
        started = trio.current_time()
        entry = cassette._start_recording(live, started)
        try:
            result = await self.inner.exchange(data, **options)
        except Exception as exc:
            cassette._finish(entry, secrets, started, error=encode_error(exc, codec.error_response))
            raise
        except BaseException:
            cassette._finish(entry, secrets, started, cancelled=True)
            raise
        cassette._finish(entry, secrets, started, response=codec.response(result))
        return result


class _StreamingCassetteTransport(CassetteTransport):
    """A :class:`CassetteTransport` over a transport with ``stream()``."""

    @contextlib.asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[Any]:
        """Replay or record a streamed exchange: the head (HTTP) and every chunk with its timing.

        Raises:
            As :meth:`exchange`, on entry; while iterating, the recorded error of the stream.
        """
        cassette = self.cassette
        codec = self._codec
        started = trio.current_time()
        live = cassette._prepare(codec, "stream", data, options)
        secrets = live.secrets
        if cassette.replaying:
            entry = cassette._find(live)
            if entry is not None:
                yield await self._replay_stream(entry, codec, started)
                return
            if not cassette.recording:
                raise cassette._unmatched(live)
        entry = cassette._start_recording(live, started)
        tape = _Tape(started)
        outcome: dict[str, Any] = {}
        try:
            open_stream: Any = getattr(self.inner, "stream")  # noqa: B009 - checked by Cassette.wrap
            async with open_stream(data, **options) as opened:
                if isinstance(opened, Response):
                    outcome["response"] = encode_response(opened, with_body=False)
                    reader = opened._reader
                    if reader is not None:
                        reader._raw = _RecordingIterator(reader._raw, tape, encode_body)
                    handed: Any = opened
                else:
                    outcome["response"] = {"stream": True}
                    handed = _RecordingIterator(opened, tape, encode_value)
                outcome["duration"] = round(trio.current_time() - started, _ROUND)
                yield handed
        except Exception as exc:
            # An error once the stream is open came from the caller's block, or from reading the
            # stream (which the tape recorded): only an error opening the stream is the outcome.
            if "response" not in outcome:
                cassette._finish(entry, secrets, started, error=encode_error(exc, codec.error_response))
            raise
        except BaseException:
            if "response" not in outcome:
                cassette._finish(entry, secrets, started, cancelled=True)
            raise
        finally:
            if "response" in outcome:
                head_duration = outcome.pop("duration", None)
                cassette._finish(entry, secrets, started, **outcome, chunks=tape.chunks, end=tape.end())
                if head_duration is not None:  # a stream's duration is until its head arrived
                    entry.record["duration"] = head_duration

    async def _replay_stream(self, entry: _Entry, codec: _Codec, started: float) -> Any:
        record = entry.record
        if "response" not in record:
            return await self.cassette._replay_outcome(entry, codec, started)  # raises
        await self.cassette._wait(record.get("duration"))
        chunks = _ReplayIterator(self.cassette, entry, started)
        head = record["response"]
        if "status" not in head:
            chunks.decode = decode_value
            return chunks
        response = rebuild_response(
            head, entry.request.get("method"), trio.current_time() - started, with_body=False
        )
        encodings = [v for n, v in head["headers"] if str(n).lower() == "content-encoding"]
        transport = codec.transport
        response._reader = BodyReader(
            chunks,
            ", ".join(encodings) if encodings else None,
            getattr(transport, "_max_bytes", None),
            f"{response.request.method} {redact_url(response.url)}",
        )
        return response


@dataclass
class _Tape:
    """The chunks of a stream being recorded, with their offsets from the exchange's start."""

    started: float
    chunks: list[list[Any]] = field(default_factory=list)
    finished: bool = False
    error: dict[str, Any] | None = None

    def end(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {"complete": self.finished}


class _RecordingIterator:
    """Passes an async iterator's items through, writing each on the tape; other attributes (a
    token stream's ``usage``) come from the wrapped object."""

    def __init__(self, inner: Any, tape: _Tape, encode: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._iterator: Any = None
        self._tape = tape
        self._encode = encode

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __aiter__(self) -> _RecordingIterator:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._inner.__aiter__()
        tape = self._tape
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            tape.finished = True
            raise
        except Exception as exc:
            tape.error = encode_error(exc, encode_value)
            raise
        tape.chunks.append([round(trio.current_time() - tape.started, _ROUND), self._encode(item)])
        return item


class _ReplayIterator:
    """Yields a recorded stream's chunks at their recorded offsets on trio's clock."""

    def __init__(self, cassette: Cassette, entry: _Entry, started: float) -> None:
        self._cassette = cassette
        self._entry = entry
        self._started = started
        self._position = 0
        self.decode: Callable[[Any], Any] = decode_body

    def __aiter__(self) -> _ReplayIterator:
        return self

    async def __anext__(self) -> Any:
        record = self._entry.record
        chunks = record.get("chunks") or []
        if self._position < len(chunks):
            offset, body = chunks[self._position]
            self._position += 1
            target = self._started + float(offset) * self._cassette.latency
            if target > trio.current_time():
                await trio.sleep_until(target)
            else:
                await trio.lowlevel.checkpoint()
            return self.decode(body)
        end = record.get("end") or {}
        await trio.lowlevel.checkpoint()
        if "error" in end:
            raise rebuild_error(end["error"], decode_value)
        if end.get("complete", True):
            raise StopAsyncIteration
        raise CassetteError(
            f"exchange #{record.get('id')} ({_describe_request(self._entry.request)}) was recorded up to "
            f"chunk {len(chunks)} (the code stopped reading there); this run reads further: re-record"
        )
