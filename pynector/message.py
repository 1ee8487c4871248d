"""Message formats with fixed wire encodings.

Three formats, each with ``serialize() -> bytes``, the classmethod ``deserialize(data) -> message``,
``get_headers()`` and ``get_payload()``:

- :class:`JsonMessage`: the UTF-8 JSON text of ``{"headers": {...}, "payload": ...}``.
- :class:`BinaryMessage`: a 4-byte big-endian length ``n``, then ``n`` bytes of UTF-8 JSON headers,
  then the raw payload bytes (everything after the headers).
- :class:`HttpMessage`: an HTTP request description, also accepted as a request by the HTTP
  transport; its wire form is the UTF-8 JSON of ``{"method", "url", "headers", "params"}`` plus
  ``"json"``, ``"form_data"`` and ``"content"`` (text) or ``"content_base64"`` (bytes) when set.

Failures are always pynector errors: a payload JSON cannot represent raises
:class:`~pynector.SerializationError`, and malformed bytes raise
:class:`~pynector.DeserializationError` (never a bare ``ValueError``, ``TypeError`` or
``UnicodeDecodeError``); the original exception is kept as ``__cause__``.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from typing import Any, ClassVar

from ._errors import DeserializationError, SerializationError

__all__ = ["BinaryMessage", "HttpMessage", "JsonMessage"]

_LENGTH = struct.Struct(">I")


def _dump_json(value: object, what: str) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what} cannot be serialised to JSON: {exc}") from exc


def _load_json(data: object, what: str) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DeserializationError(f"{what} must be bytes, got {type(data).__name__}")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DeserializationError(f"{what} is not valid UTF-8 JSON: {exc}") from exc


def _check_headers(headers: object, what: str, error: type[Exception]) -> dict[str, Any]:
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) for k in headers):
        raise error(f"{what} headers must be a mapping with string keys, got {type(headers).__name__}")
    return dict(headers)


class JsonMessage:
    """A JSON message: a dict of headers and any JSON-serialisable payload.

    Args:
        headers: a mapping with string keys and JSON-serialisable values.
        payload: any JSON-serialisable value.
    """

    content_type: ClassVar[str] = "application/json"

    def __init__(self, headers: Mapping[str, Any] | None = None, payload: Any = None) -> None:
        self.headers: dict[str, Any] = dict(headers or {})
        self.payload = payload

    def serialize(self) -> bytes:
        """Return the UTF-8 JSON of ``{"headers": ..., "payload": ...}``.

        Raises:
            pynector.SerializationError: the headers or payload cannot be represented in JSON.
        """
        _check_headers(self.headers, "JsonMessage", SerializationError)
        return _dump_json({"headers": self.headers, "payload": self.payload}, "JsonMessage")

    @classmethod
    def deserialize(cls, data: bytes) -> JsonMessage:
        """Parse the wire form produced by :meth:`serialize`.

        Raises:
            pynector.DeserializationError: *data* is not that form.
        """
        parsed = _load_json(data, "JsonMessage data")
        if not isinstance(parsed, dict) or "headers" not in parsed or "payload" not in parsed:
            raise DeserializationError('JsonMessage data must be an object with "headers" and "payload"')
        headers = _check_headers(parsed["headers"], "JsonMessage", DeserializationError)
        return cls(headers, parsed["payload"])

    def get_headers(self) -> dict[str, Any]:
        """A copy of the headers."""
        return dict(self.headers)

    def get_payload(self) -> Any:
        """The payload."""
        return self.payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JsonMessage):
            return NotImplemented
        return (self.headers, self.payload) == (other.headers, other.payload)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"JsonMessage(headers={sorted(self.headers)!r} keys, payload type {type(self.payload).__name__})"
        )


class BinaryMessage:
    """A binary message: JSON headers and a raw bytes payload.

    Args:
        headers: a mapping with string keys and JSON-serialisable values.
        payload: the raw bytes.
    """

    content_type: ClassVar[str] = "application/octet-stream"

    def __init__(self, headers: Mapping[str, Any] | None = None, payload: bytes = b"") -> None:
        self.headers: dict[str, Any] = dict(headers or {})
        self.payload = payload

    def serialize(self) -> bytes:
        """Return ``length (4 bytes, big-endian) + header JSON + payload``.

        Raises:
            pynector.SerializationError: the headers cannot be represented in JSON, the payload is
                not bytes, or the header JSON exceeds 4 GiB.
        """
        _check_headers(self.headers, "BinaryMessage", SerializationError)
        if not isinstance(self.payload, (bytes, bytearray, memoryview)):
            raise SerializationError(
                f"BinaryMessage payload must be bytes, got {type(self.payload).__name__}"
            )
        header_bytes = _dump_json(self.headers, "BinaryMessage headers")
        if len(header_bytes) > 0xFFFFFFFF:
            raise SerializationError("BinaryMessage headers are larger than 4 GiB")
        return _LENGTH.pack(len(header_bytes)) + header_bytes + bytes(self.payload)

    @classmethod
    def deserialize(cls, data: bytes) -> BinaryMessage:
        """Parse the wire form produced by :meth:`serialize`.

        Raises:
            pynector.DeserializationError: *data* is truncated or its headers are not a JSON object.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DeserializationError(f"BinaryMessage data must be bytes, got {type(data).__name__}")
        raw = bytes(data)
        if len(raw) < _LENGTH.size:
            raise DeserializationError(
                f"BinaryMessage data is {len(raw)} bytes, shorter than its 4-byte length prefix"
            )
        (length,) = _LENGTH.unpack_from(raw)
        end = _LENGTH.size + length
        if end > len(raw):
            raise DeserializationError(
                f"BinaryMessage announces {length} header bytes but only {len(raw) - _LENGTH.size} follow"
            )
        headers = _check_headers(
            _load_json(raw[_LENGTH.size : end], "BinaryMessage headers"),
            "BinaryMessage",
            DeserializationError,
        )
        return cls(headers, raw[end:])

    def get_headers(self) -> dict[str, Any]:
        """A copy of the headers."""
        return dict(self.headers)

    def get_payload(self) -> bytes:
        """The payload bytes."""
        return bytes(self.payload)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BinaryMessage):
            return NotImplemented
        return (self.headers, bytes(self.payload)) == (other.headers, bytes(other.payload))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BinaryMessage(headers={sorted(self.headers)!r} keys, payload={len(self.payload)} bytes)"


class HttpMessage:
    """An HTTP request description, usable as a request for the HTTP transport.

    Args:
        method: the HTTP method (default ``"GET"``).
        url: an absolute URL or a path relative to the transport's ``base_url``.
        headers: request headers.
        params: query parameters.
        json_data: a JSON body.
        form_data: a form body (``application/x-www-form-urlencoded``, or multipart with *files*).
        files: multipart files, as accepted by httpx (not part of the wire form).
        content: a raw body (text or bytes).
    """

    content_type: ClassVar[str] = "application/json"

    def __init__(
        self,
        method: str = "GET",
        url: str = "",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json_data: Any = None,
        form_data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        content: str | bytes | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers: dict[str, str] = dict(headers or {})
        self.params: dict[str, Any] = dict(params or {})
        self.json_data = json_data
        self.form_data: dict[str, Any] | None = None if form_data is None else dict(form_data)
        self.files = files
        self.content = content

    def serialize(self) -> bytes:
        """Return the UTF-8 JSON wire form (see the module docstring).

        Raises:
            pynector.SerializationError: a field cannot be represented in JSON, or ``files`` is set.
        """
        if self.files:
            raise SerializationError("HttpMessage files cannot be serialised; send the message instead")
        if not isinstance(self.method, str) or not isinstance(self.url, str):
            raise SerializationError("HttpMessage method and url must be strings")
        _check_headers(self.headers, "HttpMessage", SerializationError)
        wire: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "params": self.params,
        }
        if self.json_data is not None:
            wire["json"] = self.json_data
        if self.form_data is not None:
            wire["form_data"] = self.form_data
        if isinstance(self.content, str):
            wire["content"] = self.content
        elif isinstance(self.content, (bytes, bytearray, memoryview)):
            wire["content_base64"] = base64.b64encode(bytes(self.content)).decode("ascii")
        elif self.content is not None:
            raise SerializationError(
                f"HttpMessage content must be str or bytes, got {type(self.content).__name__}"
            )
        return _dump_json(wire, "HttpMessage")

    @classmethod
    def deserialize(cls, data: bytes) -> HttpMessage:
        """Parse the wire form produced by :meth:`serialize`.

        Raises:
            pynector.DeserializationError: *data* is not that form.
        """
        parsed = _load_json(data, "HttpMessage data")
        if not isinstance(parsed, dict):
            raise DeserializationError("HttpMessage data must be a JSON object")
        method = parsed.get("method", "GET")
        url = parsed.get("url", "")
        if not isinstance(method, str) or not isinstance(url, str):
            raise DeserializationError("HttpMessage method and url must be strings")
        headers = _check_headers(parsed.get("headers", {}), "HttpMessage", DeserializationError)
        if not all(isinstance(v, str) for v in headers.values()):
            raise DeserializationError("HttpMessage header values must be strings")
        params = parsed.get("params", {})
        form_data = parsed.get("form_data")
        if not isinstance(params, dict) or not (form_data is None or isinstance(form_data, dict)):
            raise DeserializationError("HttpMessage params and form_data must be JSON objects")
        content: str | bytes | None = parsed.get("content")
        if "content_base64" in parsed:
            encoded = parsed["content_base64"]
            if not isinstance(encoded, str):
                raise DeserializationError("HttpMessage content_base64 must be a string")
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DeserializationError(f"HttpMessage content_base64 is not base64: {exc}") from exc
        elif content is not None and not isinstance(content, str):
            raise DeserializationError("HttpMessage content must be a string")
        return cls(
            method=method,
            url=url,
            headers=headers,
            params=params,
            json_data=parsed.get("json"),
            form_data=form_data,
            content=content,
        )

    def get_headers(self) -> dict[str, str]:
        """A copy of the headers."""
        return dict(self.headers)

    def get_payload(self) -> dict[str, Any]:
        """The body parts that are set: ``json``, ``data`` (form), ``files`` and ``content``."""
        payload: dict[str, Any] = {}
        if self.json_data is not None:
            payload["json"] = self.json_data
        if self.form_data is not None:
            payload["data"] = self.form_data
        if self.files:
            payload["files"] = self.files
        if self.content is not None:
            payload["content"] = self.content
        return payload

    def to_request(self) -> dict[str, Any]:
        """The request dict the HTTP transport accepts (``method``, ``url``, ``params``...)."""
        request: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.headers:
            request["headers"] = self.headers
        if self.params:
            request["params"] = self.params
        request.update(self.get_payload())
        return request

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HttpMessage):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        from ._redact import redact_url

        return f"HttpMessage({self.method!r}, {redact_url(self.url)!r})"
