"""The native engine example runs offline and finishes by itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import trio

EXAMPLE = Path(__file__).parent.parent / "examples" / "native_engine.py"


async def test_native_engine_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/native_engine.py completes within 10 s and reports pooled connections."""
    spec = importlib.util.spec_from_file_location("native_engine_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with trio.fail_after(10):
        await module.main()
    out = capsys.readouterr().out
    assert "GET with 0 body bytes" in out
    assert "POST with 3000 body bytes" in out
    assert "PoolStatistics(open=0, idle=0, in_use=0, waiters=0)" not in out
    assert "in_use=0, waiters=0" in out
