"""The README's ```python snippets run as written, and the typed ones pass ``mypy --strict``.

Other fences are not run: ```sh, and ```py for excerpts of the programs in examples/, which run in
their own tests. A snippet that fetches ``https://example.org/`` runs against a loopback server
instead (its URL is swapped in), so the suite stays offline. Snippets whose functions are annotated
(``-> None``) are also type-checked, and a misspelled ``Response`` attribute in them must fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
ONLINE_URL = "https://example.org/"
TYPED = [code for code in SNIPPETS if "-> None" in code and "pynector" in code]


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def loopback_url() -> Iterator[str]:
    """A loopback HTTP server (in a thread: the snippets run in their own process) answering 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(code: str, loopback_url: str) -> None:
    """Each snippet runs to completion in a fresh interpreter, offline."""
    result = subprocess.run(
        [sys.executable, "-c", code.replace(ONLINE_URL, loopback_url)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if ONLINE_URL in code:
        assert "200" == result.stdout.strip()


def test_readme_has_a_typed_http_quick_start() -> None:
    """README has a typed snippet that GETs a URL with a verb."""
    assert any("client.get(" in code for code in TYPED)


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    # Snippets that import a helper from examples/ (run from the repository root) find it there.
    examples = str(README.parent / "examples")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", str(path)],
        env={**os.environ, "MYPYPATH": examples},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("code", TYPED, ids=[f"typed{i}" for i in range(len(TYPED))])
def test_typed_snippet_passes_mypy_strict(code: str, tmp_path: Path) -> None:
    """An annotated snippet passes mypy --strict; with a misspelled Response attribute it fails."""
    good = tmp_path / "snippet.py"
    good.write_text(code)
    result = _mypy(good)
    assert 0 == result.returncode, result.stdout
    if ".status_code" in code:
        bad = tmp_path / "misspelled.py"
        bad.write_text(code.replace(".status_code", ".status_cod"))
        result = _mypy(bad)
        assert 1 == result.returncode, result.stdout
        assert 'has no attribute "status_cod"' in result.stdout
