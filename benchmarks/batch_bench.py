"""Batch scheduling overhead: pynector's streaming batch and batch_request against aiometer and asyncio.

Run: ``.venv/bin/python benchmarks/batch_bench.py [--items N] [--repeat R]``

This is also the core issue's benchmark (a 100,000-item batch vs aiometer and vs one trio task per
item guarded by a ``CapacityLimiter``). Every contestant runs the same no-op work with at most 64 items
in flight, each in its own subprocess
(so peak memory is its own): the trio contestants send each item through one pynector client on the
in-process memory transport (one trio yield per exchange), so they differ only in how items are
scheduled; asyncio, which cannot drive a trio client, awaits ``asyncio.sleep(0)`` per item (the same
one yield). Items/s is the best of R runs, by wall clock and by the process's CPU time (the CPU
figure is the one to compare on a shared, loaded machine: another process's load does not count
against it; all contestants are single-threaded). "Peak RSS" is the growth of the child's resident set
above its size just before the first run. Inputs that a contestant needs as a list
(``batch_request``, ``aiometer.run_all``, ``asyncio.gather``) are built before that baseline, so the
memory column shows what the scheduler itself holds; the stream reads a generator. Target: pynector's
streaming batch at >= 5x aiometer's items/s.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CONCURRENCY = 64
NO_OPTIONS: dict[str, Any] = {}


def rss_kib() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- contestants (each returns a coroutine function that processes n items and returns a count) -----


def trio_contestant(name: str, n: int) -> Callable[[], Awaitable[int]]:
    import aiometer
    import trio

    import pynector

    # One client for all runs, connected lazily on first use (the memory transport needs no close).
    client = pynector.Pynector(transport_type="memory", handler=lambda data, **options: data)
    pairs = [(i, NO_OPTIONS) for i in range(n)] if name == "pynector batch_request" else []
    calls = [functools.partial(client.request, i) for i in range(n)] if name == "aiometer run_all" else []

    async def run() -> int:
        if name == "pynector stream_batch":
            count = 0
            source = ((i, NO_OPTIONS) for i in range(n))
            async with client.stream_batch(source, max_concurrency=CONCURRENCY) as results:
                async for _ in results:
                    count += 1
            return count
        if name == "pynector batch_request":
            return len(await client.batch_request(pairs, max_concurrency=CONCURRENCY))
        if name == "aiometer amap":
            count = 0
            async with aiometer.amap(client.request, range(n), max_at_once=CONCURRENCY) as results:
                async for _ in results:
                    count += 1
            return count
        if name == "aiometer run_all":
            return len(await aiometer.run_all(calls, max_at_once=CONCURRENCY))
        # The naive pattern: one trio task per item, a CapacityLimiter as the bound.
        limiter = trio.CapacityLimiter(CONCURRENCY)
        done = 0

        async def one(i: int) -> None:
            nonlocal done
            async with limiter:
                await client.request(i)
            done += 1

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
        return done

    return run


async def asyncio_gather(n: int) -> int:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> int:
        async with semaphore:
            await asyncio.sleep(0)
            return i

    return len(await asyncio.gather(*(one(i) for i in range(n))))


CONTESTANTS = [
    "pynector stream_batch",
    "pynector batch_request",
    "aiometer amap",
    "aiometer run_all",
    "trio task per item+limiter",
    "asyncio gather+semaphore",
]


def child(name: str, n: int, repeat: int) -> dict[str, Any]:
    """Run one contestant *repeat* times in this process; report best items/s and peak RSS growth."""
    import trio

    if name == "asyncio gather+semaphore":

        def runner() -> int:
            return asyncio.run(asyncio_gather(n))

    else:
        run = trio_contestant(name, n)

        def runner() -> int:
            return trio.run(run)

    baseline = rss_kib()
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        done = runner()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        assert n == done, (name, done)
    return {
        "name": name,
        "wall": n / best_wall,
        "cpu": n / best_cpu,
        "peak_rss_mib": max(0, peak_rss_kib() - baseline) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.items, args.repeat)))
        return
    print(f"{args.items:,} no-op items, {CONCURRENCY} in flight, best of {args.repeat}, one subprocess each")
    rows = []
    for name in CONTESTANTS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--items",
                str(args.items),
                "--repeat",
                str(args.repeat),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        rows.append(json.loads(out))
    by_name = {row["name"]: row for row in rows}
    best_aiometer = {
        clock: max(by_name["aiometer amap"][clock], by_name["aiometer run_all"][clock])
        for clock in ("wall", "cpu")
    }
    header = ("contestant", "items/s wall", "items/s CPU", "CPU vs aiometer", "peak RSS MiB")
    print(f"{header[0]:<26}{header[1]:>14}{header[2]:>13}{header[3]:>17}{header[4]:>14}")
    for row in rows:
        ratio = row["cpu"] / best_aiometer["cpu"]
        print(
            f"{row['name']:<26}{row['wall']:>14,.0f}{row['cpu']:>13,.0f}{ratio:>16.1f}x{row['peak_rss_mib']:>14.1f}"
        )
    for clock in ("cpu", "wall"):
        ratio = by_name["pynector stream_batch"][clock] / best_aiometer[clock]
        verdict = "met" if ratio >= 5 else "MISSED"
        print(f"target stream_batch >= 5x the faster aiometer ({clock}): {ratio:.1f}x ({verdict})")


if __name__ == "__main__":
    main()
