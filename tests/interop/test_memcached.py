"""The "tcp" transport with line framing against a real memcached (one-line commands and replies)."""

from __future__ import annotations

import uuid

from interop_servers import TcpServer, line_client


async def test_one_line_commands_get_their_replies(memcached_server: TcpServer) -> None:
    """version, the meta no-op, a missing key's incr and an unknown command each get their own reply."""
    key = f"pynector-{uuid.uuid4().hex}"
    async with line_client(memcached_server, max_connections=1) as client:
        for _round in range(3):
            version = await client.request(b"version")
            assert version.startswith(b"VERSION 1."), version
            assert b"MN" == await client.request(b"mn")
            assert b"NOT_FOUND" == await client.request(f"incr {key} 1".encode())
            assert b"ERROR" == await client.request(b"no-such-command")


async def test_concurrent_requests_on_pooled_connections(memcached_server: TcpServer) -> None:
    """500 requests of two kinds over 4 pooled connections: each gets the reply to its own command."""
    key = f"pynector-{uuid.uuid4().hex}"
    requests = [(b"mn" if n % 2 else f"incr {key} 1".encode(), {}) for n in range(500)]
    async with line_client(memcached_server, max_connections=4) as client:
        replies = await client.batch_request(requests, max_concurrency=16)
    assert [b"NOT_FOUND" if n % 2 == 0 else b"MN" for n in range(500)] == replies
