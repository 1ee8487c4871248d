"""The observability example runs offline and finishes by itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "observability.py"


async def test_observability_example(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/observability.py prints the retry and batch span trees and the statistics."""
    spec = importlib.util.spec_from_file_location("observability_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.main()
    out = capsys.readouterr().out
    assert "pynector.retry [INTERNAL] UNSET" in out
    assert "  memory exchange [CLIENT] ERROR" in out
    assert "pynector.batch [INTERNAL] UNSET" in out
    assert "completed=4, failed=1, retried=1" in out
    assert "pynector retry scheduled" in out
