"""`pynector batch -o FILE` when the output cannot be written: a distinct exit code, one line on stderr,
and never a torn line in what was written.

The command runs for real in a subprocess. ``/dev/full`` answers every write with ENOSPC; a file-size
limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored so that the write fails with EFBIG instead of killing the
process) makes the kernel accept part of a write and refuse the rest, as a file system filling up does.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

PYNECTOR = [sys.executable, "-m", "pynector"]
EXIT_OUTPUT_FAILED = 4


def _lines(count: int) -> bytes:
    return b"".join(json.dumps({"id": n, "url": f"/item/{n}"}).encode() + b"\n" for n in range(count))


async def _run(*args: str, stdin: bytes, limit: int | None = None) -> subprocess.CompletedProcess[bytes]:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNECTOR_")}
    with trio.fail_after(90):  # only turns a hang into a failure
        return await trio.run_process(
            [*PYNECTOR, *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
            preexec_fn=None if limit is None else limit_file_size,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_full_disk_exits_with_its_own_code_and_one_line() -> None:
    """On ENOSPC the command exits 4 with one clear line on stderr (no traceback, no ExceptionGroup)."""
    result = await _run("batch", "--memory-target", "-o", "/dev/full", stdin=_lines(50))
    stderr = result.stderr.decode()
    assert EXIT_OUTPUT_FAILED == result.returncode, stderr
    assert 1 == len(stderr.splitlines()), stderr
    assert stderr.startswith("pynector: error: cannot write the output '/dev/full': ")
    assert "No space left on device" in stderr


async def test_partial_write_leaves_only_complete_lines(tmp_path: Path) -> None:
    """When the file system takes part of a write, the file is cut back to its last complete line."""
    output = tmp_path / "out.jsonl"
    result = await _run("batch", "--memory-target", "-o", str(output), stdin=_lines(2000), limit=10_000)
    written = output.read_bytes()
    assert EXIT_OUTPUT_FAILED == result.returncode, result.stderr.decode()
    assert 0 < len(written) <= 10_000
    assert written.endswith(b"\n")
    records = [json.loads(line) for line in written.splitlines()]
    assert all(record["ok"] for record in records)
    assert f"{len(records)} complete records written" in result.stderr.decode()


async def test_help_documents_the_output_exit_code() -> None:
    """`pynector batch --help` lists exit code 4."""
    result = await _run("batch", "--help", stdin=b"")
    assert "  4    the output could not be written" in result.stdout.decode()
