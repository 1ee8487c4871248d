"""Replies of several frames from a real redis-server: the RESP reply decoder through "tcp"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import pynector
from pynector import ProtocolError
from pynector.framing import RespError

if TYPE_CHECKING:
    from interop_servers import TcpServer

# The shared real-server fixtures live in tests/interop/conftest.py (`make test-interop`).
pytest.importorskip("interop_servers", reason="the interop fixtures (tests/interop/conftest.py) are absent")
pytestmark = pytest.mark.interop


def _client(server: TcpServer, **options: object) -> pynector.Pynector:
    return pynector.Pynector(
        transport_type="tcp", host=server.host, port=server.port, config={"timeout": 10}, **options
    )


async def test_get_mget_incr_hgetall_with_resp_framing(redis_server: TcpServer, redis_key: str) -> None:
    """framing="resp": bulk strings (binary, null), arrays, integers and maps come back whole."""
    value = b"multi\r\nline\x00value"
    async with _client(redis_server, framing="resp", max_connections=2) as client:
        assert "OK" == await client.request(["SET", f"{redis_key}a", value])
        assert value == await client.request(["GET", f"{redis_key}a"])
        assert None is await client.request(["GET", f"{redis_key}missing"])
        assert [value, None] == await client.request(["MGET", f"{redis_key}a", f"{redis_key}missing"])
        assert [1, 2, 3] == [await client.request(["INCR", f"{redis_key}n"]) for _ in range(3)]
        assert 2 == await client.request(["HSET", f"{redis_key}h", "f1", "v1", "f2", b""])
        flat = await client.request(["HGETALL", f"{redis_key}h"])
        assert {b"f1": b"v1", b"f2": b""} == dict(zip(flat[::2], flat[1::2], strict=True))
        error = await client.request(["INCR", f"{redis_key}a"])
        assert isinstance(error, RespError)
        assert "ERR" == error.kind


async def test_a_large_value_arrives_in_many_chunks(redis_server: TcpServer, redis_key: str) -> None:
    """A 5 MB bulk string and a 10,000-element array are read whole, over many TCP reads."""
    big = bytes(range(256)) * 20_000
    async with _client(redis_server, framing="resp") as client:
        assert "OK" == await client.request(["SET", f"{redis_key}big", big])
        assert big == await client.request(["GET", f"{redis_key}big"])
        await client.request(["RPUSH", f"{redis_key}list", *range(10_000)])
        assert [str(n).encode() for n in range(10_000)] == await client.request(
            ["LRANGE", f"{redis_key}list", 0, -1]
        )


async def test_concurrent_commands_never_cross_replies(redis_server: TcpServer, redis_key: str) -> None:
    """1,000 GETs of distinct keys over 8 pooled connections: each gets its own key's value."""
    async with _client(redis_server, framing="resp", max_connections=8) as client:
        keys = [f"{redis_key}k{n}" for n in range(1000)]
        await client.request(["MSET", *[part for n, key in enumerate(keys) for part in (key, f"v{n}")]])
        replies = await client.batch_request([(["GET", key], {}) for key in keys], max_concurrency=32)
    assert [f"v{n}".encode() for n in range(1000)] == replies


async def test_inline_commands_with_the_resp_reply_decoder(redis_server: TcpServer, redis_key: str) -> None:
    """CRLF line framing sends inline commands; reply_decoder="resp" reads the multi-line replies."""
    async with _client(redis_server, delimiter=b"\r\n", reply_decoder="resp") as client:
        assert "OK" == await client.request(f"SET {redis_key}g hello".encode())
        assert b"hello" == await client.request(f"GET {redis_key}g".encode())


async def test_line_framing_alone_fails_rather_than_truncate(redis_server: TcpServer, redis_key: str) -> None:
    """Without a reply decoder, GET's "$5" line is not returned as the value: the exchange fails."""
    async with _client(redis_server, delimiter=b"\r\n") as client:
        assert b"+OK" == await client.request(f"SET {redis_key}g hello".encode())
        with pytest.raises(ProtocolError, match="more bytes after the reply"):
            await client.request(f"GET {redis_key}g".encode())
