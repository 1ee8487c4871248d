"""`pynector batch --cassette`: a batch run recorded against a loopback server, replayed without it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import trio
from helpers.bench import run_benchmark

from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

SECRET = "SENTINEL-cli-token-5e0b"


async def pynector_batch(*args: str, stdin: bytes) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``pynector batch *args`` in a subprocess: exit code, result records, stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNECTOR_")}
    with trio.fail_after(90):
        done = await trio.run_process(
            [sys.executable, "-m", "pynector", "batch", "--quiet", *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, records, done.stderr.decode("utf-8", "replace")


async def items(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """200 with the item's number, 404 for item 3."""
    number = request.path.rsplit("/", 1)[-1]
    if number == "3":
        return HTTPResponse.json({"error": "gone"}, status=404)
    return HTTPResponse.json({"item": int(number)})


def comparable(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The records' index, status, body and error, in input order (timings left out)."""
    return sorted((r["index"], r.get("status"), r.get("body"), r.get("error")) for r in records)


async def test_batch_records_a_cassette_and_replays_it_without_the_server(tmp_path: Path) -> None:
    """--cassette records every exchange (the token redacted); a later run replays the same results."""
    cassette = tmp_path / "batch.jsonl"
    stdin = b"".join(json.dumps({"url": f"/items/{n}"}).encode() + b"\n" for n in range(1, 6))
    async with open_http_server(items) as server:
        url = server.url
        options = ["--base-url", url, "-H", f"Authorization: Bearer {SECRET}", "--cassette", str(cassette)]
        code, recorded, err = await pynector_batch(*options, "--concurrency", "3", stdin=stdin)
    assert 0 == code, err
    assert 5 == len(cassette.read_text().splitlines()) - 1
    assert SECRET not in cassette.read_text()

    code, replayed, err = await pynector_batch(
        *options, "--record-mode", "none", "--concurrency", "5", stdin=stdin
    )
    assert 0 == code, err
    assert comparable(recorded) == comparable(replayed)
    assert [200, 200, 404, 200, 200] == [status for _, status, _, _ in comparable(replayed)]


async def test_batch_replay_of_an_unknown_request_is_a_failed_record(tmp_path: Path) -> None:
    """With --record-mode none, a request the cassette lacks fails (its record says why); the rest replay."""
    cassette = tmp_path / "batch.jsonl"
    async with open_http_server(items) as server:
        url = server.url
        code, _, err = await pynector_batch(
            "--base-url", url, "--cassette", str(cassette), stdin=b'{"url": "/items/1"}\n'
        )
    assert 0 == code, err
    code, records, err = await pynector_batch(
        "--base-url",
        url,
        "--cassette",
        str(cassette),
        "--record-mode",
        "none",
        stdin=b'{"url": "/items/1"}\n{"url": "/items/9"}\n',
    )
    assert 1 == code
    by_index = {r["index"]: r for r in records}
    assert 200 == by_index[0]["status"]
    assert "no recorded exchange of cassette" in by_index[1]["error"]["message"]


def test_the_replay_benchmark_runs() -> None:
    """benchmarks/cassette_bench.py runs (tiny sizes) and prints its overhead rows."""
    done = run_benchmark("cassette_bench", "--requests", "50", "--rounds", "1")
    assert 0 == done.returncode, done.stderr
    assert "replay overhead per exchange" in done.stdout
    assert "HTTP, order=any" in done.stdout
