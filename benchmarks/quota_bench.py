"""Quotas: what the learning limiter costs when no limit is hit, and what it buys against a real quota.

Run: ``.venv/bin/python benchmarks/quota_bench.py [--requests N] [--rounds R] [--trial-requests M]``

1. **Overhead.** One client on the in-process memory transport sends N requests one after the other,
   without a quota, with ``rate_limit="auto"`` (learning; no header and no 429 ever arrives, so no
   key is paced) and with a known quota far above the load (``Quota(requests_per_minute=1e9)``: the
   GCRA reservation runs on every request but never waits). The variants run in interleaved rounds;
   the table shows the median CPU time per request and the overhead against no quota, with the range
   over rounds. Target: under 2 us, so the limiter can be on by default for SDK transports.
2. **Trial.** M requests (about 100 tokens each) against :class:`pynector.testing.QuotaService`
   enforcing 600 requests and 60,000 tokens per minute (a sliding window) over loopback HTTP, on
   trio's mock clock (the minutes pass instantly): today's behaviour (no limiter, retries that honour
   ``Retry-After``, up to 50 of them) beside the learning limiter, without
   rate-limit headers (AIMD) and with OpenAI's and the IETF's headers. Sustained is served work over
   the run's duration, as a share of the binding limit (a sliding window lets a first burst of a
   whole minute's quota through, so a run without a limiter can exceed 100%); "lost" counts slots
   that hold an error instead of a response.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping
from typing import Any

import trio
import trio.testing

from pynector import Pynector, Quota, RetryPolicy
from pynector.testing import QuotaService, open_http_server

REQUESTS_PER_MINUTE = 600
TOKENS_PER_MINUTE = 60_000
#: Retries for every trial run (a 429 means the service did not act on the request: resending is safe).
RETRY = RetryPolicy(max_retries=50, initial_delay=1.0, max_delay=60.0, retry_non_idempotent=True)


# --- the trial -------------------------------------------------------------------------------------


def prompt_request(index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A POST of a prompt of 80..240 characters and max_tokens 80 (about 100 tokens on average)."""
    prompt = f"p{index:05d} " + "x" * (80 + (index * 37) % 160)
    return {"method": "POST", "path": "/v1/complete", "json": {"prompt": prompt, "max_tokens": 80}}, {}


def prompt_cost(data: Mapping[str, Any], options: Mapping[str, Any]) -> float:
    """Tokens charged before sending: the prompt's count plus the whole max_tokens."""
    body = data["json"]
    return float(len(body["prompt"]) // 4 + body["max_tokens"])


def reported_usage(response: Any) -> float:
    """Tokens the service reports having used (settles the charge)."""
    return float(response.json()["usage"]["total_tokens"])


async def quota_trial(
    requests: int, family: str | None, learning: bool, retry: RetryPolicy = RETRY
) -> dict[str, Any]:
    """Run *requests* against a fresh QuotaService (retrying by *retry*); return the run's figures.

    Must run under trio's MockClock (autojump): the service's window is minutes long.
    """
    service = QuotaService(REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE, headers=family, latency=0.05)
    quota = Quota(cost=prompt_cost, usage=reported_usage) if learning else None
    async with (
        open_http_server(service.handler) as server,
        Pynector(transport_type="http", base_url=server.url) as client,
    ):
        start = trio.current_time()
        pairs = [prompt_request(i) for i in range(requests)]
        results = await client.batch_request(pairs, max_concurrency=64, retry=retry, rate_limit=quota)
        minutes = (trio.current_time() - start) / 60.0
    answered = sum(1 for result in results if not isinstance(result, Exception))
    sustained = max(
        service.served / minutes / REQUESTS_PER_MINUTE, service.served_tokens / minutes / TOKENS_PER_MINUTE
    )
    limiter = ("learning, headers: " + (family or "none")) if learning else "none (retries only)"
    if retry.max_retries != RETRY.max_retries:
        limiter += f", {retry.max_retries} retries"
    return {
        "limiter": limiter,
        "served": service.served,
        "refused": service.refused,
        "refused_share": service.refused / (service.served + service.refused),
        "lost": requests - answered,
        "minutes": minutes,
        "sustained": sustained,
    }


def run_trial(
    requests: int, family: str | None, learning: bool, retry: RetryPolicy = RETRY
) -> dict[str, Any]:
    """:func:`quota_trial` in its own ``trio.run`` on an autojumping mock clock."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    result: dict[str, Any] = trio.run(quota_trial, requests, family, learning, retry, clock=clock)
    return result


def format_trial(row: dict[str, Any]) -> str:
    return (
        f"{row['limiter']:<32} {row['sustained']:>9.1%} {row['refused_share']:>7.1%} {row['refused']:>7}"
        f" {row['lost']:>5} {row['minutes']:>8.2f}"
    )


TRIAL_HEADER = f"{'limiter':<32} {'sustained':>9} {'429s':>7} {'refused':>7} {'lost':>5} {'minutes':>8}"


# --- overhead --------------------------------------------------------------------------------------


async def per_request_cpu(client: Pynector, requests: int) -> float:
    """CPU seconds per request for *requests* sequential requests through *client*."""
    request = client.request
    await request(0)
    start = time.process_time()
    for i in range(requests):
        await request(i)
    return (time.process_time() - start) / requests


async def overhead(requests: int, rounds: int) -> dict[str, list[float]]:
    def echo(data: Any, **options: Any) -> Any:
        return data

    variants = {
        "no quota": None,
        'rate_limit="auto"': "auto",
        "Quota(requests_per_minute=1e9)": Quota(requests_per_minute=1e9),
    }
    clients = {
        name: Pynector(transport_type="memory", handler=echo, rate_limit=limit)
        for name, limit in variants.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, client in clients.items():
            samples[name].append(await per_request_cpu(client, requests))
    for client in clients.values():
        await client.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per overhead round")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved overhead rounds")
    parser.add_argument("--trial-requests", type=int, default=5_000, help="requests per trial (0: skip)")
    args = parser.parse_args()

    samples = trio.run(overhead, args.requests, args.rounds)
    base = samples["no quota"]
    print(f"overhead per request, memory transport, {args.rounds} interleaved rounds of {args.requests}")
    print(f"{'variant':<32} {'CPU us/request':>15} {'overhead us (median, range)':>30}")
    for name, values in samples.items():
        diffs = [(value - ref) * 1e6 for value, ref in zip(values, base, strict=True)]
        median = statistics.median(values) * 1e6
        if name == "no quota":
            print(f"{name:<32} {median:>15.2f} {'-':>30}")
        else:
            spread = f"{statistics.median(diffs):.2f} ({min(diffs):.2f} .. {max(diffs):.2f})"
            print(f"{name:<32} {median:>15.2f} {spread:>30}")

    if args.trial_requests:
        print(
            f"\n{args.trial_requests} requests against {REQUESTS_PER_MINUTE} requests and "
            f"{TOKENS_PER_MINUTE:,} tokens per minute (QuotaService, loopback HTTP, trio mock clock)"
        )
        print(TRIAL_HEADER)
        for family, learning in ((None, False), (None, True), ("openai", True), ("ietf", True)):
            print(format_trial(run_trial(args.trial_requests, family, learning)), flush=True)


if __name__ == "__main__":
    main()
