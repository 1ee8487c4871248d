"""`pynector batch --rate auto`: the command learns a service's quota instead of hammering it."""

from __future__ import annotations

from test_cli import jsonl, run_cli

from pynector.testing import QuotaService, open_http_server


async def test_rate_auto_learns_the_quota_and_loses_nothing() -> None:
    """--rate auto against 5 requests per second (IETF headers): every line answered, few 429s."""
    # Real time: the command is a real process; the service's window is one second of it.
    service = QuotaService(requests_per_minute=5, window=1.0, headers="ietf")
    async with open_http_server(service.handler) as server:
        lines = jsonl(*({"url": f"/{n}"} for n in range(12)))
        run = await run_cli(
            "batch",
            "--base-url",
            server.url,
            "--rate",
            "auto",
            "--concurrency",
            "2",
            "--retries",
            "5",
            "--no-body",
            stdin=lines,
        )
    assert 0 == run.returncode, run.stderr
    assert [200] * 12 == [record["status"] for record in run.records]
    assert 12 == service.served
    assert service.refused <= 2  # at most the two sent before the first answer told the quota


async def test_rate_must_be_a_number_or_auto() -> None:
    """--rate fast is refused with a usage error."""
    run = await run_cli("batch", "--rate", "fast", stdin=b"")
    assert 2 == run.returncode
    assert "--rate" in run.stderr
