"""The HTTP examples run offline and finish by themselves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def test_http_batch_example(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/http_batch.py runs a 50-request batch against its loopback server."""
    spec = importlib.util.spec_from_file_location("http_batch", EXAMPLES / "http_batch.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outcomes = await module.main()
    assert {"HTTP 200": 39, "NotFoundError": 7, "HTTPServerError": 4} == outcomes
    assert "50 requests" in capsys.readouterr().out
