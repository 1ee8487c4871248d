"""Child processes for the tests that need real ones: a loopback server in its own process, and a
client killed with SIGKILL at a random moment (the kill-and-resume tests of jobs and of the command).

The kill tests use :func:`logging_server`, which logs the ``i`` query parameter of every request, one
flushed line each: the log outlives the killed client, so a test can tell which items were requested
after their record was written.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Set to 1 to turn "server binary missing" skips into failures.
REQUIRE_ENV = "PYNECTOR_REQUIRE_INTEROP"
# Binaries often live in sbin, which is not on an unprivileged user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def find_binary(name: str, package: str) -> str:
    """The path of *name*, or skip (fail under ``PYNECTOR_REQUIRE_INTEROP=1``) when it is absent."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is not None:
        return path
    reason = (
        f"{name} is not installed (Debian package {package}); "
        "`make test-interop` installs it when run as root"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)


_LOGGING_SERVER = """
import sys, trio
from pynector.testing import HTTPResponse, serve_http
log = open(sys.argv[1], "a", buffering=1)
def handler(request, conn):
    log.write(request.query["i"] + "\\n")
    return HTTPResponse.json({"i": int(request.query["i"])})
async def main():
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, handler)
        print(server.port, flush=True)
trio.run(main)
"""


@contextmanager
def served_script(script: str, *args: str) -> Iterator[str]:
    """Run *script* (a server that prints its loopback port first) in a child Python for the block;
    yields its base URL and kills it at the end."""
    server = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{server.stdout.readline().strip()}"
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


@contextmanager
def logging_server(log: Path) -> Iterator[str]:
    """The logging server (module docstring), appending to *log*; yields its base URL."""
    with served_script(_LOGGING_SERVER, str(log)) as base:
        yield base


def run_then_kill(
    command: Sequence[str],
    rng: random.Random,
    within: tuple[float, float],
    env: Mapping[str, str] | None = None,
) -> bool:
    """Run *command*, sending SIGKILL at a random moment in *within* seconds unless it ended before;
    whether it was killed. Real time: the kill must land at an arbitrary moment of a real run."""
    job = subprocess.Popen(command, env=env)
    try:
        job.wait(timeout=rng.uniform(*within))
    except subprocess.TimeoutExpired:
        job.send_signal(signal.SIGKILL)
        job.wait()
        return True
    return False
