"""Message formats: wire layouts, round trips, and only pynector errors on bad input."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.message import BinaryMessage, HttpMessage, JsonMessage

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_headers = st.dictionaries(st.text(max_size=10), json_values, max_size=4)
http_headers = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)


def test_json_wire_format() -> None:
    """JsonMessage is the UTF-8 JSON of {"headers", "payload"}."""
    data = JsonMessage({"id": 1}, {"x": "é"}).serialize()
    assert {"headers": {"id": 1}, "payload": {"x": "é"}} == json.loads(data.decode("utf-8"))


def test_binary_wire_format() -> None:
    """BinaryMessage is a 4-byte big-endian header length, the header JSON, then the payload."""
    data = BinaryMessage({"k": "v"}, b"\x00\x01payload").serialize()
    length = int.from_bytes(data[:4], "big")
    assert {"k": "v"} == json.loads(data[4 : 4 + length])
    assert b"\x00\x01payload" == data[4 + length :]


@given(json_headers, json_values)
def test_json_round_trip(headers: dict[str, Any], payload: Any) -> None:
    """JsonMessage survives serialize/deserialize."""
    message = JsonMessage(headers, payload)
    restored = JsonMessage.deserialize(message.serialize())
    assert message == restored
    assert headers == restored.get_headers()


@given(json_headers, st.binary())
def test_binary_round_trip(headers: dict[str, Any], payload: bytes) -> None:
    """BinaryMessage survives serialize/deserialize."""
    restored = BinaryMessage.deserialize(BinaryMessage(headers, payload).serialize())
    assert (headers, payload) == (restored.get_headers(), restored.get_payload())


@given(
    st.sampled_from(["GET", "POST", "PUT"]),
    st.text(max_size=20),
    http_headers,
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.none() | json_values,
    st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.none() | st.text() | st.binary(),
)
def test_http_round_trip(
    method: str,
    url: str,
    headers: dict[str, str],
    params: dict[str, str],
    json_data: Any,
    form: dict[str, str] | None,
    content: str | bytes | None,
) -> None:
    """HttpMessage survives serialize/deserialize."""
    message = HttpMessage(method, url, headers, params, json_data, form, None, content)
    assert message == HttpMessage.deserialize(message.serialize())


@pytest.mark.parametrize("cls", [JsonMessage, BinaryMessage, HttpMessage])
@given(data=st.binary())
def test_arbitrary_bytes_only_raise_deserialization_error(cls: Any, data: bytes) -> None:
    """Any bytes either parse or raise DeserializationError, nothing else."""
    with contextlib.suppress(pynector.DeserializationError):
        cls.deserialize(data)


@pytest.mark.parametrize("cls", [JsonMessage, BinaryMessage, HttpMessage])
@given(value=json_values)
def test_arbitrary_json_only_raises_deserialization_error(cls: Any, value: Any) -> None:
    """Valid JSON of the wrong shape raises DeserializationError, nothing else."""
    with contextlib.suppress(pynector.DeserializationError):
        cls.deserialize(json.dumps(value).encode())


@pytest.mark.parametrize(
    "message",
    [
        JsonMessage({}, {"x": object()}),
        JsonMessage({}, math.nan),
        JsonMessage({1: "x"}, None),  # type: ignore[dict-item]
        BinaryMessage({}, "not bytes"),  # type: ignore[arg-type]
        BinaryMessage({"x": {1, 2}}, b""),
        HttpMessage(json_data={"x": object()}),
        HttpMessage(files={"f": b"x"}),
        HttpMessage(content=42),  # type: ignore[arg-type]
    ],
)
def test_unserialisable_input_raises_serialization_error(message: Any) -> None:
    """Payloads JSON cannot represent raise SerializationError."""
    with pytest.raises(pynector.SerializationError):
        message.serialize()


def test_binary_truncated_and_non_bytes() -> None:
    """Truncated frames and non-bytes input raise DeserializationError."""
    for data in (b"", b"\x00\x00", b"\x00\x00\x00\x09{}", "text"):
        with pytest.raises(pynector.DeserializationError):
            BinaryMessage.deserialize(data)  # type: ignore[arg-type]


def test_http_message_payload_and_headers() -> None:
    """get_payload lists the body parts that are set; get_headers returns a copy."""
    message = HttpMessage("POST", "/x", {"A": "1"}, json_data={"k": 1}, content=b"raw")
    assert {"json": {"k": 1}, "content": b"raw"} == message.get_payload()
    message.get_headers()["B"] = "2"
    assert {"A": "1"} == message.get_headers()
