"""A loopback HTTP server in a child process that logs the ``i`` query parameter of every request,
one flushed line each, for the kill-and-resume tests of jobs and of the command: the log outlives the
killed client, so a test can tell which items were requested after their record was written."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SERVER_SCRIPT = """
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
def logging_server(log: Path) -> Iterator[str]:
    """Run the server, appending to *log*, for the block; yields its base URL, kills it at the end."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT, str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{server.stdout.readline().strip()}"
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
