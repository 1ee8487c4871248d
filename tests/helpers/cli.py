"""Helpers for the tests of the `pynector` command: run it in a subprocess, and a loopback target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from pynector.testing import HTTPRequest, HTTPResponse, HTTPServer, ServerConnection

PYNECTOR = [sys.executable, "-m", "pynector"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNECTOR_")}
    env["COLUMNS"] = "100"
    return env


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as strict JSON in UTF-8 (fails if stdout holds anything else)."""
        assert self.stdout == b"" or self.stdout.endswith(b"\n")
        return [strict_json(line) for line in self.stdout.splitlines()]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def strict_json(line: bytes) -> Any:
    return json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)


async def run_cli(*args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Run:
    with trio.fail_after(90):
        result = await trio.run_process(
            [*PYNECTOR, *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env or _env(),
        )
    return Run(result.returncode, result.stdout, result.stderr.decode("utf-8", "replace"))


async def open_cli(*args: str, stdin: int = subprocess.DEVNULL) -> trio.Process:
    """Start ``pynector *args`` with stdout and stderr piped (and stdin, if asked) to talk to it."""
    proc = await trio.lowlevel.open_process(
        [*PYNECTOR, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    return proc


def jsonl(*lines: dict[str, Any] | str) -> bytes:
    return b"".join((line if isinstance(line, str) else json.dumps(line)).encode() + b"\n" for line in lines)


@dataclass
class Target:
    server: HTTPServer
    hits: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak: int = 0
    arrivals: list[float] = field(default_factory=list)
    slow_requests: int = 0
    four_slow: trio.Event = field(default_factory=trio.Event)

    @property
    def url(self) -> str:
        return self.server.url

    async def handle(self, request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        self.arrivals.append(trio.current_time())
        self.hits[request.path] += 1
        parts = request.path.strip("/").split("/")
        if parts[0] == "echo":
            return HTTPResponse.json(
                {
                    "method": request.method,
                    "path": request.path,
                    "headers": {n: v for n, v in request.headers if n.startswith("x-")},
                    "body": request.body.decode(),
                }
            )
        if parts[0] == "status":
            retry_after = [("Retry-After", "0")] if parts[1] in {"429", "503"} else []
            return HTTPResponse.json({"status": int(parts[1])}, status=int(parts[1]), headers=retry_after)
        if parts[0] == "flaky":  # /flaky/<key>/<failures>/<status>
            if self.hits[request.path] <= int(parts[2]):
                return HTTPResponse.json({}, status=int(parts[3]), headers=[("Retry-After", "0")])
            return HTTPResponse.json({"attempt": self.hits[request.path]})
        if parts[0] == "delay":
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await trio.sleep(int(parts[1]) / 1000)
            finally:
                self.in_flight -= 1
            return HTTPResponse.json({"delay": int(parts[1])})
        if parts[0] == "slow":
            self.slow_requests += 1
            if self.slow_requests >= 4:
                self.four_slow.set()
            await conn.wait_client_close()
            return None
        if parts[0] == "nan":
            return HTTPResponse(200, [("Content-Type", "application/json")], '{"x": NaN}')
        if parts[0] == "text":
            return HTTPResponse(200, [("Content-Type", "text/plain; charset=utf-8")], "hello, world")
        return HTTPResponse.json({"error": "unknown route"}, status=404)
