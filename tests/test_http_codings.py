"""Content-Encoding br and zstd: decoded and bounded when their packages are installed, refused by name
otherwise, and advertised in Accept-Encoding exactly when they can be decoded."""

from __future__ import annotations

import itertools
import tracemalloc

import brotli
import pytest
from backports import zstd
from helpers.http_faults import assert_mapped, fault_scenario
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.http import _codings
from pynector.http._model import decode_body
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection

BODY = b'{"greeting": "hello from a compressed body"}' * 200

ENCODERS = {"br": lambda data: brotli.compress(data, quality=5), "zstd": zstd.compress}


def encoded_handler(coding: str, payload: bytes = BODY):  # type: ignore[no-untyped-def]
    """A handler answering with *payload* encoded in *coding*, recording Accept-Encoding."""
    seen: list[str | None] = []

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        seen.append(request.header("accept-encoding"))
        return HTTPResponse(200, [("Content-Encoding", coding)], ENCODERS[coding](payload))

    return handler, seen


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_installed_coding_is_decoded_and_advertised(http_engine: str, coding: str) -> None:
    """With its package installed, a br or zstd body arrives decoded and the coding is advertised."""
    handler, seen = encoded_handler(coding)
    async with fault_scenario(handler, http_engine) as (_, client):
        response = await client.request({"url": "/fault"})
        streamed = b""
        async with client.stream({"url": "/fault"}) as stream:
            async for chunk in stream.aiter_bytes():
                streamed += chunk
    assert BODY == response.content
    assert BODY == streamed
    assert "gzip, deflate, br, zstd" == seen[0]


@pytest.mark.parametrize(
    ("coding", "blocked"), [("br", {"brotli"}), ("zstd", {"compression.zstd", "backports.zstd"})]
)
async def test_missing_package_refuses_by_name_and_stops_advertising(
    http_engine: str, coding: str, blocked: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its package, a br or zstd body is a ProtocolError naming the coding and its extra,
    and Accept-Encoding no longer offers it."""
    monkeypatch.setattr(_codings, "INSTALLED", _codings.Codings.find(blocked=blocked))
    handler, seen = encoded_handler(coding)
    async with fault_scenario(handler, http_engine) as (_, client):
        with pytest.raises(pynector.ProtocolError) as info:
            await client.request({"url": "/fault"})
    extra = "brotli" if coding == "br" else "zstd"
    assert_mapped(info.value, pynector.ProtocolError, f"'{coding}'", f"pynector-trio[{extra}]")
    assert coding not in (seen[0] or "").split(", ")


async def test_unknown_coding_is_refused_by_name(http_engine: str) -> None:
    """A coding nobody asked for and nothing decodes is refused, not passed off as the body."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", "compress")], b"\x1f\x9d\x90binary")

    async with fault_scenario(handler, http_engine) as (_, client):
        with pytest.raises(pynector.ProtocolError) as info:
            await client.request({"url": "/fault"})
    assert_mapped(info.value, pynector.ProtocolError, "'compress'", "cannot decode")


async def test_unsupported_coding_without_a_body_passes(http_engine: str) -> None:
    """A HEAD answer that names an undecodable coding has no body to refuse: it succeeds."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", "compress"), ("Content-Length", "10")])

    async with fault_scenario(handler, http_engine) as (_, client):
        response = await client.request({"url": "/fault", "method": "HEAD"})
    assert 200 == response.status_code


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_bomb_is_bounded(http_engine: str, coding: str) -> None:
    """A br or zstd bomb (64 MiB decoded) is refused at the cap without allocating anywhere near it."""
    bomb = ENCODERS[coding](bytes(64 * 1024 * 1024))
    assert len(bomb) < 100 * 1024

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", coding)], bomb)

    async with fault_scenario(handler, http_engine, max_response_bytes=1024 * 1024) as (_, client):
        tracemalloc.start()
        try:
            with pytest.raises(pynector.ProtocolError) as info:
                await client.request({"url": "/fault"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert_mapped(info.value, pynector.ProtocolError, "decoded", chained=False)
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_truncated_and_corrupt_bodies_are_refused(coding: str) -> None:
    """A truncated or corrupt br/zstd body is a ProtocolError naming the coding, never partial data."""
    encoded = ENCODERS[coding](BODY)
    for broken in (encoded[: len(encoded) // 2], b"\xff" * 16 + encoded):
        with pytest.raises(pynector.ProtocolError, match=f"invalid {coding} data"):
            await decode_body(broken, coding, None, "GET /x")


@given(
    payload=st.binary(max_size=5000),
    coding=st.sampled_from(["br", "zstd"]),
    frames=st.integers(1, 3),
    cuts=st.lists(st.integers(0, 20000), max_size=6),
)
async def test_decoding_round_trips_whatever_the_chunking(
    payload: bytes, coding: str, frames: int, cuts: list[int]
) -> None:
    """Encoded then decoded from arbitrarily split chunks gives back the payload (zstd: several frames)."""
    count = frames if coding == "zstd" else 1
    encoded = b"".join(ENCODERS[coding](payload) for _ in range(count))
    decoder = _codings.INSTALLED.decoders[coding](1024)
    bounds = sorted({0, len(encoded), *(c % (len(encoded) + 1) for c in cuts)})
    out = []
    for start, end in itertools.pairwise(bounds):
        out.extend(decoder.feed(encoded[start:end]))
    out.extend(decoder.flush())
    assert all(len(piece) <= 1024 for piece in out)
    assert payload * count == b"".join(out)
