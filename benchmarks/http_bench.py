"""HTTP throughput: pynector's ``"http"`` transport against aiohttp, httpx and minimal trio clients.

The minimal clients (one connection per worker, no pool, no error mapping) use h11, and pynector's
own response parser: the latter is the floor the layers above the parser are measured against.

Run: ``make bench-http`` or ``.venv/bin/python benchmarks/http_bench.py [--server auto|nginx|canned]
[--requests 2000] [--rounds 5] [--quick] [--row NAME...]``.

The naive benchmark runs every client in one interpreter, one after the other, and keeps the best figure:
on a shared machine the best of a few runs measures the quietest moment rather than the client, asyncio
and trio end up sharing a process (and its garbage), and the CPU time of one row leaks into the next.
Here every cell (one client, one workload) runs in a fresh child process, for every row alike, so trio
and asyncio never share an interpreter and the CPU time of a cell (user + sys of that child, over the
timed part after a warm-up, from ``time.process_time``) is the client's own. Rounds are interleaved
(every cell once per round, ``--rounds`` times, in an order shuffled each round with a fixed seed, so
neither a burst of load from other processes nor what the cell before left behind in the kernel,
such as hundreds of MiB of pages just freed, always lands on the same row), and each cell reports
the median, the range (min-max) and the median CPU microseconds per request.

The server is nginx (``benchmarks/nginx.conf``, installed from the Debian packages when running as root
with apt-get, started on a free loopback port) or, when nginx is unavailable, a canned-response server
in its own process (plain sockets and ``selectors``). Both serve a 13-byte body at ``/``, 64 KiB at
``/64k``, 1 MiB at ``/1m`` and accept POSTs at ``/post``. The server's CPU share during each cell's timed
part is read from ``/proc/<pid>/stat`` (of nginx's master and worker) and printed, so a reader can
check that the server was not the bottleneck.

Targets (printed as "target / met", not asserted): small GETs at 64 in flight, pynector >= 2x aiohttp
(moonshot 3x); at 1 in flight >= 1.5x; bodies at 16 in flight (64 KiB GET, 1 MiB GET, 1 MiB POST)
>= 1.0x aiohttp in MB/s. ``batch_request`` returns every body, so on the body workloads its target
is read against aiohttp keeping every body too (marked ``*``); ``stream_batch`` and the plain aiohttp
row both drop each body once checked.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZES = {"/": 13, "/64k": 64 * 1024, "/1m": 1024 * 1024}
POST_SIZE = 1024 * 1024
SMALL = b"Hello, world!"


@functools.cache
def body_for(path: str) -> bytes:
    """The body served at *path* (the same bytes from nginx and the canned server).

    Built once per path: ``check`` compares every response with it, and building 1 MiB per request
    cost the client rows up to 850 CPU us per request (fresh pages on every call, depending on
    where the allocator had put the client's own buffers), more than some clients' own work.
    """
    return SMALL if path == "/" else bytes(range(256)) * (SIZES[path] // 256)


# Workloads: (label, method, path, in flight, share of --requests). Bodies get fewer requests so a
# cell moves a few hundred MiB at most, but not so few that a cell is over before the allocator has
# settled: cells of 200 1 MiB requests (about 60 ms) were 0.8-1.0x aiohttp where the same clients
# were 1.3x over 1,000. One at a time, 2,000 requests take a fifth of a second: twice as many.
WORKLOADS = [
    ("GET 13 B", "GET", "/", 1, 2.0),
    ("GET 13 B", "GET", "/", 64, 1.0),
    ("GET 64 KiB", "GET", "/64k", 16, 1.0),
    ("GET 1 MiB", "GET", "/1m", 16, 0.3),
    ("POST 1 MiB", "POST", "/post", 16, 0.3),
]
PEER = "aiohttp (asyncio)"
#: aiohttp on asyncio keeping every body until the run ends: the like-for-like peer of batch_request.
KEEPING = "aiohttp (asyncio, keeps bodies)"
# (workload label, in flight) -> target ratio against the peer, for the pynector rows.
TARGETS = {("GET 13 B", 64): 2.0, ("GET 13 B", 1): 1.5, ("GET 64 KiB", 16): 1.0}
TARGETS |= {("GET 1 MiB", 16): 1.0, ("POST 1 MiB", 16): 1.0}


# --- the canned server (child process) -------------------------------------------------------------


def serve() -> None:
    """Answer /, /64k, /1m (GET) and /post (POST, body read and dropped) until stdin closes."""
    import selectors

    responses = {
        f"GET {path}": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body_for(path)), body_for(path))
        for path in SIZES
    }
    responses["POST /post"] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print(listener.getsockname()[1], flush=True)
    buffers: dict[socket.socket, bytearray] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                return
            if key.data is None:
                conn, _ = listener.accept()
                conn.setblocking(True)  # replies are sent whole; reads are driven by the selector
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffers[conn] = bytearray()
                selector.register(conn, selectors.EVENT_READ, "conn")
                continue
            conn = key.fileobj  # type: ignore[assignment]
            try:
                data = conn.recv(262144)
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn)
                conn.close()
                del buffers[conn]
                continue
            buffer = buffers[conn]
            buffer += data
            out = []
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(buffer[:end]).lower()
                length = 0
                if (at := head.find(b"content-length:")) >= 0:
                    length = int(head[at + 15 :].split(b"\r\n", 1)[0])
                if len(buffer) < end + 4 + length:
                    break
                method, target = head.split(b" ", 2)[:2]
                out.append(responses[f"{method.decode().upper()} {target.decode()}"])
                del buffer[: end + 4 + length]
            if out:
                conn.sendall(b"".join(out))


# --- nginx -----------------------------------------------------------------------------------------


def find_nginx(install: bool) -> str | None:
    """The nginx binary; installed from the Debian packages when missing, *install*, root and apt-get."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    found = shutil.which("nginx", path=path)
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing nginx (apt-get)...", flush=True)
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "nginx"]):
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return shutil.which("nginx", path=path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes *pids* so far (from /proc/<pid>/stat; 0 without /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """The server child: nginx or the canned server, with its port and the pids whose CPU we count."""

    def __init__(self, kind: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pynector-bench-"))
        nginx = find_nginx(install=True) if kind in ("auto", "nginx") else None
        if kind == "nginx" and nginx is None:
            raise SystemExit("nginx is not installed and could not be installed (needs root and apt-get)")
        if nginx is not None and self.start_nginx(nginx):
            self.kind = "nginx"
        elif kind == "nginx":
            raise SystemExit(f"nginx did not start; see {self.root}/error.log")
        else:
            if nginx is not None:
                print(f"nginx did not start ({self.root}/error.log): using the canned server", flush=True)
            self.kind = "canned"
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.process.stdout is not None
            self.port = int(self.process.stdout.readline())

    def start_nginx(self, nginx: str) -> bool:
        """Start nginx on a free port with the files in the temp dir; False if it does not answer."""
        self.port = free_port()
        self.root.chmod(0o755)  # nginx's worker runs as another user when we are root
        for path, name in (("/", "small"), ("/64k", "64k"), ("/1m", "1m")):
            (self.root / name).write_bytes(body_for(path))
            (self.root / name).chmod(0o644)
        conf = (HERE / "nginx.conf").read_text().format(port=self.port, root=self.root)
        (self.root / "nginx.conf").write_text(conf)
        self.process = subprocess.Popen(
            [nginx, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:  # wait until it accepts (a real-time wait: nginx is another process)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    self.process.wait()
                    return False
                time.sleep(0.05)

    def pids(self) -> list[int]:
        """The server process and its children (nginx's worker)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def close(self) -> None:
        if self.kind == "canned":
            assert self.process.stdin is not None
            self.process.stdin.close()
        else:
            self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# --- client rows (each runs in a child process) -----------------------------------------------------

# A row: (host, port, method, path, requests, in flight) -> awaitable, plus the loop it runs on.
Row = Callable[[str, int, str, str, int, int], Awaitable[None]]


def check(method: str, path: str, body: bytes) -> None:
    expected = b"ok" if method == "POST" else body_for(path)
    assert body == expected, (method, path, len(body))


def trio_rows() -> dict[str, Row]:
    import h11
    import httpx
    import trio

    import pynector
    from pynector.http._engine import WireRequest
    from pynector.http._native import NativeEngine

    post_body = b"x" * POST_SIZE

    async def run_workers(requests: int, in_flight: int, one: Callable[[], Awaitable[None]]) -> None:
        counter = iter(range(requests))

        async def worker() -> None:
            for _ in counter:
                await one()

        async with trio.open_nursery() as nursery:
            for _ in range(in_flight):
                nursery.start_soon(worker)

    def items(method: str, path: str, requests: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        data: dict[str, Any] = {"method": method, "path": path}
        if method == "POST":
            data["content"] = post_body
        return iter([(data, {})] * requests)

    def client(host: str, port: int, in_flight: int) -> pynector.Pynector:
        # Telemetry stays at its default (on, no SDK configured), as a user would run it.
        return pynector.Pynector(
            transport_type="http", base_url=f"http://{host}:{port}", max_connections=in_flight
        )

    async def batch(host: str, port: int, method: str, path: str, requests: int, in_flight: int) -> None:
        async with client(host, port, in_flight) as c:
            results = await c.batch_request(list(items(method, path, requests)), max_concurrency=in_flight)
        for result in results:
            check(method, path, result.content)

    async def stream(host: str, port: int, method: str, path: str, requests: int, in_flight: int) -> None:
        async with (
            client(host, port, in_flight) as c,
            c.stream_batch(items(method, path, requests), max_concurrency=in_flight) as results,
        ):
            async for _, result in results:
                check(method, path, result.content)

    def wire_request(host: str, port: int, method: str, path: str) -> WireRequest:
        """The request the engine rows send (what the transport would hand the engine)."""
        body = post_body if method == "POST" else b""
        headers: tuple[tuple[str, str], ...] = (("Accept", "*/*"),)
        if body:
            headers += (("Content-Length", str(len(body))),)
        return WireRequest(method, "http", host, port, path, headers, body)

    async def engine(host: str, port: int, method: str, path: str, requests: int, in_flight: int) -> None:
        request = wire_request(host, port, method, path)
        native = NativeEngine(max_connections=in_flight)

        async def one() -> None:
            async with native.send(request) as response:
                check(method, path, b"".join([chunk async for chunk in response.aiter_raw()]))

        try:
            await run_workers(requests, in_flight, one)
        finally:
            await native.aclose()

    async def engine_fetch(
        host: str, port: int, method: str, path: str, requests: int, in_flight: int
    ) -> None:
        # The engine's whole-exchange call (what the transport awaits), without the layers above.
        request = wire_request(host, port, method, path)
        native = NativeEngine(max_connections=in_flight)

        async def one() -> None:
            check(method, path, (await native.fetch(request, None, request)).body)

        try:
            await run_workers(requests, in_flight, one)
        finally:
            await native.aclose()

    async def raw_httpx(host: str, port: int, method: str, path: str, requests: int, in_flight: int) -> None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(limits=limits) as c:
            url = f"http://{host}:{port}{path}"

            async def one() -> None:
                response = await c.request(method, url, content=post_body if method == "POST" else None)
                check(method, path, response.content)

            await run_workers(requests, in_flight, one)

    async def minimal_h11(
        host: str, port: int, method: str, path: str, requests: int, in_flight: int
    ) -> None:
        counter = iter(range(requests))
        body = post_body if method == "POST" else b""

        async def worker() -> None:
            stream = await trio.open_tcp_stream(host, port)
            conn = h11.Connection(h11.CLIENT)
            async with stream:
                for _ in counter:
                    headers = [("Host", host), ("Accept", "*/*")]
                    if body:
                        headers.append(("Content-Length", str(len(body))))
                    data = conn.send(h11.Request(method=method, target=path, headers=headers))
                    if body:
                        data += conn.send(h11.Data(data=body))  # type: ignore[operator]
                    data += conn.send(h11.EndOfMessage())  # type: ignore[operator]
                    await stream.send_all(data)
                    chunks = []
                    while True:
                        event = conn.next_event()
                        if event is h11.NEED_DATA:
                            conn.receive_data(await stream.receive_some(262144))
                        elif type(event) is h11.Data:
                            chunks.append(event.data)
                        elif type(event) is h11.EndOfMessage:
                            break
                    check(method, path, b"".join(chunks))
                    conn.start_next_cycle()

        async with trio.open_nursery() as nursery:
            for _ in range(in_flight):
                nursery.start_soon(worker)

    async def minimal_parser(
        host: str, port: int, method: str, path: str, requests: int, in_flight: int
    ) -> None:
        # The floor for the layers above: pynector's own response parser on one trio socket per
        # worker, a request head built once, no pool, no error mapping, no cancel scopes.
        from pynector.http._parser import END, ResponseParser

        counter = iter(range(requests))
        body = post_body if method == "POST" else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n"
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        data = head.encode("ascii") + b"\r\n" + body
        raw_method = method.encode("ascii")

        async def worker() -> None:
            stream = await trio.open_tcp_stream(host, port)
            sock = stream.socket
            parser = ResponseParser(65536)
            async with stream:
                for _ in counter:
                    parser.start(raw_method)
                    await stream.send_all(data)
                    while parser.next_head() is None:
                        parser.receive_data(await sock.recv(65536))
                    chunks = []
                    while (piece := parser.next_body()) is not END:
                        if piece is None:
                            parser.receive_data(await sock.recv(65536))
                        else:
                            chunks.append(piece)
                    check(method, path, b"".join(chunks))  # type: ignore[arg-type]

        async with trio.open_nursery() as nursery:
            for _ in range(in_flight):
                nursery.start_soon(worker)

    return {
        "pynector http (batch_request)": batch,
        "pynector http (stream_batch)": stream,
        "pynector native engine (direct)": engine,
        "pynector native engine (fetch)": engine_fetch,
        "raw httpx (trio, workers)": raw_httpx,
        "minimal h11 on trio (1 conn/worker)": minimal_h11,
        "minimal trio on pynector's parser": minimal_parser,
    }


def asyncio_rows() -> dict[str, Row]:
    import asyncio

    import aiohttp

    post_body = b"x" * POST_SIZE

    async def run(
        host: str, port: int, method: str, path: str, requests: int, in_flight: int, keep: bool = False
    ) -> None:
        counter = iter(range(requests))
        url = f"http://{host}:{port}{path}"
        connector = aiohttp.TCPConnector(limit=in_flight)
        kept: list[bytes] = []
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for _ in counter:
                    async with session.request(
                        method, url, data=post_body if method == "POST" else None
                    ) as r:
                        body = await r.read()
                        check(method, path, body)
                        if keep:
                            kept.append(body)

            await asyncio.gather(*(worker() for _ in range(in_flight)))

    async def run_keeping(
        host: str, port: int, method: str, path: str, requests: int, in_flight: int
    ) -> None:
        await run(host, port, method, path, requests, in_flight, keep=True)

    # The peer rows drop each body once checked, as a streaming consumer does (the peer of
    # stream_batch); "keeps bodies" holds every body until the end, as batch_request returns them.
    return {PEER: run, "aiohttp (uvloop)": run, KEEPING: run_keeping}


def has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def row_names() -> list[str]:
    names = [
        "pynector http (batch_request)",
        "pynector http (stream_batch)",
        "pynector native engine (direct)",
        "pynector native engine (fetch)",
        "raw httpx (trio, workers)",
        "minimal h11 on trio (1 conn/worker)",
        "minimal trio on pynector's parser",
    ]
    if has("aiohttp"):
        names += [PEER, KEEPING]
        if has("uvloop"):
            names.append("aiohttp (uvloop)")
    return names


# Rows measured on the body workloads too (the others only on small GETs, to keep the run short).
# stream_batch is there because batch_request keeps every result until the batch ends (200 MiB
# for the 1 MiB GETs, on pages the kernel must fault in and zero: about 400 CPU us per 1 MiB
# request) while the aiohttp rows drop each body once checked; stream_batch drops them too.
BODY_ROWS = {
    "pynector http (batch_request)",
    "pynector http (stream_batch)",
    "pynector native engine (direct)",
    "pynector native engine (fetch)",
    PEER,
    KEEPING,
    "aiohttp (uvloop)",
}


def cell(
    name: str, port: int, method: str, path: str, requests: int, in_flight: int, server: list[int]
) -> None:
    """In a fresh child: warm up, collect, run *requests*; print requests/s, CPU us/request, server CPU %.

    The server's share is its CPU time (processes *server*) over the timed part's wall time.
    """
    args = ("127.0.0.1", port, method, path)
    if name.startswith("aiohttp"):
        import asyncio

        runner = asyncio_rows()[name]
        if name == "aiohttp (uvloop)":
            import uvloop

            def go(n: int) -> None:
                uvloop.run(runner(*args, n, in_flight))
        else:

            def go(n: int) -> None:
                asyncio.run(runner(*args, n, in_flight))
    else:
        import trio

        trio_runner = trio_rows()[name]

        def go(n: int) -> None:
            trio.run(trio_runner, *args, n, in_flight)

    go(max(in_flight, min(200, requests // 4)))
    gc.collect()  # every cell starts from a collected heap
    server_started = cpu_seconds(server)
    started, cpu_started = time.perf_counter(), time.process_time()
    go(requests)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    share = 100 * (cpu_seconds(server) - server_started) / wall
    print(f"{requests / wall} {cpu / requests * 1e6} {share}", flush=True)


# --- the parent ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Start the server, run the cells round-robin in child processes, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="small GETs per cell (bodies: fewer)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--server", choices=("auto", "nginx", "canned"), default="auto")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 60 requests, 1 round")
    parser.add_argument(
        "--row", action="append", default=[], help="run only the rows whose name contains this (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = 60, 1
    names = [name for name in row_names() if not args.row or any(part in name for part in args.row)]
    if not names:
        raise SystemExit(f"no row matches {args.row}; rows: {', '.join(row_names())}")
    server = Server(args.server)
    cells = [
        (name, workload)
        for workload in WORKLOADS
        for name in names
        if workload[1:3] == ("GET", "/") or name in BODY_ROWS
    ]
    import platform

    print(
        f"python {sys.version.split()[0]} ({platform.machine()}), {os.cpu_count()} CPUs, loopback, "
        f"server {server.kind} on port {server.port}; {args.rounds} interleaved rounds, each cell in a fresh "
        f"child process; {args.requests} small GETs per cell"
    )
    rps: dict[Any, list[float]] = {key: [] for key in cells}
    cpu: dict[Any, list[float]] = {key: [] for key in cells}
    share: dict[Any, list[float]] = {key: [] for key in cells}
    failed: dict[Any, str] = {}
    try:
        for round_number in range(args.rounds):
            order = list(cells)
            random.Random(round_number).shuffle(order)
            for key in order:
                if key in failed:
                    continue
                name, (_, method, path, in_flight, fraction) = key
                requests = max(in_flight, int(args.requests * fraction))
                gc.collect()
                command = [sys.executable, __file__, "--cell", name, str(server.port), method, path]
                command += [str(requests), str(in_flight), ",".join(map(str, server.pids()))]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    failed[key] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
                    continue
                figures = done.stdout.split()
                rps[key].append(float(figures[0]))
                cpu[key].append(float(figures[1]))
                share[key].append(float(figures[2]))
    finally:
        server.close()
    report(cells, rps, cpu, share, failed, server.kind)


def report(
    cells: list[Any],
    rps: dict[Any, list[float]],
    cpu: dict[Any, list[float]],
    share: dict[Any, list[float]],
    failed: dict[Any, str],
    kind: str,
) -> None:
    print(
        f"\n{'workload':<11} {'fl':>3} {'client':<36} {'median':>9} {'range (min-max)':>17} {'unit':>5}"
        f" {'CPU us/req':>10} {'x aiohttp':>9} {'target / met':>13} {'srv CPU':>7}"
    )
    for label, method, path, in_flight, _ in WORKLOADS:
        workload = (label, method, path, in_flight, _)
        peer = statistics.median(rps[PEER, workload]) if rps.get((PEER, workload)) else None
        keeping = statistics.median(rps[KEEPING, workload]) if rps.get((KEEPING, workload)) else None
        for name, w in cells:
            if w != workload:
                continue
            if (name, w) in failed or not rps[name, w]:
                print(f"{label:<11} {in_flight:>3} {name:<36} failed: {failed.get((name, w), 'no result')}")
                continue
            scale = 1.0 if path == "/" else SIZES.get(path, POST_SIZE) / 1e6
            unit = "req/s" if path == "/" else "MB/s"
            values = [v * scale for v in rps[name, w]]
            median = statistics.median(values)
            ratio = statistics.median(rps[name, w]) / peer if peer else None
            target = TARGETS.get((label, in_flight)) if name.startswith("pynector http") else None
            # (batch_request keeps every body: on the body workloads, read against aiohttp keeping them)
            like_for_like = name == "pynector http (batch_request)" and path != "/" and keeping
            versus = statistics.median(rps[name, w]) / keeping if like_for_like else ratio
            mark = "*" if like_for_like else ""
            met = (
                ""
                if target is None or versus is None
                else f"{target:.1f}x{mark} / {'yes' if versus >= target else 'no'}"
            )
            shown = "" if ratio is None else f"{ratio:.2f}"
            print(
                f"{label:<11} {in_flight:>3} {name:<36} {median:>9.0f}"
                f" {min(values):>8.0f}-{max(values):<8.0f} {unit:>5} {statistics.median(cpu[name, w]):>10.0f}"
                f" {shown:>9} {met:>13} {statistics.median(share[name, w]):>6.0f}%"
            )
    print(
        f"\nserver: {kind}; 'srv CPU' is the server's CPU time over the wall time of the cell's timed part"
        " (median, % of one core): well below 100% means it was not the bottleneck.\n"
        "CPU us/req: the client process's user+sys time per request (median).\n"
        f"*: batch_request keeps every body, so its target is read against {KEEPING!r}."
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    elif sys.argv[1:2] == ["--cell"]:
        name, port, method, path, requests, in_flight, pids = sys.argv[2:9]
        cell(name, int(port), method, path, int(requests), int(in_flight), [int(p) for p in pids.split(",")])
    else:
        main()
