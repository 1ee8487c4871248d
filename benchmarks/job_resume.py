"""Resuming a 10,000,000-item job with 9,000,000 records already written: time and peak memory.

``.venv/bin/python benchmarks/job_resume.py [total] [done]``. Writes a checkpoint of *done* records
(about 60 bytes each, as a small HTTP JSON response makes) into a temporary directory, then, in a fresh
process per case, opens it with ``--resume`` semantics and walks the whole input, skipping the items
already recorded (the requests themselves are not sent: the memory transport answers the last 10%).
Two cases: items known by their position (index) and items with string ids. Reports wall time, CPU
time and the peak resident memory of that process, beside the checkpoint's size.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time, trio, pynector
path, total, with_ids = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "ids"

def items():
    for n in range(total):
        yield (f"item-{n}" if with_ids else None, n)

async def main():
    started = time.perf_counter(); cpu = time.process_time()
    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
        job = pynector.Job(client, items(), checkpoint=path, max_concurrency=64)
        async with job.run() as results:
            opened = time.perf_counter() - started
            async for _ in results:
                pass
    stats = job.statistics()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{opened:.2f} {time.perf_counter() - started:.2f} {time.process_time() - cpu:.2f} {rss:.0f} "
          f"{stats.skipped} {stats.written}")

trio.run(main)
"""


def write_checkpoint(path: Path, done: int, with_ids: bool) -> None:
    with open(path, "wb") as out:
        chunk = []
        for n in range(done):
            head = f'{{"id":"item-{n}","index":{n}' if with_ids else f'{{"index":{n}'
            chunk.append(f'{head},"ok":true,"status":200,"json":{{"i":{n},"ok":true}}}}\n')
            if len(chunk) == 100_000:
                out.write("".join(chunk).encode())
                chunk.clear()
        out.write("".join(chunk).encode())


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    done = int(sys.argv[2]) if len(sys.argv) > 2 else total * 9 // 10
    print(f"{total:,} items, {done:,} already recorded; each case in a fresh process")
    print(f"{'identity':<10} {'file MiB':>9} {'open s':>7} {'total s':>8} {'CPU s':>6} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("index", "ids"):
            path = Path(tmp) / f"{mode}.jsonl"
            write_checkpoint(path, done, mode == "ids")
            size = path.stat().st_size / 2**20
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), str(total), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            opened, wall, cpu, rss, skipped, written = result.stdout.split()
            assert int(skipped) == done, result.stdout
            assert int(written) == total - done, result.stdout
            print(
                f"{mode:<10} {size:>9.0f} {float(opened):>7.2f} {float(wall):>8.2f} {float(cpu):>6.2f} "
                f"{float(rss):>13.0f}"
            )
            path.unlink()


if __name__ == "__main__":
    main()
