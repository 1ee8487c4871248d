"""One mechanism for the code blocks of README.md and of the manual (docs/**/*.md).

Every ```python block runs as written in a fresh interpreter, offline: a block that fetches
``https://example.org/`` runs against a loopback server instead (its URL is swapped in). Blocks whose
functions are annotated (``-> None``) and use pynector are also type-checked with ``mypy --strict``.
Other fences (```sh, ```py for excerpts of the programs in examples/, which run in their own tests)
are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ONLINE_URL = "https://example.org/"


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


def is_typed(code: str) -> bool:
    """Whether a block is one the suite also type-checks (annotated, and using pynector)."""
    return "-> None" in code and "pynector" in code


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass


@contextmanager
def loopback_server() -> Iterator[str]:
    """A loopback HTTP server (in a thread: the blocks run in their own process) answering 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_block(code: str, loopback_url: str) -> None:
    """Run one block in a fresh interpreter from the repository root; fail with its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", code.replace(ONLINE_URL, loopback_url)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    if ONLINE_URL in code:
        assert "200" == result.stdout.strip()


def mypy_strict(path: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on one file; blocks that import a helper from examples/ find it there."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", str(path)],
        env={**os.environ, "MYPYPATH": str(ROOT / "examples")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def check_typed_block(code: str, tmp_path: Path) -> None:
    """An annotated block passes mypy --strict; with a misspelled Response attribute it fails."""
    good = tmp_path / "snippet.py"
    good.write_text(code)
    result = mypy_strict(good)
    assert 0 == result.returncode, result.stdout
    if ".status_code" in code:
        bad = tmp_path / "misspelled.py"
        bad.write_text(code.replace(".status_code", ".status_cod"))
        result = mypy_strict(bad)
        assert 1 == result.returncode, result.stdout
        assert 'has no attribute "status_cod"' in result.stdout
