"""What replaying a cassette costs per exchange, against a memory-transport request.

A memory-transport request through the client (one handler call per exchange) is the floor every
pynector request pays. Replaying from a cassette adds, per exchange: encoding the request the way it
was recorded (for HTTP, the wire request the transport would send: absolute URL, headers, body),
redacting it, matching it (the next exchange in ``order="sequence"``, an index lookup in
``order="any"``) and rebuilding the recorded response (an HTTP ``Response`` with its headers and
body). The target: that added cost stays below one memory-transport request, so a replayed suite
runs at in-memory speed. Reading the file (one JSON line per exchange) is paid once per cassette and
is shown on its own row.

Rounds are interleaved (every candidate once per round, in turn) so that machine noise hits them
alike; each cell is the median over the rounds, with the range, of wall and CPU time per request.
Replay uses ``latency=0`` (recorded durations would be slept on trio's clock; under
``autojump_clock`` that sleep costs one timer). The "replay overhead" row is replay minus the floor.

Run: ``.venv/bin/python benchmarks/cassette_bench.py [--requests N] [--rounds R]`` (about 15 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import pynector
from pynector.http import HTTPTransport, HttpxEngine
from pynector.testing import Cassette
from pynector.transport import MemoryTransport

URL = "http://127.0.0.1:9"  # never contacted: every answer comes from the cassette
REQUEST = {"method": "GET", "url": "/v1/items/7"}


def handler(data: Any, **options: Any) -> str:
    """The memory transport's answer."""
    return "ok"


def http_cassette(path: Path, count: int) -> Path:
    """A cassette of *count* recorded GETs answered with a small JSON document."""
    url = f"{URL}/v1/items/7"
    line = {
        "id": 0,
        "transport": "http",
        "op": "exchange",
        "start": 0.0,
        "duration": 0.0012,
        "request": {
            "method": "GET",
            "url": url,
            "headers": [["User-Agent", "pynector"], ["Accept-Encoding", "gzip, deflate"]],
            "body": {"text": ""},
        },
        "response": {
            "status": 200,
            "reason": "OK",
            "http_version": "HTTP/1.1",
            "url": url,
            "headers": [["content-type", "application/json"], ["content-length", "9"]],
            "body": {"text": '{"id": 7}'},
        },
    }
    lines = [json.dumps({"pynector_cassette": 1})]
    for number in range(1, count + 1):
        lines.append(json.dumps({**line, "id": number}))
    path.write_text("\n".join(lines) + "\n")
    return path


def call_cassette(path: Path, count: int) -> Path:
    """A cassette of *count* recorded exchanges of a non-HTTP transport (a dict request, text reply)."""
    line = {"transport": "call", "op": "exchange", "start": 0.0, "duration": 0.0012}
    line |= {"request": {"body": REQUEST}, "response": {"value": "ok"}}
    lines = [json.dumps({"pynector_cassette": 1})]
    lines += [json.dumps({"id": n, **line}) for n in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_requests(make_transport: Callable[[], Any], count: int) -> tuple[float, float]:
    """Wall and CPU seconds for *count* sequential requests through a fresh client (the transport,
    and so the cassette file's loading, is made before the clock starts: see ``load_cost``)."""
    transport = make_transport()

    async def main() -> None:
        async with pynector.Pynector(transport=transport) as client:
            for _ in range(count):
                await client.request(REQUEST)

    wall, cpu = time.perf_counter(), time.process_time()
    trio.run(main)
    return time.perf_counter() - wall, time.process_time() - cpu


def load_cost(path: Path, count: int) -> tuple[float, float]:
    """Wall and CPU seconds to read a cassette file of *count* exchanges."""
    wall, cpu = time.perf_counter(), time.process_time()
    Cassette(path, record_mode="none")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Print per-request medians (and ranges) for each candidate, and the replay overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    count = args.requests
    with tempfile.TemporaryDirectory() as directory:
        http_path = http_cassette(Path(directory) / "http.jsonl", count)
        call_path = call_cassette(Path(directory) / "call.jsonl", count)

        def replay(path: Path, inner: Callable[[], Any], **options: Any) -> Callable[[], Any]:
            def make() -> Any:
                return Cassette(path, record_mode="none", latency=0, **options).wrap(inner())

            return make

        def http() -> HTTPTransport:
            return HTTPTransport(HttpxEngine(), base_url=URL)

        candidates: list[tuple[str, Callable[[], Any]]] = [
            ("memory transport request (floor)", lambda: MemoryTransport(handler)),
            ("replay, HTTP, order=sequence", replay(http_path, http)),
            ("replay, HTTP, order=any", replay(http_path, http, order="any")),
            ("replay, call transport", replay(call_path, lambda: MemoryTransport(handler))),
        ]
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in candidates}
        loading = "reading the file, per exchange"
        samples[loading] = []
        for _ in range(args.rounds):
            for name, make in candidates:
                wall, cpu = run_requests(make, count)
                samples[name].append((wall / count * 1e6, cpu / count * 1e6))
            wall, cpu = load_cost(http_path, count)
            samples[loading].append((wall / count * 1e6, cpu / count * 1e6))

    print(f"{count} sequential requests per run, {args.rounds} interleaved rounds; us per request")
    print(f"  {'':36s} {'wall median':>11s} {'(range)':>15s} {'cpu median':>10s}")
    floor_name = candidates[0][0]
    floor_wall = statistics.median(w for w, _ in samples[floor_name])
    floor_cpu = statistics.median(c for _, c in samples[floor_name])
    for name in samples:
        walls = [w for w, _ in samples[name]]
        cpus = [c for _, c in samples[name]]
        median = statistics.median(walls)
        spread = f"({min(walls):.1f}-{max(walls):.1f})"
        print(f"  {name:36s} {median:11.1f} {spread:>15s} {statistics.median(cpus):10.1f}")
    print("replay overhead per exchange (replay minus the floor), against the floor itself:")
    for name, _ in candidates[1:]:
        wall = statistics.median(w for w, _ in samples[name]) - floor_wall
        cpu = statistics.median(c for _, c in samples[name]) - floor_cpu
        label = name.removeprefix("replay, ")
        print(
            f"  {label:22s} wall {wall:5.1f} us (x{wall / floor_wall:.2f} of the floor), "
            f"cpu {cpu:5.1f} us (x{cpu / floor_cpu:.2f})"
        )


if __name__ == "__main__":
    main()
