"""A Quota shared by several processes through Redis (skipped, with the reason, without redis-server).

These tests run on the real clock: Redis's ``TIME`` is the clock of a shared quota, and the processes
are real processes. Each test uses its own key prefix on one redis-server started for this module.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial

import pytest
import trio
from helpers.processes import find_binary

from pynector import Pynector, Quota, QuotaStoreError, RateLimitError
from pynector.testing import HTTPRequest, HTTPResponse, QuotaService, ServerConnection, open_http_server

pytest.importorskip("coredis", reason="the redis extra (coredis) is not installed")

PROCESSES = 4
QUOTA_PER_SECOND = 50
SECONDS = 10.0
#: What the server may see beyond the quota in any one-second window: the GCRA of one shared key lets
#: at most one request more than the rate through per window, and the processes' first requests race
#: the first reservation.
SLACK = 3

WORKER = """
import sys, trio, itertools
from pynector import Pynector, Quota, RetryPolicy

url, redis_url, name = sys.argv[1:4]
seconds, per_second = float(sys.argv[4]), int(sys.argv[5])

async def main():
    quota = Quota(requests_per_minute=60 * per_second, redis_url=redis_url, name=name)
    retry = RetryPolicy(max_retries=20, initial_delay=0.05, max_delay=1.0)
    answered = 0
    async with Pynector(transport_type="http", base_url=url, rate_limit=quota) as client:
        pairs = (({"path": "/"}, {}) for _ in itertools.count())
        async with client.stream_batch(pairs, max_concurrency=16, timeout=seconds, retry=retry) as results:
            async for _, result in results:
                answered += not isinstance(result, Exception)
    print(answered)

trio.run(main)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server on a free loopback port for this module (skipped when not installed)."""
    binary = find_binary("redis-server", "redis-server")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10  # real time: the server is a real process starting up
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def redis_key() -> str:
    """A key prefix no other test uses."""
    return f"test:{uuid.uuid4().hex}"


async def test_four_processes_share_one_quota(redis_url: str, redis_key: str) -> None:
    """4 processes for 10 s, one quota of 50/s in Redis: no 1-s window over quota + slack, <= 2% 429s."""
    service = QuotaService(requests_per_minute=QUOTA_PER_SECOND, window=1.0, headers="ietf")
    seen: list[float] = []
    handler = service.handler

    async def counting(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        seen.append(trio.current_time())
        return await handler(request, conn)

    async with open_http_server(counting) as server:
        argv = [
            sys.executable,
            "-c",
            WORKER,
            server.url,
            redis_url,
            redis_key,
            str(SECONDS),
            str(QUOTA_PER_SECOND),
        ]
        outputs: list[bytes] = []

        async def worker() -> None:
            done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=True)
            outputs.append(done.stdout)

        async with trio.open_nursery() as nursery:
            for _ in range(PROCESSES):
                nursery.start_soon(worker)
    seen.sort()
    busiest = max(sum(1 for t in seen[i:] if t < start + 1.0) for i, start in enumerate(seen))
    answered = sum(int(out) for out in outputs)
    print(
        f"\n{PROCESSES} processes, {SECONDS:g} s, quota {QUOTA_PER_SECOND}/s: server saw {len(seen)} "
        f"requests, busiest 1-s window {busiest}, served {service.served}, refused {service.refused} "
        f"({service.refused / max(1, len(seen)):.1%}), answered {answered}"
    )
    assert busiest <= QUOTA_PER_SECOND + SLACK
    assert service.refused <= 0.02 * len(seen)
    assert len(seen) >= 0.8 * QUOTA_PER_SECOND * SECONDS  # the quota was used, not starved


async def test_a_429_seen_by_one_client_pauses_the_other(redis_url: str, redis_key: str) -> None:
    """Two clients (as two processes would) share a pause through Redis."""
    calls: list[tuple[str, float]] = []

    async def fn(name: str, data: object, **options: object) -> object:
        calls.append((name, trio.current_time()))
        if name == "a" and len(calls) == 1:
            raise RateLimitError("slow down", status_code=429, retry_after=1.0)
        return data

    quota_a = Quota(redis_url=redis_url, name=redis_key)
    quota_b = Quota(redis_url=redis_url, name=redis_key)
    async with (
        Pynector(transport_type="callable", fn=partial(fn, "a"), rate_limit=quota_a) as a,
        Pynector(transport_type="callable", fn=partial(fn, "b"), rate_limit=quota_b) as b,
    ):
        with pytest.raises(RateLimitError):
            await a.request(1)
        await a.request(2)  # carries the pause to Redis with its acquire, then waits it out
        start = calls[0][1]
        await b.request(3)
    b_at = next(t for name, t in calls if name == "b")
    assert b_at - start >= 0.9  # real time: the pause came from the other client, through Redis


async def test_unreachable_redis_fails_with_a_clear_error() -> None:
    """on_redis_error="fail": entering the client raises QuotaStoreError naming the (redacted) URL."""
    url = f"redis://:sekrit@127.0.0.1:{free_port()}/0"
    quota = Quota(redis_url=url)
    client = Pynector(transport_type="callable", fn=lambda d: d, rate_limit=quota)
    with pytest.raises(QuotaStoreError, match="cannot be reached") as caught:
        async with client:
            pass
    assert "sekrit" not in str(caught.value)
    assert client.closed


async def test_unreachable_redis_can_fall_back_to_the_local_state() -> None:
    """on_redis_error="local": a RuntimeWarning, then the client works with its own quota state."""
    quota = Quota(redis_url=f"redis://127.0.0.1:{free_port()}/0", on_redis_error="local")
    with pytest.warns(RuntimeWarning, match="own quota state"):
        async with Pynector(transport_type="callable", fn=lambda d: d, rate_limit=quota) as client:
            assert 7 == await client.request(7)
