"""Every example runs, offline, and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLES,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart() -> None:
    """The quick start completes its batch and its retried request."""
    out = run_example("quickstart.py")
    assert "2000 requests in" in out
    assert "ok:" in out
    assert "12 squared is 144" in out


@pytest.mark.parametrize("name", ["demo.py"])
def test_demo(name: str) -> None:
    """`make demo`'s script runs to completion."""
    assert "requests in" in run_example(name)
