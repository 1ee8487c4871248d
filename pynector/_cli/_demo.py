"""``pynector demo``: a batch against a loopback server started in this process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import trio

from ._common import EXIT_INTERRUPTED, EXIT_OK
from ._display import _configure_logging, _open_display, _Stats
from ._input import _Item
from ._run import _job_item, _log_level, _RunSettings, _shows_bar, open_checkpoint, run_batch


def _demo_handler(attempts: dict[int, int]) -> Any:
    from ..testing import HTTPRequest, HTTPResponse, ServerConnection

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        number = int(request.path.rsplit("/", 1)[-1])
        seen = attempts[number] = attempts.get(number, 0) + 1
        # Every response takes a little while, so the bar has something to show.
        await trio.sleep(0.005 + (number * 7919 % 21) / 1000)
        if number % 100 == 7:
            return HTTPResponse.json({"error": "scripted failure"}, status=500)
        if number % 100 == 42:
            return HTTPResponse.json({"error": "no such item"}, status=404)
        if number % 250 == 13:
            await trio.sleep(30)  # far beyond the timeout: the client gives up first
        if number % 40 == 5 and seen == 1:
            return HTTPResponse.json({"error": "busy"}, status=503, headers=[("Retry-After", "1")])
        if number % 97 == 3 and seen <= 2:
            return HTTPResponse.json({"error": "slow down"}, status=429, headers=[("Retry-After", "1")])
        return HTTPResponse.json({"item": number, "attempt": seen})

    return handler


def _demo_items(count: int) -> Iterator[_Item]:
    for number in range(count):
        yield _Item(number, number, {"method": "GET", "url": f"/items/{number}"})


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _print_demo_summary(stats: _Stats, settings: _RunSettings, file: TextIO) -> None:
    rows: list[tuple[str, str]] = []
    for outcome, count in sorted(stats.outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        label = f"HTTP {outcome}" if outcome.isdigit() else outcome
        rows.append((label, str(count)))
    elapsed = stats.elapsed or []
    details = [
        ("requests", str(stats.done)),
        ("failed (with --check-status)", str(stats.failed)),
        ("retried (more than 1 attempt)", str(stats.retried)),
        ("  of which succeeded on a retry", str(stats.recovered)),
        ("attempts in total", str(stats.attempts)),
        ("latency p50 / p95 / max", " / ".join(f"{_percentile(elapsed, q):.3f}s" for q in (0.5, 0.95, 1.0))),
        (
            "concurrency / timeout / retries",
            f"{settings.concurrency} / {settings.timeout:g}s / {settings.retries}",
        ),
    ]
    print(stats.summary_line(0), file=file)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for label, value in [*rows, ("", ""), *details]:
            print(f"  {label:<34} {value}", file=file)
        return
    table = Table(title="pynector demo: outcomes", show_lines=False)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    table.add_section()
    for label, value in details:
        table.add_row(label, value)
    Console(file=file).print(table)


async def _demo_command(args: argparse.Namespace) -> int:
    from ..testing import serve_http

    checkpoint = open_checkpoint(args.output)
    display = _open_display(_shows_bar(args, args.output == "-"), "demo")
    _configure_logging(_log_level(args), display)
    attempts: dict[int, int] = {}
    stats = _Stats(keep_elapsed=True)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, _demo_handler(attempts))
        timeout = args.timeout
        settings = _RunSettings(
            concurrency=args.concurrency,
            rate=args.rate,
            timeout=timeout,
            retries=args.retries,
            retry_on=args.retry_on,
            retry_delay=args.retry_delay,
            ordered=False,
            fail_fast=args.fail_fast,
            check_status=True,
            no_body=False,
            transport_type="http",
            transport_options={"base_url": server.url, "raise_for_status": True, "timeout": timeout},
        )
        if not args.quiet:
            print(
                f"pynector demo: {args.requests} requests to a loopback server at {server.url}, "
                f"some scripted to fail, to time out, or to answer 503/429 with Retry-After",
                file=sys.stderr if args.output == "-" else sys.stdout,
                flush=True,
            )
        display.start(args.requests)
        try:
            outcome = await run_batch(
                settings,
                map(_job_item, _demo_items(args.requests)),
                checkpoint,
                display,
                stats,
                lambda: args.requests,
            )
        finally:
            display.update(stats, args.requests, final=True)
            display.stop()
        nursery.cancel_scope.cancel()
    if not args.quiet:
        # Only JSON Lines on stdout when the records go there (-o -).
        _print_demo_summary(stats, settings, sys.stderr if args.output == "-" else sys.stdout)
    # The scripted failures are the point of the demo: it succeeded if it ran to the end.
    return EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK
