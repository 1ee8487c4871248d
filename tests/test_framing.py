"""Framing: encoders, incremental decoders under arbitrary chunking, and FramedStream."""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.framing import (
    FramedStream,
    LengthPrefixFraming,
    LineFraming,
    RawFraming,
    make_framing,
)

MAX = 64

line_payloads = st.binary(max_size=MAX).filter(lambda b: not any(c in b for c in b"\r\n\x00"))
any_payloads = st.binary(max_size=MAX)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _decode_all(framing: pynector.framing.Framing, chunks: list[bytes], fast: bool = False) -> list[bytes]:
    decoder = framing.decoder()
    frames: list[bytes] = []
    for chunk in chunks:
        if fast:
            frame = decoder.feed_and_next(chunk)
        else:
            decoder.feed(chunk)
            frame = decoder.next_frame()
        while frame is not None:
            frames.append(frame)
            frame = decoder.next_frame()
    last = decoder.end_of_input()
    if last is not None:
        frames.append(last)
    return frames


@pytest.mark.parametrize("fast", [False, True])
@given(payloads=st.lists(line_payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000)))
def test_line_round_trip_random_splits(fast: bool, payloads: list[bytes], cuts: list[int]) -> None:
    """Line frames decode to the sent payloads however the byte stream is split (both feed paths)."""
    framing = LineFraming(MAX)
    data = b"".join(framing.encode(p) for p in payloads)
    assert payloads == _decode_all(framing, _chunked(data, cuts), fast)


@pytest.mark.parametrize("fast", [False, True])
@given(payloads=st.lists(any_payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000)))
def test_length_round_trip_random_splits(fast: bool, payloads: list[bytes], cuts: list[int]) -> None:
    """Length-prefixed frames carry any bytes, whatever the chunking (both feed paths)."""
    framing = LengthPrefixFraming(MAX)
    data = b"".join(framing.encode(p) for p in payloads)
    assert payloads == _decode_all(framing, _chunked(data, cuts), fast)


@given(payloads=st.lists(any_payloads, max_size=4))
def test_length_round_trip_one_byte_at_a_time(payloads: list[bytes]) -> None:
    """Feeding the decoder one byte at a time yields the same frames."""
    framing = LengthPrefixFraming(MAX)
    data = b"".join(framing.encode(p) for p in payloads)
    assert payloads == _decode_all(framing, [data[i : i + 1] for i in range(len(data))])


@given(payloads=st.lists(line_payloads, max_size=4))
def test_line_round_trip_one_byte_at_a_time(payloads: list[bytes]) -> None:
    """Line decoding one byte at a time yields the same frames."""
    framing = LineFraming(MAX)
    data = b"".join(framing.encode(p) for p in payloads)
    assert payloads == _decode_all(framing, [data[i : i + 1] for i in range(len(data))])


@given(payload=any_payloads, cuts=st.lists(st.integers(0, 10_000)))
def test_raw_round_trip(payload: bytes, cuts: list[int]) -> None:
    """Raw framing returns everything up to the end of input as one frame."""
    framing = RawFraming(MAX)
    assert [payload] == _decode_all(framing, _chunked(framing.encode(payload), cuts))


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("name", ["line", "length", "raw"])
@given(garbage=st.binary(max_size=4 * MAX), cuts=st.lists(st.integers(0, 10_000)))
def test_garbage_raises_only_documented_errors(
    name: str, fast: bool, garbage: bytes, cuts: list[int]
) -> None:
    """Arbitrary bytes decode to frames or raise ProtocolError/ReadError, never anything else."""
    framing = make_framing(name, MAX)
    try:
        frames = _decode_all(framing, _chunked(garbage, cuts), fast)
    except (pynector.ProtocolError, pynector.ReadError):
        return
    assert all(len(frame) <= MAX for frame in frames)


def test_line_accepts_crlf_from_peers() -> None:
    """A peer's CRLF terminator is accepted and stripped."""
    assert [b"a", b"b"] == _decode_all(LineFraming(MAX), [b"a\r\nb\n"])


@pytest.mark.parametrize("payload", [b"a\nb", b"a\rb", b"a\x00b"])
def test_line_rejects_embedded_delimiters(payload: bytes) -> None:
    """A payload that could be mis-parsed is rejected with SerializationError."""
    with pytest.raises(pynector.SerializationError, match="cannot contain"):
        LineFraming(MAX).encode(payload)


@pytest.mark.parametrize("name", ["line", "length", "raw"])
def test_encode_rejects_oversized_and_non_bytes(name: str) -> None:
    """Payloads above max_frame_size or not bytes cannot be framed."""
    framing = make_framing(name, 4)
    with pytest.raises(pynector.SerializationError, match="above max_frame_size=4"):
        framing.encode(b"12345")
    with pytest.raises(pynector.SerializationError, match="must be bytes"):
        framing.encode("text")  # type: ignore[arg-type]


def test_length_rejects_oversized_header_before_body() -> None:
    """An announced length above the maximum fails as soon as the 4 header bytes arrive."""
    decoder = LengthPrefixFraming(10).decoder()
    decoder.feed((11).to_bytes(4, "big"))
    with pytest.raises(pynector.ProtocolError, match="above max_frame_size=10"):
        decoder.next_frame()


def test_line_without_newline_is_bounded() -> None:
    """A line that never ends fails once it passes the maximum, without buffering more."""
    decoder = LineFraming(10).decoder()
    decoder.feed(b"x" * 12)
    with pytest.raises(pynector.ProtocolError):
        decoder.next_frame()


@pytest.mark.parametrize("name", ["line", "length"])
def test_truncated_frame_is_read_error(name: str) -> None:
    """The end of input in the middle of a frame is a ReadError naming the truncation."""
    framing = make_framing(name, MAX)
    data = framing.encode(b"hello")[:-1]
    with pytest.raises(pynector.ReadError, match="middle of a frame"):
        _decode_all(framing, [data])


@pytest.mark.parametrize(
    ("framing", "size"), [("bogus", None), ("line", 0), ("line", True), ("length", 2**32), (3, None)]
)
def test_make_framing_validates(framing: object, size: object) -> None:
    """Unknown names and invalid sizes raise ConfigurationError."""
    with pytest.raises(pynector.ConfigurationError):
        make_framing(framing, size)


@pytest.mark.parametrize("name", ["line", "length", "raw"])
async def test_framed_stream_exchange(name: str) -> None:
    """FramedStream sends and receives frames over a trio stream pair in both directions."""
    left, right = trio.testing.memory_stream_pair()
    client, server = FramedStream(left, name), FramedStream(right, name)
    await client.send_frame(b"ping")
    assert b"ping" == await server.receive_frame()
    await server.send_frame(b"pong")
    assert b"pong" == await client.receive_frame()


@pytest.mark.parametrize("name", ["line", "length", "raw"])
@given(payloads=st.lists(line_payloads, min_size=1, max_size=3))
async def test_framed_stream_one_byte_reads(name: str, payloads: list[bytes]) -> None:
    """FramedStream reassembles frames from a stream read one byte at a time."""
    if name == "raw":
        payloads = [b"".join(payloads)]
    left, right = trio.testing.memory_stream_pair()
    sender, receiver = FramedStream(left, name), FramedStream(right, name, receive_size=1)
    for payload in payloads:
        await sender.send_frame(payload)
    if name != "raw":
        await left.aclose()
    received = []
    while (frame := await receiver.receive_frame()) is not None:
        received.append(frame)
    assert payloads == received


async def test_framed_stream_clean_eof_is_none() -> None:
    """A peer closing between frames yields None, not an error."""
    left, right = trio.testing.memory_stream_pair()
    await left.aclose()
    assert None is await FramedStream(right, "line").receive_frame()


async def test_framed_stream_send_on_closed_is_write_error() -> None:
    """Sending on a closed stream raises WriteError with the trio error as cause."""
    left, _right = trio.testing.memory_stream_pair()
    framed = FramedStream(left, "line", label="peer")
    await framed.aclose()
    with pytest.raises(pynector.WriteError, match="sending to peer failed") as info:
        await framed.send_frame(b"x")
    assert isinstance(info.value.__cause__, trio.ClosedResourceError)
