"""`pynector batch` as a long job: resume, shards, durable lines, and the curl-like options.

Each test runs the real command in a subprocess against a loopback server of the test's own loop.
"""

from __future__ import annotations

import json
import random
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from helpers.cli import PYNECTOR, Target, _env, jsonl, run_cli
from helpers.processes import logging_server, run_then_kill

from pynector.testing import HTTPRequest, HTTPResponse, serve_http


def records(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


async def test_resume_skips_done_lines_and_says_how_many(target: Target, tmp_path: Path) -> None:
    """A second run with --resume sends only the lines the output lacks and reports the skipped ones."""
    source = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    source.write_bytes(jsonl(*({"url": f"/echo/{n}"} for n in range(10))))
    first = await run_cli("batch", "-i", str(source), "-o", str(out), "--base-url", target.url)
    assert 0 == first.returncode, first.stderr
    # Drop three records and tear the last one, as a crash in the middle of a write would.
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:6]) + lines[6][:9])
    target.hits.clear()
    second = await run_cli("batch", "-i", str(source), "-o", str(out), "--base-url", target.url, "--resume")
    assert 0 == second.returncode, second.stderr
    assert "6 already done (skipped by --resume)" in second.stderr
    done_first = {r["index"] for r in (json.loads(line) for line in lines[:6])}
    assert 4 == sum(target.hits.values())
    assert not {f"/echo/{n}" for n in done_first} & set(target.hits)
    assert list(range(10)) == sorted(r["index"] for r in records(out))


async def test_resume_needs_an_output_file(target: Target) -> None:
    """--resume with standard output is a usage error (nothing to read back)."""
    run = await run_cli("batch", "--base-url", target.url, "--resume", stdin=jsonl({"url": "/echo"}))
    assert 2 == run.returncode
    assert "--resume needs an output file" in run.stderr


async def test_shards_of_one_input_cover_it_once(target: Target, tmp_path: Path) -> None:
    """Four --shard K/4 runs of one 400-line input: disjoint outputs whose union is the input."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        jsonl(*({"id": f"k{n}", "url": f"/echo/{n}"} for n in range(200)), *({"url": "/echo"},) * 200)
    )
    outs = [tmp_path / f"out{k}.jsonl" for k in range(1, 5)]
    async with trio.open_nursery() as nursery:
        for k, out in enumerate(outs, start=1):
            nursery.start_soon(
                run_cli,
                "batch",
                "-i",
                str(source),
                "-o",
                str(out),
                "--base-url",
                target.url,
                "--shard",
                f"{k}/4",
            )
    indexes = [r["index"] for out in outs for r in records(out)]
    assert list(range(400)) == sorted(indexes)
    assert 400 == sum(target.hits.values())


async def test_bad_shard_is_a_usage_error() -> None:
    """--shard 5/4 is refused before anything runs."""
    run = await run_cli("batch", "--memory-target", "--shard", "5/4")
    assert 2 == run.returncode
    assert "shard" in run.stderr


async def test_full_disk_exits_4_with_one_clear_line(target: Target) -> None:
    """Writing to a full device (/dev/full) ends with exit code 4 and one error line, no traceback."""
    run = await run_cli("batch", "--base-url", target.url, "-o", "/dev/full", stdin=jsonl({"url": "/echo"}))
    assert 4 == run.returncode, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("pynector: error:")]
    assert 1 == len(errors)
    assert "No space left on device" in errors[0]
    assert "Traceback" not in run.stderr


async def test_relative_url_without_base_url_is_a_usage_error() -> None:
    """A relative URL with no --base-url stops the run with exit code 2, naming the line."""
    run = await run_cli("batch", stdin=jsonl({"url": "http://127.0.0.1:9/x"}, {"url": "/relative"}))
    assert 2 == run.returncode
    assert "line 2: the url is relative and there is no --base-url" in run.stderr


async def test_params_form_and_response_headers(target: Target) -> None:
    """params become the query, form an urlencoded body, and --include-headers records the headers."""
    seen: list[HTTPRequest] = []

    def handler(request: HTTPRequest, conn: Any) -> HTTPResponse:
        seen.append(request)
        return HTTPResponse.json({"ok": True}, headers=[("X-Served-By", "test")])

    target.server.handler = handler
    lines = jsonl(
        {"url": "/p", "params": {"q": "a b", "n": [1, 2]}},
        {"url": "/f", "method": "POST", "form": {"name": "x y"}},
        {"url": "/bad", "form": {"a": 1}, "json": {}},
    )
    run = await run_cli("batch", "--base-url", target.url, "--include-headers", "--skip-invalid", stdin=lines)
    assert 0 == run.returncode, run.stderr
    by_path = {r.path: r for r in seen}
    assert "/p?q=a+b&n=1&n=2" == by_path["/p"].target
    assert b"name=x+y" == by_path["/f"].body
    assert "application/x-www-form-urlencoded" == by_path["/f"].header("content-type")
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert all("test" == r["headers"]["x-served-by"] for r in out)
    assert "give at most one of json, body and form" in run.stderr


async def test_credentials_from_h_stay_with_the_base_url_origin(tmp_path: Path) -> None:
    """-H Authorization goes to the --base-url origin only; another host named by a line never sees it."""
    seen: dict[str, list[str | None]] = {"base": [], "other": []}

    def recorder(name: str) -> Any:
        def handler(request: HTTPRequest, conn: Any) -> HTTPResponse:
            seen[name].append(request.header("authorization"))
            return HTTPResponse.json({}, headers=[("X-Trace", request.header("x-trace") or "")])

        return handler

    async with trio.open_nursery() as nursery:
        base = await nursery.start(serve_http, recorder("base"))
        other = await nursery.start(serve_http, recorder("other"))
        lines = jsonl({"url": "/a"}, {"url": f"{base.url}/b"}, {"url": f"{other.url}/c"})
        args = ["batch", "--base-url", base.url, "-H", "Authorization: Bearer s3cret", "-H", "X-Trace: 1"]
        run = await run_cli(*args, stdin=lines)
        assert 0 == run.returncode, run.stderr
        assert ["Bearer s3cret", "Bearer s3cret"] == seen["base"]
        assert [None] == seen["other"]
        seen["other"].clear()
        run = await run_cli(*args, "--allow-cross-origin-headers", stdin=jsonl({"url": f"{other.url}/c"}))
        assert 0 == run.returncode, run.stderr
        assert ["Bearer s3cret"] == seen["other"]
        nursery.cancel_scope.cancel()


async def test_follow_redirects_and_cacert(tmp_path: Path) -> None:
    """-L follows a redirect; --cacert trusts a private CA for https."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)

    def handler(request: HTTPRequest, conn: Any) -> HTTPResponse:
        if request.path == "/old":
            return HTTPResponse(302, [("Location", "/new")])
        return HTTPResponse.json({"path": request.path})

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_http(handler, ssl_context=server_context, task_status=task_status)
        )
        lines = jsonl({"url": "/old"})
        plain = await run_cli("batch", "--base-url", server.url, "--cacert", str(ca_file), stdin=lines)
        assert 0 == plain.returncode, plain.stderr
        assert 302 == json.loads(plain.stdout)["status"]
        followed = await run_cli(
            "batch", "--base-url", server.url, "--cacert", str(ca_file), "-L", stdin=lines
        )
        assert {"path": "/new"} == json.loads(followed.stdout)["json"]
        untrusted = await run_cli("batch", "--base-url", server.url, stdin=lines)
        assert "TLSError" == json.loads(untrusted.stdout)["error"]["type"]
        missing = await run_cli(
            "batch", "--base-url", server.url, "--cacert", str(tmp_path / "none.pem"), stdin=lines
        )
        assert 2 == missing.returncode
        assert "--cacert" in missing.stderr
        nursery.cancel_scope.cancel()


async def test_given_up_warning_names_the_item_without_secrets(target: Target) -> None:
    """When retries are given up the warning says which item (index, id, method, redacted URL)."""
    url = f"{target.url}/status/503?api_key=topsecret"
    run = await run_cli(
        "batch",
        "--retries",
        "1",
        "--retry-delay",
        "0",
        "--check-status",
        stdin=jsonl({"id": "job-7", "url": url}),
    )
    assert 1 == run.returncode
    warning = next(line for line in run.stderr.splitlines() if "retries given up" in line)
    assert 'item 0 (id "job-7"): GET' in warning
    assert "/status/503" in warning
    assert "topsecret" not in run.stderr


async def test_demo_help_shows_the_demo_settings() -> None:
    """`pynector demo --help` states the demo's own defaults (50 in flight, 1 s, 2 retries 0.2 s apart)."""
    run = await run_cli("demo", "--help")
    text = " ".join(run.stdout.decode().split())
    for expected in (
        "(default 50)",
        "(default 1)",
        "retries after a failed attempt (default 2)",
        "(default 0.2)",
    ):
        assert expected in text


@pytest.mark.slow
def test_sigkill_then_resume_gives_every_line_once(tmp_path: Path) -> None:
    """`pynector batch --resume` killed (SIGKILL) 5 times at random moments, then run to the end:
    one complete record per line, and no line requested again after its record was written."""
    source = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    log = tmp_path / "requests.log"
    source.write_bytes(jsonl(*({"id": n, "url": f"/x?i={n}"} for n in range(20_000))))
    with logging_server(log) as base:
        command = [
            *PYNECTOR,
            "batch",
            "-i",
            str(source),
            "-o",
            str(out),
            "--base-url",
            base,
            "--resume",
            "-q",
        ]
        rng = random.Random(99)
        kills = 0
        for _ in range(6):
            written = {r["id"] for r in records(out)} if out.exists() else set()
            log.write_text("")
            kills += run_then_kill(command, rng, (0.8, 2.5), env=_env())
            assert not written & {int(i) for i in log.read_text().split()}
        assert kills >= 3
        written = {r["id"] for r in records(out)}
        log.write_text("")
        final = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
        assert 0 == final.returncode, final.stderr
        assert not written & {int(i) for i in log.read_text().split()}
    ids = [r["id"] for r in records(out)]
    assert 20_000 == len(ids)
    assert set(range(20_000)) == set(ids)
