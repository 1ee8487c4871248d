"""Core batch benchmark: a 100,000-item batch through the memory transport.

Contestants, each in its own subprocess (so peak memory is theirs alone), doing the same work: one
``client.request(i)`` per item through the ``"memory"`` transport with a no-op handler, 64 in flight:

- pynector ``batch_request`` (a pool of 64 workers pulling from one iterator);
- aiometer ``run_all`` on trio (the popular library for this job);
- one trio task per item guarded by a ``trio.CapacityLimiter(64)`` (the naive pattern).

Prints items/s, peak RSS above the interpreter's baseline, and ratios against pynector.
Run: ``.venv/bin/python benchmarks/core_batch.py [items]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CONCURRENCY = 64

CONTESTANT = textwrap.dedent(
    """
    import functools, json, resource, sys, time
    import trio, pynector

    which, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if which == "aiometer":
        import aiometer  # imported before the baseline: its import cost is not the batch's

    def rss_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def main():
        async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
            requests = [(i, {}) for i in range(n)]
            base = rss_kib()
            start = time.perf_counter()
            if which == "pynector":
                results = await client.batch_request(requests, max_concurrency=concurrency)
            elif which == "aiometer":
                results = await aiometer.run_all(
                    [functools.partial(client.request, data) for data, _ in requests],
                    max_at_once=concurrency,
                )
            else:
                results = [None] * n
                limiter = trio.CapacityLimiter(concurrency)

                async def one(i, data):
                    async with limiter:
                        results[i] = await client.request(data)

                async with trio.open_nursery() as nursery:
                    for i, (data, _) in enumerate(requests):
                        nursery.start_soon(one, i, data)
            elapsed = time.perf_counter() - start
            assert results == list(range(n)), "wrong results"
            print(json.dumps({"seconds": elapsed, "rss_kib": rss_kib() - base}))

    trio.run(main)
    """
)


def run(which: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CONTESTANT, which, str(n), str(CONCURRENCY)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    names = {
        "pynector": "pynector batch_request",
        "aiometer": "aiometer.run_all on trio",
        "tasks": "task per item + CapacityLimiter",
    }
    rows = {}
    for which in names:
        best = min((run(which, n) for _ in range(3)), key=lambda r: r["seconds"])
        rows[which] = best
    ours = rows["pynector"]
    print(f"{n:,} items through the memory transport, {CONCURRENCY} in flight (best of 3)")
    print(f"{'contestant':34} {'items/s':>10} {'peak MiB':>9} {'pynector speed-up':>18}")
    for which, label in names.items():
        r = rows[which]
        rate = n / r["seconds"]
        print(f"{label:34} {rate:10,.0f} {r['rss_kib'] / 1024:9.1f} {r['seconds'] / ours['seconds']:17.1f}x")


if __name__ == "__main__":
    main()
