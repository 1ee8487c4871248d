"""memcached's storage and retrieval commands: requests of two lines, replies of several lines."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

import pynector
from pynector import ProtocolError

if TYPE_CHECKING:
    from interop_servers import TcpServer

# The shared real-server fixtures live in tests/interop/conftest.py (`make test-interop`).
pytest.importorskip("interop_servers", reason="the interop fixtures (tests/interop/conftest.py) are absent")
pytestmark = pytest.mark.interop

_FINAL = (b"STORED", b"NOT_STORED", b"EXISTS", b"NOT_FOUND", b"DELETED", b"END", b"ERROR")


class MemcachedReply:
    """A reply decoder for memcached's text protocol: lines up to a final one, with the data block
    of each ``VALUE <key> <flags> <bytes>`` line read by its length (it may contain CRLF).

    ``get`` answers ``[(key, flags, data), ...]``; other commands their one status line.
    """

    def __init__(self) -> None:
        self._values: list[tuple[bytes, int, bytes]] = []
        self._pos = 0

    def parse(self, buffer: bytearray) -> tuple[Any, int] | None:
        while True:
            end = buffer.find(b"\r\n", self._pos)
            if end < 0:
                return None
            line = bytes(buffer[self._pos : end])
            if line.startswith(b"VALUE "):
                _, key, flags, size = line.split(b" ")[:4]
                data_end = end + 2 + int(size)
                if len(buffer) < data_end + 2:
                    return None  # the data block has not all arrived: parse this line again later
                if buffer[data_end : data_end + 2] != b"\r\n":
                    raise ProtocolError("a memcached data block is not followed by CRLF")
                self._values.append((key, int(flags), bytes(buffer[end + 2 : data_end])))
                self._pos = data_end + 2
                continue
            used = end + 2
            reply: Any = line
            if line == b"END":
                reply = self._values
            elif not (line in _FINAL or line.startswith((b"CLIENT_ERROR", b"SERVER_ERROR", b"VERSION"))):
                raise ProtocolError(f"unexpected memcached line {line[:40]!r}")
            self._values, self._pos = [], 0
            return reply, used


async def test_set_then_get_with_a_multi_line_reply_decoder(memcached_server: TcpServer) -> None:
    """set sends two lines; get reads VALUE, the data block and END as one reply."""
    key = f"pynector-{uuid.uuid4().hex}"
    value = b"abcdefghij"
    client = pynector.Pynector(
        transport_type="tcp",
        host=memcached_server.host,
        port=memcached_server.port,
        delimiter=b"\r\n",
        reply_decoder=MemcachedReply,
        config={"timeout": 10},
    )
    async with client:
        set_line = f"set {key} 7 0 {len(value)}".encode()
        assert b"STORED" == await client.request((set_line, value))
        assert [(key.encode(), 7, value)] == await client.request(f"get {key}".encode())
        assert [] == await client.request(f"get {key}-missing".encode())
        assert b"DELETED" == await client.request(f"delete {key}".encode())
