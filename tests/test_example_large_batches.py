"""The large-batches example runs offline and finishes by itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import trio.testing

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "large_batches.py"


async def test_large_batches_example(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/large_batches.py completes and reports its four scenarios."""
    spec = importlib.util.spec_from_file_location("example_large_batches", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with trio.fail_after(60):
        await module.main()
    out = capsys.readouterr().out
    assert "item 13 failed" in out
    assert "40 ordered results in 0.10s" in out
    assert "'ConnectError', 'BatchCancelledError'" in out
    assert "retries_allowed=4, retries_refused=20" in out
