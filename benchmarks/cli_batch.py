"""The `pynector batch` command: throughput and peak memory against a naive peer, same run.

Runs over N generated request lines (default 100,000) against the in-process memory target
(`--memory-target`, hidden: it answers 200 at once), so what is measured is the command itself:
reading and validating lines, the streaming batch engine, building and writing records.

- `pynector batch -i FILE`: a regular file, read directly (the engine's lock-free sync path);
- `pynector batch < pipe`: the same lines through a pipe, read in a worker thread (async path);
- naive peer: read every line, build the list of requests, `batch_request`, then write every record
  (what a first script usually does).

Each run is a separate process; peak memory is that process's `ru_maxrss` (from `os.wait4`).
Usage: `.venv/bin/python benchmarks/cli_batch.py [LINES]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NAIVE = r"""
import json, sys, trio, pynector

class Response:
    status_code = 200
    content = b'{"ok":true}'

async def main():
    requests = []
    with open(sys.argv[1], "rb") as f:
        for line in f:
            if line.strip():
                requests.append((json.loads(line), {}))
    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: Response()) as client:
        results = await client.batch_request(requests)
    with open(os.devnull, "w") as out:
        for index, (request, result) in enumerate(zip(requests, results)):
            record = {"id": request[0].get("id"), "index": index, "ok": True, "status": result.status_code,
                      "json": json.loads(result.content)}
            out.write(json.dumps(record) + "\n")

import os
trio.run(main)
"""


def write_input(path: Path, lines: int) -> None:
    with path.open("w") as f:
        for n in range(lines):
            f.write(f'{{"id": {n}, "method": "POST", "url": "/items/{n}", "json": {{"n": {n}}}}}\n')


def measure(args: list[str], stdin_path: Path | None = None) -> tuple[float, float]:
    """Run *args*; return (seconds, peak RSS in MiB). With *stdin_path*, feed it through a pipe."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin_path else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    feeder = None
    if stdin_path is not None:
        assert proc.stdin is not None
        pipe = proc.stdin

        def feed() -> None:
            with stdin_path.open("rb") as source, pipe:
                while block := source.read(1 << 16):
                    pipe.write(block)

        feeder = threading.Thread(target=feed)
        feeder.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if feeder is not None:
        feeder.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    command = [sys.executable, "-m", "pynector", "batch", "--memory-target", "-q", "-o", os.devnull]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requests.jsonl"
        small = Path(tmp) / "small.jsonl"
        write_input(source, lines)
        write_input(small, lines // 10)
        rows = [
            ("pynector batch -i FILE", *measure([*command, "-i", str(source)])),
            ("pynector batch < pipe", *measure(command, stdin_path=source)),
            ("naive: list, batch_request, write", *measure([sys.executable, "-c", NAIVE, str(source)])),
        ]
        _, small_peak = measure([*command, "-i", str(small)])
    print(f"{lines:,} request lines through the memory target (one process per row)\n")
    print(f"{'':36} {'lines/s':>10} {'peak RSS':>10}")
    for name, seconds, peak in rows:
        print(f"{name:36} {lines / seconds:>10,.0f} {peak:>7.1f} MiB")
    file_peak, naive_peak = rows[0][2], rows[2][2]
    print(
        f"\npeak memory, naive / streaming: {naive_peak / file_peak:.1f}x; "
        f"streaming peak with {lines // 10:,} lines: {small_peak:.1f} MiB "
        f"(growth for 10x the lines: {file_peak - small_peak:+.1f} MiB)"
    )
    print(f"throughput, file / pipe: {rows[1][1] / rows[0][1]:.1f}x")


if __name__ == "__main__":
    main()
