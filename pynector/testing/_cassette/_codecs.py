"""Codecs: how each kind of transport's requests and results are written, and results rebuilt.

The naive cassette writes every request as the value the caller passed. For HTTP that value
(``{"path": "/items", "params": ...}``) is not what went on the wire: the transport adds its base
URL, default headers, cookies and auth, so a changed setting would replay old answers unnoticed, and
a reader of the file could not see the request the server received. So each kind of transport has a
codec. The HTTP codec records the request the transport prepared (absolute URL, headers, body bytes)
and rebuilds :class:`~pynector.http.Response` objects; the framed tcp/unix/memory transports'
codec records the frames' payload bytes, through the transport's own serializer, and rebuilds
results through its deserializer; every other transport (SDK, callable, mock, memory) is recorded
as its request value, options and result as JSON values (``_records``).

Replay encodes every live request before matching it, which would cost more than the exchange it
replaces; a codec therefore caches the redacted record of a request it has seen, under a key found
without preparing the request when it can be (a dict of strings for HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ...http._model import Response
from ...http._transport import HTTPTransport
from ...transport._stream import StreamTransport
from ._matching import Live
from ._records import decode_body, decode_value, encode_body, encode_response, encode_value, rebuild_response
from ._redaction import is_secret_key

__all__ = ["Codec", "codec_for"]

# Headers that differ on every run without changing the request's meaning.
_VOLATILE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})
_STRICT_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


class Codec:
    """Writes the requests and results of one kind of transport, and rebuilds the results."""

    kind = "call"

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        #: Header names the transport itself treats as credentials (the HTTP ``secret_headers``).
        self.secret_headers: tuple[str, ...] = tuple(getattr(transport, "_secret_headers", ()))
        #: The redacted records of requests seen before, by :meth:`simple_key` or :meth:`cache_key`
        #: (per transport: a simple request's record depends on the transport's settings).
        self.cache: dict[tuple[Hashable, str], tuple[object, Live]] = {}

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
                str(v) for k, v in defaults.items() if isinstance(v, str) and is_secret_key(k, False, ())
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


class _FramesCodec(Codec):
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


class _HTTPCodec(Codec):
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


def codec_for(transport: Any) -> Codec:
    """The codec for the kind of *transport*."""
    if isinstance(transport, HTTPTransport):
        return _HTTPCodec(transport)
    if isinstance(transport, StreamTransport):
        return _FramesCodec(transport)
    return Codec(transport)
