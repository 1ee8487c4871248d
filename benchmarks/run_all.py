"""Run every benchmark, one after the other: ``make bench`` (or ``.venv/bin/python benchmarks/run_all.py``).

Each script prints its own table with ratios against the peers measured in the same run. Total time:
several minutes on a 2-core machine. Pass script names to run a subset: ``run_all.py http_bench``
(or ``make bench-http``: it runs against nginx when it can, and its aiohttp rows need the bench extra).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "batch_bench",
    "http_bench",
    "tcp_bench",
    "telemetry_bench",
    "mock_transport",
    "cassette_bench",
    "sdk_overhead",
    "cli_batch",
    "quota_bench",
]


def main() -> int:
    chosen = sys.argv[1:] or SCRIPTS
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
