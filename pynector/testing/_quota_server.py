"""A quota-enforcing service for tests: a sliding window of requests and tokens per minute.

:class:`QuotaService` is a handler for :func:`serve_http` (real loopback sockets) that behaves like an
API with a quota: it admits a request when the last ``window`` seconds hold fewer than
``requests_per_minute`` requests and, with ``tokens_per_minute``, when their tokens plus this
request's stay within it; otherwise it answers 429 with ``Retry-After`` (the seconds until enough of
the window expires). It counts what it served and refused, and times everything on trio's clock, so it
runs on ``MockClock``::

    service = QuotaService(requests_per_minute=600, tokens_per_minute=60_000, headers="openai")
    async with open_http_server(service.handler) as server:
        ... POST {"prompt": "...", "max_tokens": 100} to server.url ...
    service.served, service.refused, service.served_tokens

A request is a JSON object ``{"prompt": str, "max_tokens": int}`` (anything else costs one token and
no output). Its tokens are the prompt's characters / 4 (rounded down) plus an output between half of
``max_tokens`` and ``max_tokens``, chosen deterministically from the prompt; the answer is
``{"text": ..., "usage": {"input_tokens", "output_tokens", "total_tokens"}}``.

*headers* selects which rate-limit header family every answer carries: ``"ietf"`` (``RateLimit`` and
``RateLimit-Policy``), ``"ietf-draft"`` (``RateLimit-Limit/-Remaining/-Reset``), ``"openai"``
(``x-ratelimit-*-requests/-tokens``, durations, plus ``retry-after-ms`` on a 429), ``"anthropic"``
(``anthropic-ratelimit-*``, RFC 3339 times), ``"github"`` (``x-ratelimit-*`` with an epoch reset) or
``None`` (only ``Retry-After`` on a 429). Absolute times are the service's wall clock, ``epoch`` plus
trio's clock, and every answer has a matching ``Date`` header (clients measure resets against it).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
from collections import deque
from datetime import UTC, datetime
from typing import Any

import trio

from ._http_server import HTTPRequest, HTTPResponse, ServerConnection

__all__ = ["QUOTA_HEADER_FAMILIES", "QuotaService"]

#: The values of ``QuotaService(headers=...)``.
QUOTA_HEADER_FAMILIES = (None, "ietf", "ietf-draft", "openai", "anthropic", "github")


class QuotaService:
    """An HTTP handler enforcing a sliding-window quota of requests (and tokens) per minute.

    Args:
        requests_per_minute: requests admitted per *window*.
        tokens_per_minute: tokens admitted per *window*, or ``None`` (no token quota).
        headers: the rate-limit header family on every answer (see the module docstring).
        window: the window in seconds (default 60).
        latency: seconds (trio's clock) the service takes to answer an admitted request.
        epoch: the service's wall clock at trio time 0, for ``Date`` and absolute resets.

    Attributes:
        served: requests answered 200.
        refused: requests answered 429.
        served_tokens: tokens of the served requests.
        first_at, last_at: trio times of the first and last served request (``None`` before any).
    """

    def __init__(
        self,
        requests_per_minute: int = 600,
        tokens_per_minute: int | None = None,
        *,
        headers: str | None = "ietf",
        window: float = 60.0,
        latency: float = 0.0,
        epoch: float = 1_767_225_600.0,
    ) -> None:
        if headers not in QUOTA_HEADER_FAMILIES:
            raise ValueError(f"headers must be one of {QUOTA_HEADER_FAMILIES}, got {headers!r}")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.family = headers
        self.window = window
        self.latency = latency
        self.epoch = epoch
        self.served = 0
        self.refused = 0
        self.served_tokens = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._log: deque[tuple[float, int]] = deque()
        self._tokens_in_window = 0

    # --- accounting -------------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        log = self._log
        horizon = now - self.window
        while log and log[0][0] <= horizon:
            self._tokens_in_window -= log.popleft()[1]

    def _wait_for(self, tokens: int, now: float) -> float:
        """Seconds until a request of *tokens* would be admitted."""
        wait = 0.0
        log = self._log
        if len(log) >= self.requests_per_minute:
            wait = log[len(log) - self.requests_per_minute][0] + self.window - now
        limit = self.tokens_per_minute
        if limit is not None and self._tokens_in_window + tokens > limit:
            excess = self._tokens_in_window + tokens - limit
            for at, cost in log:
                excess -= cost
                if excess <= 0:
                    wait = max(wait, at + self.window - now)
                    break
        return max(0.0, wait)

    def admit(self, tokens: int) -> float:
        """Count one request of *tokens* now: 0.0 when admitted, else the seconds to wait."""
        now = trio.current_time()
        self._expire(now)
        wait = self._wait_for(tokens, now)
        if wait > 0:
            self.refused += 1
            return wait
        self._log.append((now, tokens))
        self._tokens_in_window += tokens
        self.served += 1
        self.served_tokens += tokens
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        return 0.0

    # --- the handler ------------------------------------------------------------------------------

    @staticmethod
    def tokens_of(body: bytes) -> tuple[int, int]:
        """``(input_tokens, output_tokens)`` of a request body (see the module docstring)."""
        try:
            request = json.loads(body)
        except ValueError:
            return 1, 0
        if not isinstance(request, dict):
            return 1, 0
        prompt = request.get("prompt")
        prompt = prompt if isinstance(prompt, str) else ""
        max_tokens = request.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            max_tokens = 0
        spread = int.from_bytes(hashlib.blake2b(prompt.encode(), digest_size=4).digest(), "big")
        output = max_tokens - (spread % (max_tokens // 2 + 1)) if max_tokens else 0
        return max(1, len(prompt) // 4), output

    async def handler(self, request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        """Answer one request: 200 with usage when admitted, else 429 with ``Retry-After``."""
        input_tokens, output_tokens = self.tokens_of(request.body)
        total = input_tokens + output_tokens
        wait = self.admit(total)
        headers = self.rate_limit_headers()
        if wait > 0:
            headers.append(("Retry-After", str(math.ceil(wait))))
            if self.family == "openai":
                headers.append(("retry-after-ms", str(math.ceil(wait * 1000))))
            return HTTPResponse.json({"error": "rate limited"}, status=429, headers=headers)
        if self.latency:
            await trio.sleep(self.latency)
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total}
        return HTTPResponse.json({"text": "ok", "usage": usage}, headers=headers)

    def rate_limit_headers(self) -> list[tuple[str, str]]:
        """The headers of the selected family describing the quota now, plus ``Date``."""
        now = trio.current_time()
        wall = self.epoch + now
        headers = [("Date", email.utils.formatdate(wall, usegmt=True))]
        family = self.family
        if family is None:
            return headers
        log = self._log
        limit = self.requests_per_minute
        remaining = max(0, limit - len(log))
        next_free = (log[0][0] + self.window - now) if log else 0.0  # one unit back
        full = (log[-1][0] + self.window - now) if log else 0.0  # everything back
        token_limit = self.tokens_per_minute
        tokens_left = None if token_limit is None else max(0, token_limit - self._tokens_in_window)
        window = f"{self.window:g}"
        if family == "ietf":
            policy = f'"rpm";q={limit};w={window}'
            current = f'"rpm";r={remaining};t={math.ceil(next_free)}'
            if token_limit is not None:
                policy += f', "tpm";q={token_limit};w={window};qu="tokens"'
                current += f', "tpm";r={tokens_left};t={math.ceil(next_free)}'
            headers += [("RateLimit-Policy", policy), ("RateLimit", current)]
        elif family == "ietf-draft":
            headers += [
                ("RateLimit-Limit", str(limit)),
                ("RateLimit-Remaining", str(remaining)),
                ("RateLimit-Reset", str(math.ceil(next_free))),
                ("RateLimit-Policy", f"{limit};w={window}"),
            ]
        elif family == "openai":
            headers += [
                ("x-ratelimit-limit-requests", str(limit)),
                ("x-ratelimit-remaining-requests", str(remaining)),
                ("x-ratelimit-reset-requests", _go_duration(full)),
            ]
            if token_limit is not None:
                headers += [
                    ("x-ratelimit-limit-tokens", str(token_limit)),
                    ("x-ratelimit-remaining-tokens", str(tokens_left)),
                    ("x-ratelimit-reset-tokens", _go_duration(full)),
                ]
        elif family == "anthropic":
            reset = datetime.fromtimestamp(wall + full, UTC).isoformat().replace("+00:00", "Z")
            headers += [
                ("anthropic-ratelimit-requests-limit", str(limit)),
                ("anthropic-ratelimit-requests-remaining", str(remaining)),
                ("anthropic-ratelimit-requests-reset", reset),
            ]
            if token_limit is not None:
                headers += [
                    ("anthropic-ratelimit-tokens-limit", str(token_limit)),
                    ("anthropic-ratelimit-tokens-remaining", str(tokens_left)),
                    ("anthropic-ratelimit-tokens-reset", reset),
                ]
        else:  # github
            headers += [
                ("x-ratelimit-limit", str(limit)),
                ("x-ratelimit-remaining", str(remaining)),
                ("x-ratelimit-reset", str(math.ceil(wall + next_free))),
                ("x-ratelimit-used", str(len(log))),
            ]
        return headers

    def statistics(self) -> dict[str, Any]:
        """``served``, ``refused``, ``served_tokens`` and the served span in seconds."""
        span = 0.0 if self.first_at is None or self.last_at is None else self.last_at - self.first_at
        return {
            "served": self.served,
            "refused": self.refused,
            "served_tokens": self.served_tokens,
            "span": span,
        }


def _go_duration(seconds: float) -> str:
    """A Go-style duration: ``"6m0s"``, ``"1.5s"``, ``"20ms"``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60.0)
    if minutes:
        return f"{int(minutes)}m{rest:.3g}s"
    return f"{rest:.3g}s"
