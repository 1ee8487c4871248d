"""The README's HTTP snippet runs as written (offline, against the loopback server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_http_snippet_runs() -> None:
    """The first python block of the README's HTTP section runs and prints its results."""
    section = README.read_text(encoding="utf-8").split("\n## HTTP\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == result.returncode, result.stderr
    assert "20 of 20" in result.stdout
