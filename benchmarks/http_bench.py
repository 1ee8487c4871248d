"""HTTP throughput: pynector's native engine against raw httpx and a minimal h11 client, on trio.

Run: ``.venv/bin/python benchmarks/http_bench.py [--requests 5000] [--rounds 5]``

A canned-response HTTP/1.1 server runs in its own process (plain sockets and ``selectors``, one
thread, keep-alive, 13-byte body) so that it is not the bottleneck; its CPU time is printed so a reader
can check it was not saturated. Every client row sends the same number of GET requests at 1 and at 64 in
flight, in the same run, against the same server, and the table prints requests/s and ratios, plus the
client's CPU time per request ("h11/CPU": the minimal h11 client's cost divided by the row's, the
load-independent version of "x h11").

Rows are a table of named async callables, ``ROWS[name] = run(host, port, requests, in_flight)``; the
shared HTTP layer adds its own ("pynector http (batch_request)", "pynector httpx") by registering a
callable with the same signature.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import h11
import httpx
import trio

import pynector
from pynector.http._engine import WireRequest
from pynector.http._native import NativeEngine

Runner = Callable[[str, int, int, int], Awaitable[None]]

BODY = b"Hello, world!"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


# --- the server (child process) ------------------------------------------------------------------


def serve() -> None:
    """Answer every request head with the canned response until stdin closes; print CPU seconds."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print(listener.getsockname()[1], flush=True)
    pending: dict[socket.socket, bytes] = {}
    running = True
    while running:
        for key, _ in selector.select():
            if key.data == "stdin":
                running = False
            elif key.data is None:
                conn, _ = listener.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pending[conn] = b""
                selector.register(conn, selectors.EVENT_READ, "conn")
            else:
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(conn)
                    conn.close()
                    del pending[conn]
                    continue
                buffered = pending[conn] + data
                heads = buffered.count(b"\r\n\r\n")
                pending[conn] = buffered[buffered.rfind(b"\r\n\r\n") + 4 :] if heads else buffered
                if heads:
                    conn.sendall(RESPONSE * heads)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{usage.ru_utime + usage.ru_stime:.2f}", flush=True)


# --- client rows ---------------------------------------------------------------------------------


async def run_workers(requests: int, in_flight: int, one: Callable[[], Awaitable[None]]) -> None:
    """``in_flight`` workers pulling from one shared iterator (the batch engine's pattern)."""
    counter = iter(range(requests))

    async def worker() -> None:
        for _ in counter:
            await one()

    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker)


async def native_engine(host: str, port: int, requests: int, in_flight: int) -> None:
    """pynector's NativeEngine used directly: send, read the body, release."""
    request = WireRequest("GET", "http", host, port, "/", (("Accept", "*/*"),))
    engine = NativeEngine(max_connections=in_flight)

    async def one() -> None:
        async with engine.send(request) as response:
            async for chunk in response.aiter_raw():
                assert chunk == BODY

    try:
        await run_workers(requests, in_flight, one)
    finally:
        await engine.aclose()


async def raw_httpx(host: str, port: int, requests: int, in_flight: int) -> None:
    """httpx.AsyncClient under trio, the best pattern: workers pulling from a shared iterator."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits) as client:
        url = f"http://{host}:{port}/"

        async def one() -> None:
            response = await client.get(url)
            assert response.content == BODY

        await run_workers(requests, in_flight, one)


async def minimal_h11(host: str, port: int, requests: int, in_flight: int) -> None:
    """The practical limit: one connection per worker, h11 framing, nothing else."""
    counter = iter(range(requests))

    async def worker() -> None:
        stream = await trio.open_tcp_stream(host, port)
        conn = h11.Connection(h11.CLIENT)
        async with stream:
            for _ in counter:
                headers = [("Host", host), ("Accept", "*/*")]  # what the other rows send
                data = conn.send(h11.Request(method="GET", target="/", headers=headers))
                data += conn.send(h11.EndOfMessage())  # type: ignore[operator]
                await stream.send_all(data)
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif type(event) is h11.Data:
                        body += event.data
                    elif type(event) is h11.EndOfMessage:
                        break
                assert body == BODY
                conn.start_next_cycle()

    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker)


def through_client(transport_type: str) -> Runner:
    """A ``Pynector`` client over *transport_type*: one ``batch_request`` of GET dicts.

    Telemetry stays at its default (on, no SDK configured), as a user would run it.
    """

    async def run(host: str, port: int, requests: int, in_flight: int) -> None:
        items = [({"path": "/"}, {})] * requests
        async with pynector.Pynector(
            transport_type=transport_type, base_url=f"http://{host}:{port}", max_connections=in_flight
        ) as client:
            results = await client.batch_request(items, max_concurrency=in_flight)
        for result in results:
            assert result.content == BODY, result

    return run


ROWS: dict[str, Runner] = {
    "pynector http (batch_request)": through_client("http"),
    "pynector httpx (batch_request)": through_client("httpx"),
    "pynector native engine (direct)": native_engine,
    "raw httpx (trio, workers)": raw_httpx,
    "minimal h11 on trio (1 conn/worker)": minimal_h11,
}
BASELINE = "raw httpx (trio, workers)"
LIMIT = "minimal h11 on trio (1 conn/worker)"


def measure(runner: Runner, port: int, requests: int, in_flight: int) -> tuple[float, float]:
    """Requests per second (wall clock) and client CPU microseconds per request, after a warm-up.

    CPU time per request is the steadier figure on a shared machine: other processes slow the wall
    clock down but hardly change how much work each request costs.
    """
    trio.run(runner, "127.0.0.1", port, min(200, requests), in_flight)
    gc.collect()  # every cell starts from a collected heap: no row pays for another's garbage
    started, cpu_started = time.perf_counter(), time.process_time()
    trio.run(runner, "127.0.0.1", port, requests, in_flight)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return requests / wall, cpu / requests * 1e6


def main() -> None:
    """Start the server, run every row at 1 and 64 in flight, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5, help="repeat and keep the best per cell (default 5)")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    assert server.stdin is not None
    port = int(server.stdout.readline())
    print(
        f"python {sys.version.split()[0]}, trio {trio.__version__}, httpx {httpx.__version__}, "
        f"h11 {h11.__version__}, {os.cpu_count()} CPUs, loopback, {args.requests} GET requests per cell"
    )
    results: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    started = time.perf_counter()
    # Rounds outermost: load from other processes spreads over every row instead of one.
    for _, in_flight, (name, runner) in itertools.product(range(args.rounds), (1, 64), ROWS.items()):
        rps, cpu_us = measure(runner, port, args.requests, in_flight)
        results[name, in_flight] = max(rps, results.get((name, in_flight), 0.0))
        cpu[name, in_flight] = min(cpu_us, cpu.get((name, in_flight), float("inf")))
    elapsed = time.perf_counter() - started
    server.stdin.close()
    server_cpu = float(server.stdout.readline())
    server.wait()
    print(
        f"\n{'client':<40} {'in flight':>9} {'req/s':>9} {'x httpx':>8} {'x h11':>7}"
        f" {'CPU us/req':>11} {'h11/CPU':>8}"
    )
    for in_flight in (1, 64):
        for name in ROWS:
            rps = results[name, in_flight]
            vs_httpx = rps / results[BASELINE, in_flight]
            vs_h11 = rps / results[LIMIT, in_flight]
            cost = cpu[name, in_flight]
            efficiency = cpu[LIMIT, in_flight] / cost
            print(
                f"{name:<40} {in_flight:>9} {rps:>9.0f} {vs_httpx:>8.2f} {vs_h11:>7.2f}"
                f" {cost:>11.0f} {efficiency:>8.2f}"
            )
    print(
        f"\nserver CPU time {server_cpu:.1f} s over {elapsed:.1f} s wall "
        f"({100 * server_cpu / elapsed:.0f}% of one core: not the bottleneck if well below 100%)"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
