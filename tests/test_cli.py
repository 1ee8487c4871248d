"""The `pynector` command, run for real in a subprocess against a loopback server started by the test.

Each test starts `python -m pynector ...` with `trio.run_process` while the test's own trio loop serves
HTTP on 127.0.0.1, so the server can count what the command really sent. The `trio.fail_after` guards
are only there to turn a hang into a failure; nothing here sleeps on the wall clock to wait for
something to happen.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import trio
from helpers.cli import PYNECTOR, Target, _env, jsonl, open_cli, run_cli, strict_json
from hypothesis import given, settings
from hypothesis import strategies as st

SECRET = "s3cr3t-sentinel-7f1d"
EXIT_CODES = ("0 ", "1 ", "2 ", "3 ", "130")


def by_index(records: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {record["index"]: record for record in records}


# --- entry points and help ---------------------------------------------------------------------------


async def test_help_documents_every_flag_and_exit_code() -> None:
    """`pynector batch --help` lists the issue's flags and the exit codes 0/1/2/3/130."""
    run = await run_cli("batch", "--help")
    assert 0 == run.returncode
    help_text = run.stdout.decode()
    for flag in (
        "--input",
        "--output",
        "--concurrency",
        "--rate",
        "--timeout",
        "--retries",
        "--retry-on",
        "--base-url",
        "--header",
        "--ordered",
        "--fail-fast",
        "--check-status",
        "--quiet",
        "--no-progress",
        "--log-level",
        "--no-body",
        "--skip-invalid",
    ):
        assert flag in help_text, flag
    for code in EXIT_CODES:
        assert f"\n  {code}" in help_text, code
    assert "--memory-target" not in help_text


async def test_console_script_and_module_run_the_same_command() -> None:
    """The `pynector` console script and `python -m pynector` both answer --version."""
    script = Path(sys.executable).parent / "pynector"
    with trio.fail_after(60):
        from_script = await trio.run_process([str(script), "--version"], capture_stdout=True)
    from_module = await run_cli("--version")
    assert from_script.stdout == from_module.stdout
    assert from_module.stdout.startswith(b"pynector ")


async def test_no_command_is_a_usage_error() -> None:
    """Without a sub-command the command exits 2 with its usage."""
    run = await run_cli()
    assert 2 == run.returncode
    assert "usage:" in run.stderr


# --- records -------------------------------------------------------------------------------------


async def test_batch_runs_each_line_and_writes_one_record_per_result(target: Target) -> None:
    """Every field of a line reaches the server, and every record has the documented fields."""
    lines = jsonl(
        {"id": "a", "url": "/echo/1"},
        {"id": 2, "method": "post", "url": "/echo/2", "json": {"n": 2}, "headers": {"X-One": "1"}},
        "",
        {"method": "PUT", "url": f"{target.url}/echo/3", "body": "plain text"},
        {"url": "/text"},
    )
    run = await run_cli("batch", "--base-url", target.url, stdin=lines)
    assert 0 == run.returncode, run.stderr
    records = by_index(run.records)
    assert [0, 1, 3, 4] == sorted(records)
    first = records[0]
    assert {"id", "index", "ok", "status", "elapsed", "attempts", "json"} == set(first)
    assert ("a", True, 200, 1) == (first["id"], first["ok"], first["status"], first["attempts"])
    assert 0 < first["elapsed"] < 60
    echoed = records[1]["json"]
    assert ("POST", "/echo/2", {"x-one": "1"}) == (echoed["method"], echoed["path"], echoed["headers"])
    assert {"n": 2} == json.loads(echoed["body"])
    assert 2 == records[1]["id"]
    assert "id" not in records[3]
    assert ("PUT", "plain text") == (records[3]["json"]["method"], records[3]["json"]["body"])
    assert "hello, world" == records[4]["body"]
    assert "4 requests" in run.stderr


async def test_no_body_leaves_bodies_out(target: Target) -> None:
    """--no-body writes status and timing but no json/body field."""
    run = await run_cli(
        "batch", "--base-url", target.url, "--no-body", stdin=jsonl({"url": "/echo"}, {"url": "/text"})
    )
    assert 0 == run.returncode
    for record in run.records:
        assert "json" not in record
        assert "body" not in record
        assert 200 == record["status"]


async def test_records_are_strict_json_whatever_the_server_or_input_sends(target: Target) -> None:
    """A JSON body with NaN is written as text and a lone surrogate in an id is escaped: lines stay valid."""
    lines = jsonl({"url": "/nan"}, '{"id": "\\ud800", "url": "/echo"}')
    run = await run_cli("batch", "--base-url", target.url, "--ordered", stdin=lines)
    assert 0 == run.returncode, run.stderr
    nan_record, surrogate_record = run.records  # parsed strictly: UTF-8, no NaN/Infinity
    assert '{"x": NaN}' == nan_record["body"]
    assert "\ud800" == surrogate_record["id"]


async def test_output_file_and_input_file(target: Target, tmp_path: Path) -> None:
    """-i FILE and -o FILE replace stdin and stdout; stdout stays empty."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(*({"url": f"/echo/{n}"} for n in range(5))))
    out = tmp_path / "out.jsonl"
    run = await run_cli("batch", "-i", str(source), "-o", str(out), "--base-url", target.url)
    assert 0 == run.returncode
    assert b"" == run.stdout
    assert [0, 1, 2, 3, 4] == sorted(json.loads(line)["index"] for line in out.read_text().splitlines())


# --- statuses, failures and exit code 1 ----------------------------------------------------------


async def test_error_status_is_a_response_unless_check_status(target: Target) -> None:
    """A 404 is recorded as ok without --check-status (exit 0) and as a failure with it (exit 1)."""
    lines = jsonl({"url": "/status/404"}, {"url": "/echo"})
    plain = await run_cli("batch", "--base-url", target.url, stdin=lines)
    assert 0 == plain.returncode
    assert {"ok": True, "status": 404} == {k: by_index(plain.records)[0][k] for k in ("ok", "status")}
    checked = await run_cli("batch", "--base-url", target.url, "--check-status", stdin=lines)
    assert 1 == checked.returncode
    failed = by_index(checked.records)[0]
    assert (False, 404, "NotFoundError") == (failed["ok"], failed["status"], failed["error"]["type"])
    assert "404" in failed["error"]["message"]
    assert {"status": 404} == failed["json"]
    assert by_index(checked.records)[1]["ok"]


async def test_connection_refused_is_a_failed_record(nursery: trio.Nursery) -> None:
    """A target that refuses connections gives ConnectError records and exit code 1."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens on that port any more
    run = await run_cli("batch", "--base-url", f"http://127.0.0.1:{port}", stdin=jsonl({"url": "/x"}))
    assert 1 == run.returncode
    (record,) = run.records
    assert (False, None, "ConnectError") == (record["ok"], record["status"], record["error"]["type"])


async def test_timeout_bounds_each_attempt_and_a_line_can_override_it(target: Target) -> None:
    """--timeout cuts a silent server off (TimeoutError); a line's own timeout wins over it."""
    lines = jsonl({"url": "/slow"}, {"url": "/slow", "timeout": 0.2}, {"url": "/echo"})
    run = await run_cli("batch", "--base-url", target.url, "--timeout", "0.5", stdin=lines)
    assert 1 == run.returncode
    records = by_index(run.records)
    assert ("TimeoutError", "TimeoutError") == (records[0]["error"]["type"], records[1]["error"]["type"])
    assert "0.5s" in records[0]["error"]["message"]
    assert "0.2s" in records[1]["error"]["message"]
    assert 0.5 <= records[0]["elapsed"]
    assert 0.2 <= records[1]["elapsed"] < 0.5
    assert records[2]["ok"]


async def test_retries_on_listed_statuses_and_counts_attempts(target: Target) -> None:
    """--retries resends 503s (Retry-After honoured); --retry-on chooses the statuses."""
    lines = jsonl({"url": "/flaky/a/2/503"}, {"url": "/flaky/b/1/500"}, {"url": "/status/503"})
    run = await run_cli("batch", "--base-url", target.url, "--retries", "2", stdin=lines)
    records = by_index(run.records)
    assert (True, 200, 3) == (records[0]["ok"], records[0]["status"], records[0]["attempts"])
    assert (True, 500, 1) == (records[1]["ok"], records[1]["status"], records[1]["attempts"])
    # Still 503 after the last attempt: recorded as the response it is (a failure with --check-status).
    assert (True, 503, 3) == (records[2]["ok"], records[2]["status"], records[2]["attempts"])
    assert 0 == run.returncode
    assert (
        3 + 1 + 3
        == target.hits["/flaky/a/2/503"] + target.hits["/flaky/b/1/500"] + target.hits["/status/503"]
    )

    lines = jsonl({"url": "/flaky/c/1/500"}, {"url": "/flaky/d/1/503"})
    run = await run_cli(
        "batch",
        "--base-url",
        target.url,
        "--retries",
        "1",
        "--retry-on",
        "500",
        "--check-status",
        stdin=lines,
    )
    records = by_index(run.records)
    assert (True, 200, 2) == (records[0]["ok"], records[0]["status"], records[0]["attempts"])
    assert (False, 503, 1) == (records[1]["ok"], records[1]["status"], records[1]["attempts"])
    assert "HTTPServerError" == records[1]["error"]["type"]
    assert 1 == run.returncode


async def test_timeouts_are_retried_after_the_retry_delay(target: Target) -> None:
    """A timed-out GET is retried after --retry-delay (jittered down to half of it at most)."""
    lines = jsonl({"url": "/slow"})
    run = await run_cli(
        "batch",
        "--base-url",
        target.url,
        "--timeout",
        "0.2",
        "--retries",
        "1",
        "--retry-delay",
        "0.5",
        stdin=lines,
    )
    (record,) = run.records
    assert (False, 2, "TimeoutError") == (record["ok"], record["attempts"], record["error"]["type"])
    assert 0.2 + 0.25 + 0.2 <= record["elapsed"]
    assert 2 == target.slow_requests


async def test_without_retries_nothing_is_resent(target: Target) -> None:
    """The default is one attempt per line."""
    run = await run_cli("batch", "--base-url", target.url, stdin=jsonl({"url": "/flaky/e/1/503"}))
    (record,) = run.records
    assert (503, 1) == (record["status"], record["attempts"])
    assert 1 == target.hits["/flaky/e/1/503"]


async def test_fail_fast_stops_at_the_first_failure(target: Target) -> None:
    """With --fail-fast the first failure stops the run: no further request is sent."""
    lines = jsonl({"url": "/status/500"}, *({"url": f"/echo/{n}"} for n in range(20)))
    run = await run_cli(
        "batch", "--base-url", target.url, "--check-status", "--fail-fast", "--concurrency", "1", stdin=lines
    )
    assert 1 == run.returncode
    assert [0] == [record["index"] for record in run.records]
    assert 1 == sum(target.hits.values())


async def test_concurrency_bounds_requests_in_flight(target: Target) -> None:
    """--concurrency 3 never has more than 3 requests at the server at once."""
    lines = jsonl(*({"url": "/delay/150"} for _ in range(9)))
    run = await run_cli("batch", "--base-url", target.url, "--concurrency", "3", stdin=lines)
    assert 0 == run.returncode
    assert 9 == len(run.records)
    assert 3 == target.peak


async def test_concurrency_above_the_connection_pool_default(target: Target) -> None:
    """--concurrency 120 really has 120 requests in flight (the pool is not left at its default 100)."""
    lines = jsonl(*({"url": "/delay/500"} for _ in range(120)))
    run = await run_cli("batch", "--base-url", target.url, "--concurrency", "120", "--no-body", stdin=lines)
    assert 0 == run.returncode, run.stderr
    assert 120 == target.peak


async def test_rate_spaces_the_requests(target: Target) -> None:
    """--rate 20 sends 9 requests over at least 8/20 s, measured where they arrive."""
    lines = jsonl(*({"url": f"/echo/{n}"} for n in range(9)))
    run = await run_cli("batch", "--base-url", target.url, "--rate", "20", "--concurrency", "9", stdin=lines)
    assert 0 == run.returncode
    assert 9 == len(target.arrivals)
    assert 8 / 20 * 0.9 <= target.arrivals[-1] - target.arrivals[0]


async def test_base_url_and_headers(target: Target) -> None:
    """-H headers go with every request; a line's own header of the same name wins."""
    lines = jsonl({"url": "echo/a"}, {"url": "echo/b", "headers": {"X-Two": "mine"}})
    run = await run_cli(
        "batch",
        "--base-url",
        f"{target.url}/",
        "-H",
        "X-One: 1",
        "-H",
        "X-Two:  2 ",
        "--ordered",
        stdin=lines,
    )
    first, second = run.records
    assert {"x-one": "1", "x-two": "2"} == first["json"]["headers"]
    assert {"x-one": "1", "x-two": "mine"} == second["json"]["headers"]


async def test_ordered_writes_in_input_order(target: Target) -> None:
    """By default records come in completion order; --ordered writes them in input order."""
    lines = jsonl(*({"url": f"/delay/{ms}"} for ms in (900, 600, 300, 0)))
    unordered = await run_cli("batch", "--base-url", target.url, "--concurrency", "4", stdin=lines)
    assert 3 == unordered.records[0]["index"]
    ordered = await run_cli("batch", "--base-url", target.url, "--concurrency", "4", "--ordered", stdin=lines)
    assert [0, 1, 2, 3] == [record["index"] for record in ordered.records]


# --- invalid input: exit code 3 and --skip-invalid ------------------------------------------------

INVALID_LINES = [
    "{not json",
    "[1, 2]",
    '{"method": "GET"}',
    '{"url": "/echo", "surprise": 1}',
    '{"url": "/echo", "json": {}, "body": "x"}',
    '{"url": "/echo", "timeout": -1}',
    '{"url": "/echo", "headers": {"Authorization": 5}}',
    '{"url": "/echo", "headers": {"X-A": "a\\r\\nInjected: 1"}}',
    '{"url": "/echo", "method": "G T"}',
    '{"url": "/echo", "body": {"a": 1}}',
    '{"url": "/echo", "timeout": NaN}',
    f'{{"url": "/echo", "headers": {{"Authorization": "Bearer {SECRET}"}}, "jsn": 1}}',
]


async def test_invalid_line_stops_with_exit_code_3(target: Target) -> None:
    """An invalid line ends the run with exit 3; lines before it ran, lines after it were not sent."""
    lines = jsonl({"url": "/echo/1"}, "{oops", {"url": "/echo/3"})
    run = await run_cli("batch", "--base-url", target.url, "--concurrency", "1", stdin=lines)
    assert 3 == run.returncode
    assert [0] == [record["index"] for record in run.records]
    assert "line 2" in run.stderr
    assert "--skip-invalid" in run.stderr
    assert 0 == target.hits["/echo/3"]


async def test_skip_invalid_runs_the_valid_lines(target: Target) -> None:
    """Each kind of malformed line is reported by number (never quoting header values); the others run."""
    lines = [json.dumps({"url": "/echo/first"}), *INVALID_LINES, json.dumps({"url": "/echo/last"})]
    payload = "\n".join(lines).encode() + b"\n\xff\xfe\n"
    run = await run_cli("batch", "--base-url", target.url, "--skip-invalid", stdin=payload)
    assert 0 == run.returncode, run.stderr
    assert [0, len(lines) - 1] == sorted(record["index"] for record in run.records)
    for number in range(2, len(lines)):
        assert f"line {number}:" in run.stderr
    assert f"line {len(lines) + 1}: not valid UTF-8" in run.stderr
    assert SECRET not in run.stderr
    assert f"{len(INVALID_LINES) + 1} invalid lines skipped" in run.stderr


async def test_overlong_line_is_invalid_and_memory_stays_bounded(target: Target, tmp_path: Path) -> None:
    """A line longer than the 16 MiB cap is an invalid line, not a memory explosion."""
    from pynector._cli import MAX_LINE_BYTES

    source = tmp_path / "long.jsonl"
    with source.open("wb") as f:
        f.write(jsonl({"url": "/echo/1"}))
        f.write(b'{"url": "/echo", "body": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
        f.write(jsonl({"url": "/echo/3"}))
    run = await run_cli("batch", "-i", str(source), "--base-url", target.url, "--skip-invalid")
    assert 0 == run.returncode
    assert [0, 2] == sorted(record["index"] for record in run.records)
    assert "line 2: longer than" in run.stderr


# --- usage errors: exit code 2 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "--concurrency", "0"],
        ["batch", "--rate", "-1"],
        ["batch", "--timeout", "nan"],
        ["batch", "--retries", "x"],
        ["batch", "--retry-on", "999"],
        ["batch", "-H", "no colon here"],
        ["batch", "--log-level", "LOUD"],
        ["batch", "-i", "/nonexistent/requests.jsonl"],
        ["batch", "-o", "/nonexistent/dir/out.jsonl"],
        ["batch", "--base-url", "ftp://127.0.0.1/"],
        ["batch", "--unknown-flag"],
    ],
)
async def test_usage_and_configuration_errors_exit_2(args: list[str]) -> None:
    """Bad flags, unreadable files and invalid configuration exit with 2 and say why on stderr."""
    run = await run_cli(*args, stdin=jsonl({"url": "/echo"}))
    assert 2 == run.returncode
    assert b"" == run.stdout
    assert "error" in run.stderr


# --- logs, quiet, secrets -------------------------------------------------------------------------


async def test_debug_logs_go_to_stderr_without_secrets(target: Target) -> None:
    """--log-level DEBUG shows the library's events on stderr; credentials never appear anywhere."""
    lines = jsonl(
        {"url": "/echo", "headers": {"X-Api-Key": SECRET}}, {"url": f"/status/404?api_key={SECRET}"}
    )
    run = await run_cli(
        "batch",
        "--base-url",
        target.url,
        "-H",
        f"Authorization: Bearer {SECRET}",
        "--check-status",
        "--no-body",
        "--log-level",
        "debug",
        stdin=lines,
    )
    assert 1 == run.returncode
    assert 2 <= run.stderr.count(" DEBUG ")  # at least one event per request
    assert SECRET not in run.stderr
    assert SECRET.encode() not in run.stdout


async def test_quiet_prints_no_summary(target: Target) -> None:
    """-q leaves stderr empty on success."""
    run = await run_cli("batch", "--base-url", target.url, "-q", stdin=jsonl({"url": "/echo"}))
    assert 0 == run.returncode
    assert "" == run.stderr
    assert 1 == len(run.records)


async def test_no_bar_when_stderr_is_not_a_terminal(target: Target) -> None:
    """With stderr captured (not a terminal) no escape sequence is written."""
    run = await run_cli("batch", "--base-url", target.url, stdin=jsonl({"url": "/echo"}))
    assert "\x1b[" not in run.stderr


# --- SIGINT: exit code 130 with complete lines ----------------------------------------------------


async def test_sigint_stops_cleanly_with_complete_lines(target: Target, tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, every written line is complete JSON, connections are closed."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        jsonl(*({"url": f"/echo/{n}"} for n in range(3)), *({"url": "/slow"} for _ in range(40)))
    )
    proc = await open_cli(
        "batch", "-i", str(source), "--base-url", target.url, "--concurrency", "4", "--ordered"
    )
    output = bytearray()
    errors = bytearray()
    with trio.fail_after(60):
        while output.count(b"\n") < 3:
            chunk = await proc.stdout.receive_some()
            assert chunk, errors
            output += chunk
        await target.four_slow.wait()  # every worker is now waiting on a slow request
        proc.send_signal(signal.SIGINT)

        async def drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
            while chunk := await stream.receive_some():
                into += chunk

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, proc.stdout, output)
            nursery.start_soon(drain, proc.stderr, errors)
        returncode = await proc.wait()
        await target.server.wait_all_closed()
    assert 130 == returncode, errors
    assert output.endswith(b"\n")
    records = [json.loads(line) for line in output.splitlines()]
    assert [0, 1, 2] == [record["index"] for record in records]
    assert "interrupted" in errors.decode()


async def test_sigint_while_the_input_pipe_is_silent() -> None:
    """SIGINT while stdin is open but silent: exit 130 at once, the result written, no abort at exit."""
    proc = await open_cli("batch", "--memory-target", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    output = bytearray()
    errors = bytearray()
    with trio.fail_after(60):
        await proc.stdin.send_all(jsonl({"url": "/only"}))  # and then nothing: the reader waits
        while not output.endswith(b"\n"):
            output += await proc.stdout.receive_some()
        proc.send_signal(signal.SIGINT)
        while chunk := await proc.stderr.receive_some():
            errors += chunk
        returncode = await proc.wait()
        await proc.stdin.aclose()
    assert 130 == returncode, errors
    assert 0 == strict_json(bytes(output))["index"]
    assert "interrupted; 1 complete result written" in errors.decode()
    assert "Fatal" not in errors.decode()


# --- the progress bar, under a pseudo-terminal ----------------------------------------------------


def run_with_tty_stderr(args: list[str], stdout_path: Path) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal; return its exit code and what the terminal got."""
    master, slave = pty.openpty()
    with stdout_path.open("wb") as stdout:
        proc = subprocess.Popen(
            [*PYNECTOR, *args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=slave,
            env={**_env(), "TERM": "xterm-256color"},
        )
    os.close(slave)
    screen = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            assert ready, "the command hung"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
        returncode = proc.wait(timeout=60)
    return returncode, screen.decode("utf-8", "replace")


def without_styles(text: str) -> str:
    """*text* without its colour escape sequences (the cursor and line controls are kept)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_progress_bar_renders_on_a_terminal_and_ends_cleanly(tmp_path: Path) -> None:
    """Under a pty the bar shows done/failed/rate/ETA, is finished at the total, and restores the cursor."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(*({"url": f"/items/{n}"} for n in range(3000))) + b"{bad\n")
    out = tmp_path / "out.jsonl"
    returncode, screen = run_with_tty_stderr(
        ["batch", "-i", str(source), "-o", str(out), "--memory-target", "--skip-invalid"], out
    )
    assert 0 == returncode, screen
    assert "\x1b[?25l" in screen  # cursor hidden while the bar is live...
    assert screen.rstrip().endswith("retried, 1 invalid lines skipped")
    assert "\x1b[?25h" in screen  # ...and shown again at the end
    final_bar = without_styles(screen[: screen.rindex("\x1b[?25h")])
    assert "3000 done" in final_bar
    assert "0 failed" in final_bar
    assert "/s" in final_bar
    assert "ETA" in final_bar
    # The warning about the invalid line was printed above the bar, as a whole line.
    assert "skipped invalid input line 3001: not valid JSON" in screen
    assert 3000 == len(out.read_text().splitlines())


def test_no_progress_keeps_the_terminal_plain(tmp_path: Path) -> None:
    """--no-progress writes only the summary line to the terminal."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(*({"url": f"/items/{n}"} for n in range(10))))
    out = tmp_path / "out.jsonl"
    returncode, screen = run_with_tty_stderr(
        ["batch", "-i", str(source), "-o", str(out), "--memory-target", "--no-progress"], out
    )
    assert 0 == returncode
    assert "\x1b[" not in screen
    assert "10 requests in" in screen


# --- bounded memory -------------------------------------------------------------------------------


def peak_rss_of_batch(tmp_path: Path, lines: int) -> tuple[int, int]:
    """Run `pynector batch --memory-target` over *lines* lines; return (exit code, peak RSS in bytes)."""
    source = tmp_path / f"in-{lines}.jsonl"
    with source.open("w") as f:
        for n in range(lines):
            f.write(f'{{"id": {n}, "method": "POST", "url": "/items/{n}", "json": {{"n": {n}}}}}\n')
    proc = subprocess.Popen(
        [*PYNECTOR, "batch", "-i", str(source), "-o", os.devnull, "--memory-target", "-q"],
        stdin=subprocess.DEVNULL,
        env=_env(),
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def test_peak_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    """100,000 lines peak at the same memory as 10,000 (within 4 MiB): the input is never materialised."""
    small_code, small = peak_rss_of_batch(tmp_path, 10_000)
    large_code, large = peak_rss_of_batch(tmp_path, 100_000)
    assert (0, 0) == (small_code, large_code)
    assert large - small < 4 * 1024 * 1024, (small, large)


@pytest.mark.slow
def test_a_million_lines_in_bounded_memory(tmp_path: Path) -> None:
    """1,000,000 lines run with the same peak memory as 10,000 (within 4 MiB)."""
    small_code, small = peak_rss_of_batch(tmp_path, 10_000)
    large_code, large = peak_rss_of_batch(tmp_path, 1_000_000)
    print(f"peak RSS: 10k lines {small / 2**20:.1f} MiB, 1M lines {large / 2**20:.1f} MiB")
    assert (0, 0) == (small_code, large_code)
    assert large - small < 4 * 1024 * 1024, (small, large)


# --- the demo -------------------------------------------------------------------------------------


async def test_demo_runs_a_batch_with_failures_timeouts_and_retries(tmp_path: Path) -> None:
    """`pynector demo` runs against its own loopback server and its summary shows every scripted outcome."""
    out = tmp_path / "demo.jsonl"
    run = await run_cli("demo", "-n", "300", "-o", str(out))
    assert 0 == run.returncode, run.stderr
    summary = run.stdout.decode()
    assert "300 requests in" in summary
    for outcome in ("HTTP 200", "HTTP 404", "HTTP 500", "TimeoutError"):
        assert outcome in summary, outcome
    assert "of which succeeded on a retry" in summary
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert 300 == len(records)
    retried = [r for r in records if r["attempts"] > 1 and r["ok"]]
    assert retried, "503/429 with Retry-After should have been retried to success"
    assert all(r["error"]["type"] == "TimeoutError" for r in records if r["index"] % 250 == 13)


async def test_closed_output_stops_the_run_quietly(tmp_path: Path) -> None:
    """`pynector batch | head -1`: the run stops with exit 1 and a message, no traceback."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(*({"url": f"/items/{n}"} for n in range(200_000))))
    proc = await open_cli("batch", "-i", str(source), "--memory-target")
    errors = bytearray()
    with trio.fail_after(60):
        first = await proc.stdout.receive_some()
        assert first
        await proc.stdout.aclose()
        while chunk := await proc.stderr.receive_some():
            errors += chunk
        returncode = await proc.wait()
    assert 1 == returncode
    assert "the output was closed" in errors.decode()
    assert "Traceback" not in errors.decode()


# --- line splitting, whatever the read sizes (in-process property test) ----------------------------


class ChunkedStream:
    """A binary stream whose reads return the given chunk sizes, like a pipe delivering bits at a time."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes or [1]
        self._at = 0
        self._reads = 0

    def read1(self, limit: int) -> bytes:
        size = min(limit, self._sizes[self._reads % len(self._sizes)])
        self._reads += 1
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk


LINE_KINDS = st.sampled_from(["valid", "blank", "invalid", "long"])


@settings(max_examples=200)
@given(
    kinds=st.lists(LINE_KINDS, max_size=30),
    sizes=st.lists(st.integers(1, 97), max_size=8),
    final_newline=st.booleans(),
)
def test_reader_yields_every_valid_line_whatever_the_chunking(
    kinds: list[str], sizes: list[int], final_newline: bool
) -> None:
    """Lines split across reads of any size come out whole: valid ones in order, the others skipped."""
    from pynector._cli import _input

    lines = []
    for number, kind in enumerate(kinds):
        if kind == "valid":
            lines.append(json.dumps({"id": number, "url": f"/n/{number}", "body": "é" * (number % 5)}))
        elif kind == "blank":
            lines.append("   ")
        elif kind == "invalid":
            lines.append('{"url": 5}')
        else:
            lines.append(json.dumps({"url": "/long", "body": "x" * 100}))
    data = "\n".join(lines).encode() + (b"\n" if final_newline and lines else b"")
    original = _input.MAX_LINE_BYTES
    _input.MAX_LINE_BYTES = 64  # the "long" lines are over it
    try:
        reader = _input._LineReader(ChunkedStream(data, sizes), skip_invalid=True, size=len(data))  # type: ignore[arg-type]
        items = []
        while True:
            try:
                items.append(reader.next_item())
            except StopIteration:
                break
    finally:
        _input.MAX_LINE_BYTES = original
    expected = [number for number, kind in enumerate(kinds) if kind == "valid"]
    assert expected == [item.id for item in items]
    assert expected == [item.index for item in items]
    assert [f"/n/{n}" for n in expected] == [item.request["url"] for item in items]
    assert sum(kind in {"invalid", "long"} for kind in kinds) == reader.skipped
    assert reader.error is None
