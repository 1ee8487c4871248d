"""Records: bodies, values, HTTP responses and errors as JSON, and back.

The naive cassette pickles what the transport returned. A pickle cannot be read with ``jq``, makes a
re-recording diff unreadable, breaks when a class moves, and loading one runs code from the file. So
everything is written as plain JSON: a body is ``{"text": ...}`` when it is UTF-8 (a reviewer reads
it) and ``{"base64": ...}`` otherwise; a value that JSON has no type for is tagged (``{"$bytes": ...}``,
``{"$reply": ...}``, ``{"$model": "module:Class", ...}``...), and rebuilt by the class that wrote
it. An error is written as its class name, message and simple attributes, and rebuilt only from
pynector's error tree and the builtin exceptions: replaying a cassette never imports code to raise an
error (any other class comes back as a :class:`CassetteError` naming it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from ... import _errors as _pynector_errors
from ..._errors import HTTPStatusError, PynectorError
from ...http._model import RequestInfo, Response
from ...transport._sdk import TextReply, Usage
from ._errors import CassetteError

__all__ = [
    "ROUND",
    "decode_body",
    "decode_value",
    "encode_body",
    "encode_error",
    "encode_response",
    "encode_value",
    "rebuild_error",
    "rebuild_response",
]

ROUND = 6  # seconds are written to the microsecond


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
    cls: Any = getattr(_pynector_errors, name, None)
    if cls is None:
        from .. import _mock

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
