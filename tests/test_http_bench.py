"""benchmarks/http_bench.py runs end to end in its smoke mode: canned server, tiny counts, two rows."""

from __future__ import annotations

import importlib.util

import pytest
from helpers.bench import run_benchmark


def test_the_http_benchmark_runs_and_compares_against_aiohttp() -> None:
    """Every workload prints a figure for pynector and for the aiohttp peer, with its ratio and target."""
    if importlib.util.find_spec("aiohttp") is None:
        pytest.skip("aiohttp is the benchmark's peer (install the bench extra)")
    rows = ["--row", "pynector http (batch_request)", "--row", "aiohttp (asyncio)"]
    done = run_benchmark("http_bench", "--quick", "--server", "canned", *rows)
    assert 0 == done.returncode, done.stderr
    assert "server canned" in done.stdout
    assert "failed" not in done.stdout, done.stdout
    printed = [line for line in done.stdout.splitlines() if "pynector http (batch_request)" in line]
    assert 5 == len(printed), done.stdout  # 1 and 64 in flight, 64 KiB, 1 MiB GETs, 1 MiB POSTs
    for row in printed:
        assert " / yes" in row or " / no" in row, row  # the target column is filled in
