"""Line protocols real servers speak on "tcp": CRLF lines, requests of several lines, replies of
several frames read by a reply decoder (RESP), and no reply ever truncated silently."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector import ConfigurationError, ProtocolError, ReadError, SerializationError
from pynector.framing import (
    LineFraming,
    RespError,
    RespFraming,
    RespReply,
    encode_resp_command,
    encode_resp_value,
    make_framing,
)
from pynector.testing import StreamServer, send_raw, serve_tcp

CRLF = LineFraming(delimiter=b"\r\n")


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


def _replies(framing: Any, chunks: list[bytes]) -> list[Any]:
    decoder = framing.decoder()
    replies = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (frame := decoder.next_frame()) is not None:
            replies.append(frame.value)
    assert decoder.end_of_input() is None
    return replies


# --- RESP ------------------------------------------------------------------------------------------

_simple = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12
)
_resp_values = st.recursive(
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.binary(max_size=20)
    | _simple
    | _simple.map(lambda text: RespError("ERR " + text)),
    lambda children: st.lists(children, max_size=4) | st.just(None),
    max_leaves=20,
)


@given(
    values=st.lists(_resp_values, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 10_000), max_size=15)
)
def test_resp_round_trip_with_random_chunk_splits(values: list[Any], cuts: list[int]) -> None:
    """Replies written back to back decode to themselves, however the bytes are chunked."""
    data = b"".join(encode_resp_value(v) for v in values)
    assert values == _replies(RespFraming(), _chunks(data, cuts))


@given(value=_resp_values)
def test_resp_one_byte_at_a_time(value: Any) -> None:
    """The incremental parser keeps its place across one-byte chunks."""
    data = encode_resp_value(value)
    assert [value] == _replies(RespFraming(), [data[i : i + 1] for i in range(len(data))])


def test_resp_types_decode_to_python_values() -> None:
    """Each RESP2 type has its Python form; errors are values, not raised."""
    data = b"+OK\r\n-WRONGTYPE bad\r\n:-7\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n*1\r\n$1\r\na\r\n:1\r\n"
    replies = _replies(RespFraming(), [data])
    assert ["OK", "WRONGTYPE bad", -7, b"", None, None, [], [[b"a"], 1]] == replies
    assert isinstance(replies[1], RespError)
    assert "WRONGTYPE" == replies[1].kind


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"?x\r\n", "unknown type byte"),
        (b"$abc\r\n", "bulk length is not an integer"),
        (b":1.5\r\n", "integer is not an integer"),
        (b"$3\r\nabcde\r\n", "not followed by CRLF"),
        (b"*-2\r\n", "negative"),
        (b"$999999\r\n", "above max_frame_size=64"),
    ],
)
def test_malformed_resp_is_a_protocol_error(data: bytes, fragment: str) -> None:
    """Bytes that cannot be a reply fail at once, naming what is wrong."""
    decoder = RespFraming(64).decoder()
    decoder.feed(data)
    with pytest.raises(ProtocolError, match=fragment):
        decoder.next_frame()


def test_a_reply_cut_off_by_the_end_of_the_stream_is_a_read_error() -> None:
    """EOF inside a bulk string is a truncated reply, never a shorter one."""
    decoder = RespFraming().decoder()
    decoder.feed(b"$5\r\nhel")
    assert decoder.next_frame() is None
    with pytest.raises(ReadError, match="in the middle of a frame"):
        decoder.end_of_input()


def test_resp_commands_are_arrays_of_bulk_strings() -> None:
    """Commands carry any byte: CRLF inside an argument is length-delimited, not a line end."""
    assert b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$2\r\n42\r\n" == encode_resp_command("SET", b"a\r\nb", 42)
    assert b"PING\r\n" == RespFraming().encode(b"PING")
    with pytest.raises(SerializationError, match="inline"):
        RespFraming().encode(b"GET a\r\nFLUSHALL")
    with pytest.raises(SerializationError, match="must be bytes, str, int or float"):
        encode_resp_command("SET", "k", object())


# --- CRLF lines and requests of several lines --------------------------------------------------------


def test_crlf_delimiter_and_requests_of_several_lines() -> None:
    """A tuple of lines is one request, each line checked and ended with the delimiter."""
    assert b"set k 0 0 5\r\nhello\r\n" == CRLF.encode((b"set k 0 0 5", b"hello"))
    with pytest.raises(SerializationError, match="LF"):
        CRLF.encode([b"set k 0 0 5", b"hel\nlo"])
    with pytest.raises(SerializationError, match="at least one line"):
        CRLF.encode([])


@given(
    lines=st.lists(st.binary(max_size=20).filter(lambda b: not any(c in b for c in b"\r\n\x00")), max_size=6)
)
def test_crlf_lines_round_trip(lines: list[bytes]) -> None:
    """CRLF-delimited lines decode to themselves."""
    data = CRLF.encode(lines) if lines else b""
    assert lines == _replies(CRLF, [data[i : i + 3] for i in range(0, len(data), 3)])


def test_make_framing_options() -> None:
    """delimiter and reply_decoder belong to line framing; unknown decoders are refused."""
    assert isinstance(make_framing("line", delimiter=b"\r\n", reply_decoder="resp").decoder(), object)
    with pytest.raises(ConfigurationError, match="options of 'line' framing"):
        make_framing("length", delimiter=b"\r\n")
    with pytest.raises(ConfigurationError, match="reply_decoder must be"):
        make_framing("line", reply_decoder="memcache")
    with pytest.raises(ConfigurationError, match="delimiter must be non-empty bytes"):
        make_framing("line", delimiter="\r\n")


# --- over TCP ------------------------------------------------------------------------------------


#: The fake server's null reply (a handler returning None closes the connection instead).
NIL = object()


class _FakeRedisFraming(RespFraming):
    """The server side of RESP: commands in (RESP arrays), replies out."""

    def encode(self, payload: Any) -> bytes:
        if payload is NIL:
            return encode_resp_value(None)
        return encode_resp_value(
            [None if item is NIL else item for item in payload] if isinstance(payload, list) else payload
        )


def fake_redis() -> Any:
    store: dict[bytes, Any] = {}

    def handle(command: list[bytes]) -> Any:
        name, *args = command
        verb = name.upper()
        if verb == b"SET":
            store[args[0]] = args[1]
            return "OK"
        if verb == b"GET":
            return store.get(args[0], NIL)
        if verb == b"MGET":
            return [store.get(key, NIL) for key in args]
        if verb == b"INCR":
            store[args[0]] = str(int(store.get(args[0], b"0")) + 1).encode()
            return int(store[args[0]])
        return RespError(f"ERR unknown command '{verb.decode()}'")

    return handle


@asynccontextmanager
async def tcp_server(handler: Any, framing: Any) -> AsyncIterator[StreamServer]:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_tcp(handler, framing=framing, task_status=task_status)
        )
        yield server
        nursery.cancel_scope.cancel()


async def test_resp_framing_against_a_fake_redis() -> None:
    """framing="resp": commands as lists, replies as Python values, null included."""
    async with tcp_server(fake_redis(), _FakeRedisFraming()) as server:
        client = pynector.Pynector(transport_type="tcp", host="127.0.0.1", port=server.port, framing="resp")
        async with client:
            assert "OK" == await client.request(["SET", "k", b"a\r\nb"])
            assert b"a\r\nb" == await client.request(["GET", "k"])
            assert None is await client.request(["GET", "missing"])
            assert [b"a\r\nb", None] == await client.request(["MGET", "k", "missing"])
            assert 1 == await client.request(["INCR", "n"])
            error = await client.request(["NOPE"])
    assert isinstance(error, RespError)
    assert "ERR unknown command 'NOPE'" == error


async def test_a_reply_longer_than_one_line_fails_instead_of_being_truncated() -> None:
    """Redis's "$5\\r\\nhello\\r\\n" read as CRLF lines: the exchange fails, never returns "$5"."""

    def handler(line: bytes) -> Any:
        return send_raw(b"$5\r\nhello\r\n", close=False)

    async with tcp_server(handler, CRLF) as server:
        client = pynector.Pynector(
            transport_type="tcp", host="127.0.0.1", port=server.port, framing="line", delimiter=b"\r\n"
        )
        async with client:
            with pytest.raises(ProtocolError, match="more bytes after the reply"):
                await client.request(b"GET k")
        with trio.fail_after(5):
            await server.wait_all_closed()  # the connection with bytes left over is not reused


async def test_line_framing_with_a_resp_reply_decoder_reads_the_whole_reply() -> None:
    """Inline commands out, RESP replies in: reply_decoder="resp" on CRLF line framing."""

    def handler(line: bytes) -> Any:
        assert b"GET k" == line
        return send_raw(b"$5\r\nhello\r\n", close=False)

    async with tcp_server(handler, CRLF) as server:
        client = pynector.Pynector(
            transport_type="tcp",
            host="127.0.0.1",
            port=server.port,
            delimiter=b"\r\n",
            reply_decoder=RespReply,
        )
        async with client:
            assert b"hello" == await client.request(b"GET k")
            assert b"hello" == await client.request(b"GET k")  # the connection was reused cleanly


async def test_memcached_set_sends_two_lines() -> None:
    """A request of several lines reaches the server as written (memcached's storage command)."""
    received: list[bytes] = []

    def handler(line: bytes) -> Any:
        received.append(line)
        return b"STORED" if len(received) == 2 else send_raw(b"", close=False)

    async with tcp_server(handler, CRLF) as server:
        client = pynector.Pynector(
            transport_type="tcp", host="127.0.0.1", port=server.port, delimiter=b"\r\n"
        )
        async with client:
            assert b"STORED" == await client.request((b"set k 0 0 5", b"hello"))
    assert [b"set k 0 0 5", b"hello"] == received
