"""The "tcp" transport with line framing against a real redis-server (inline commands, one-line replies)."""

from __future__ import annotations

import trio
from interop_servers import TcpServer, line_client


async def test_ping_set_incr_and_errors(redis_server: TcpServer, redis_key: str) -> None:
    """PING, SET, INCR and an unknown command get their one-line replies, in order, on one connection."""
    async with line_client(redis_server, max_connections=1) as client:
        assert b"+PONG" == await client.request(b"PING")
        assert b"+OK" == await client.request(f"SET {redis_key}greeting hello".encode())
        assert [b":1", b":2", b":3"] == [
            await client.request(f"INCR {redis_key}n".encode()) for _ in range(3)
        ]
        assert b":13" == await client.request(f"INCRBY {redis_key}n 10".encode())
        assert b":5" == await client.request(f"STRLEN {redis_key}greeting".encode())
        error = await client.request(b"NO-SUCH-COMMAND")
        assert error.startswith(b"-ERR unknown command"), error
        assert b":0" == await client.request(f"EXISTS {redis_key}missing".encode())


async def test_concurrent_incr_replies_are_never_crossed(redis_server: TcpServer, redis_key: str) -> None:
    """1,000 INCRs over 8 pooled connections: every reply is a distinct count, and none is lost."""
    async with line_client(redis_server, max_connections=8) as client:
        replies = await client.batch_request(
            [(f"INCR {redis_key}hits".encode(), {}) for _ in range(1000)], max_concurrency=32
        )
        assert [] == [r for r in replies if isinstance(r, BaseException)]
        assert sorted(f":{n}".encode() for n in range(1, 1001)) == sorted(replies)
        # Each connection is still in step: a different command gets its own reply.
        pings = await client.batch_request([(b"PING", {}) for _ in range(64)], max_concurrency=16)
        assert [b"+PONG"] * 64 == pings


async def test_a_pushed_line_is_never_the_next_reply(redis_server: TcpServer, redis_key: str) -> None:
    """A MONITOR connection's pushed lines never become another request's reply."""
    async with line_client(redis_server, max_connections=1) as watcher, line_client(redis_server) as writer:
        for n in range(5):
            # This connection now receives a line for every command any client runs, unasked.
            assert b"+OK" == await watcher.request(b"MONITOR")
            assert b"+OK" == await writer.request(f"SET {redis_key}pushed {n}".encode())
            # Real-time sleep: the pushed line travels over a real socket, and nothing tells this
            # client it has arrived; 0.2 s is ample on loopback.
            await trio.sleep(0.2)
            assert b"+PONG" == await watcher.request(b"PING")
            assert f":{len(str(n))}".encode() == await watcher.request(f"STRLEN {redis_key}pushed".encode())
