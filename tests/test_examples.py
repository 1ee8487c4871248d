"""Every example in examples/ runs offline, finishes by itself, and shows what it promises.

In-process examples are imported and their ``main()`` run under pytest-trio (with the autojump clock
where they wait on trio's clock); the others run as a user would, in a subprocess.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.testing

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *, code: str | None = None) -> str:
    """Run examples/<name>.py (or *code*) in a fresh interpreter; return its stdout."""
    argv = [sys.executable, "-c", code] if code else [sys.executable, str(EXAMPLES / f"{name}.py")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=EXAMPLES, check=False)
    assert 0 == result.returncode, result.stderr
    return result.stdout


def test_quickstart() -> None:
    """The quick start completes its batch and its retried request."""
    out = run_example("quickstart")
    assert "2000 requests in" in out
    assert "ok:" in out
    assert "12 squared is 144" in out


def test_demo() -> None:
    """`make demo`'s script runs to completion."""
    assert "requests in" in run_example("demo")


async def test_large_batches(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/large_batches.py reports its four scenarios."""
    with trio.fail_after(60):
        await load_example("large_batches").main()
    out = capsys.readouterr().out
    assert "item 13 failed" in out
    assert "40 ordered results in 0.10s" in out
    assert "'ConnectError', 'BatchCancelledError'" in out
    assert "retries_allowed=4, retries_refused=20" in out


async def test_native_engine(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/native_engine.py completes within 10 s and reports pooled connections."""
    with trio.fail_after(10):
        await load_example("native_engine").main()
    out = capsys.readouterr().out
    assert "GET with 0 body bytes" in out
    assert "POST with 3000 body bytes" in out
    assert "PoolStatistics(open=0, idle=0, in_use=0, waiters=0)" not in out
    assert "in_use=0, waiters=0" in out


async def test_observability(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/observability.py prints the retry and batch span trees and the statistics."""
    await load_example("observability").main()
    out = capsys.readouterr().out
    assert "pynector.retry [INTERNAL] UNSET" in out
    assert "  memory exchange [CLIENT] ERROR" in out
    assert "pynector.batch [INTERNAL] UNSET" in out
    assert "completed=4, failed=1, retried=1" in out
    assert "pynector retry scheduled" in out


def test_sdk_batch() -> None:
    """examples/sdk_batch.py prints the batch, the retry after a 429 and the stream."""
    pytest.importorskip("openai")
    out = run_example("sdk_batch")
    assert "'Summarise document number 11' -> 'echo: Summarise document number 11'" in out
    assert "batch usage: Usage(requests=12, input_tokens=48, output_tokens=60)" in out
    assert "after a 429: 'echo: please retry me' (0.5s)" in out
    assert "streamed: echo: stream this sentence" in out


def test_sdk_batch_without_the_sdk_says_what_to_install() -> None:
    """Without the openai package the example explains what to install instead of failing."""
    path = EXAMPLES / "sdk_batch.py"
    code = (
        f"import runpy, sys; sys.modules['openai'] = None; runpy.run_path({str(path)!r}, run_name='__main__')"
    )
    assert "pip install 'pynector-trio[openai]'" in run_example("sdk_batch", code=code)


async def test_jsonl_service(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/jsonl_service.py: the JSON-lines service answers its client over TCP."""
    with trio.fail_after(30):
        await load_example("jsonl_service").main()
    out = capsys.readouterr().out
    assert "1 + 2 = 3" in out
    assert "batch of 100: first [0, 2, 4], last 198" in out
    assert "refused before sending" in out


def test_app_suite_passes(pytester: pytest.Pytester) -> None:
    """pytest on examples/app/test_app.py (a trio_mode project, using the plugin) passes every test."""
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    for name in ("weather.py", "test_app.py"):
        pytester.path.joinpath(name).write_text((EXAMPLES / "app" / name).read_text())
    result = pytester.runpytest("-p", "no:cacheprovider", "test_app.py")
    result.assert_outcomes(passed=6)


def test_event_streams() -> None:
    """examples/event_streams.py resumes its subscription across drops and batches twelve feeds."""
    out = run_example("event_streams")
    assert "event 7: ACME 107" in out
    assert "3 connections, resume from id 7" in out
    assert 12 == out.count(": 101 102 103 104 105\n")


def test_line_protocols() -> None:
    """examples/line_protocols.py gets whole RESP replies: binary values, nulls, arrays, errors."""
    out = run_example("line_protocols")
    assert "b'hello\\r\\nworld'\n[b'hello\\r\\nworld', None]\n100\n" in out
    assert "RespError ERR unknown command 'FLY'" in out


@pytest.mark.slow
def test_ray_job() -> None:
    """The Ray example runs 1,000 requests on two actors, one row each (needs the ray extra)."""
    pytest.importorskip("ray", reason="the ray extra is not installed (make test-ray installs it)")
    assert "1000 rows, 1000 ok, ids 0..999" in run_example("ray_job")
