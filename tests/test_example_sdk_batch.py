"""The SDK example runs offline, by itself, and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sdk_batch.py"


def test_sdk_batch_example_runs() -> None:
    """examples/sdk_batch.py finishes on its own and prints the batch, the retry and the stream."""
    pytest.importorskip("openai")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == done.returncode, done.stderr
    assert "'Summarise document number 11' -> 'echo: Summarise document number 11'" in done.stdout
    assert "batch usage: Usage(requests=12, input_tokens=48, output_tokens=60)" in done.stdout
    assert "after a 429: 'echo: please retry me' (0.5s)" in done.stdout
    assert "streamed: echo: stream this sentence" in done.stdout


def test_sdk_batch_example_without_the_sdk_says_what_to_install() -> None:
    """Without the openai package the example explains what to install instead of failing."""
    code = (
        "import runpy, sys; sys.modules['openai'] = None; "
        f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == done.returncode, done.stderr
    assert "pip install 'pynector[openai]'" in done.stdout
