"""Rate-limit response headers: one pure parser per family, all normalised to :class:`RateLimitInfo`.

Services announce their quota in several dialects. Each parser below reads one family, never raises,
and ignores what it cannot read (a garbage value makes that one field unknown, never an error, never a
negative wait). They take the response headers (any mapping with a case-insensitive ``get``, such as
``httpx.Headers``; a plain ``dict`` needs lower-case keys) and, for the families that send absolute
times, ``now``: the current time in seconds since the epoch *as the server sees it* (the response's
``Date`` header when it has one, see :func:`server_now`), so clock skew between client and server
cancels out.

Families read (first match wins in :func:`parse_rate_limit_headers`):

==================  ==========================================================================
family              headers
==================  ==========================================================================
``ietf``            ``RateLimit-Policy: "day";q=1000;w=86400`` and ``RateLimit: "day";r=50;t=30``
                    (the current structured fields: quota ``q``, window ``w``, remaining ``r``,
                    seconds to reset ``t``; ``qu="tokens"`` marks a token quota)
``ietf-draft``      ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (delta seconds),
                    with an optional ``RateLimit-Policy: 100;w=60`` (earlier drafts)
``openai``          ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as Go-style
                    durations (``6m0s``, ``1.5s``, ``20ms``); limits per minute, refilled
                    continuously (the reset is when the bucket is full again)
``anthropic``       ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``, resets as
                    RFC 3339 times; per minute, refilled continuously
``github``          ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (the end of
                    a fixed window, as epoch seconds; a small value is taken as delta seconds)
==================  ==========================================================================

``Retry-After`` (seconds or an HTTP date) and ``retry-after-ms`` are read by :func:`retry_after_seconds`,
which delegates the former to the one ``Retry-After`` parser of the HTTP layer.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ._httpcommon import parse_retry_after

__all__ = [
    "FAMILIES",
    "RateLimitInfo",
    "parse_anthropic",
    "parse_duration",
    "parse_github",
    "parse_ietf",
    "parse_ietf_draft",
    "parse_openai",
    "parse_rate_limit_headers",
    "retry_after_seconds",
    "server_now",
]

#: Waits and windows longer than this (a day) are treated as garbage.
MAX_SECONDS = 86400.0
#: Counts above this are treated as garbage.
MAX_COUNT = 1e12
#: An ``x-ratelimit-reset`` at or above this is an epoch time, below it a delay in seconds.
EPOCH_THRESHOLD = 1e9


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What one response says about one quota.

    Attributes:
        unit: ``"requests"`` or ``"tokens"``.
        limit: the quota (units per window), or ``None`` when not stated.
        remaining: units left now, or ``None``.
        reset: seconds from now until the quota is restored (>= 0), or ``None``.
        window: the quota's window in seconds, or ``None`` when not stated.
        refill: ``True`` when the service refills continuously and *reset* is the time until the
            bucket is full again (OpenAI, Anthropic); ``False`` for a window that restores everything
            at *reset* (IETF fields, GitHub).
    """

    unit: str
    limit: float | None
    remaining: float | None
    reset: float | None
    window: float | None
    refill: bool = False

    @property
    def sustained_rate(self) -> float | None:
        """Units per second the quota sustains (``limit / window``), when both are known."""
        if self.limit is None or not self.window:
            return None
        return self.limit / self.window

    def wait_for_one(self) -> float | None:
        """Seconds until at least one more unit is available when none remains, or ``None``."""
        if self.reset is None:
            return None
        if self.refill and self.limit is not None and self.remaining is not None:
            missing = self.limit - self.remaining
            if missing > 0:
                return self.reset / missing * max(1.0, 1.0 - self.remaining)
        return self.reset


def _count(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_COUNT else None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 <= number <= MAX_SECONDS else None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(value: str | None) -> float | None:
    """Seconds from a Go-style duration (``"6m0s"``, ``"1h2m3.5s"``, ``"20ms"``) or a bare number.

    Returns ``None`` for anything else, for a negative value and for more than a day.
    """
    if value is None:
        return None
    text = value.strip()
    bare = _seconds(text)
    if bare is not None:
        return bare
    if not text or len(text) > 64:
        return None
    total = 0.0
    position = 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        return None
    return total if total <= MAX_SECONDS else None


def server_now(headers: Mapping[str, str]) -> float:
    """The server's current time (epoch seconds): its ``Date`` header when valid, else the local clock."""
    date = headers.get("date")
    if date:
        try:
            when = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None and when.tzinfo is not None:
            return when.timestamp()
    return time.time()


def _until(value: str | None, now: float) -> float | None:
    """Seconds from *now* until an RFC 3339 time (a past time gives 0)."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > 64:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    try:
        seconds = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_SECONDS) if seconds <= MAX_SECONDS else None


def _complete(info: RateLimitInfo) -> RateLimitInfo | None:
    """*info* when it carries something usable, else ``None``."""
    if info.limit is None and info.remaining is None:
        return None
    return info


# --- the families -----------------------------------------------------------------------------------

_ITEM_PARAM = re.compile(r';\s*([a-z*][a-z0-9_.*-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


def _structured_items(value: str | None) -> dict[str, dict[str, str]]:
    """The items of a structured-field list (``"name";k=v;k=v, ...``) as ``{name: {param: value}}``.

    A lenient reader of the subset the rate-limit fields use; unreadable items are skipped.
    """
    items: dict[str, dict[str, str]] = {}
    if not value or len(value) > 4096:
        return items
    for raw in value.split(","):
        part = raw.strip()
        if not part:
            continue
        head, _, _ = part.partition(";")
        name = head.strip().strip('"')
        params = {m.group(1): m.group(2).strip('"') for m in _ITEM_PARAM.finditer(part[len(head) :])}
        items[name] = params
    return items


def parse_ietf(headers: Mapping[str, str], now: float = 0.0) -> list[RateLimitInfo]:
    """The structured ``RateLimit`` / ``RateLimit-Policy`` fields (one info per named policy).

    ``RateLimit-Policy: "min";q=600;w=60`` gives the quota and window, ``RateLimit: "min";r=5;t=2`` the
    remaining units and the seconds to reset. ``qu="tokens"`` marks a token quota; other units
    (``content-bytes``, ``concurrent-requests``) are not rate quotas and are skipped.
    """
    current = _structured_items(headers.get("ratelimit"))
    if not current or not any("r" in params for params in current.values()):
        return []
    policies = _structured_items(headers.get("ratelimit-policy"))
    infos = []
    for name, params in current.items():
        policy = policies.get(name, {})
        unit = policy.get("qu", params.get("qu", "requests"))
        if unit not in ("requests", "tokens"):
            continue
        info = _complete(
            RateLimitInfo(
                unit=unit,
                limit=_count(policy.get("q")),
                remaining=_count(params.get("r")),
                reset=_seconds(params.get("t")),
                window=_positive(_seconds(policy.get("w"))),
            )
        )
        if info is not None:
            infos.append(info)
    return infos


def _positive(value: float | None) -> float | None:
    return value if value else None


def parse_ietf_draft(headers: Mapping[str, str], now: float = 0.0) -> list[RateLimitInfo]:
    """The earlier drafts' ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` fields.

    ``RateLimit-Limit`` may carry policies after the number (``100, 100;w=60``), and
    ``RateLimit-Policy: 100;w=60`` may state the window; the first window found is used.
    """
    remaining = headers.get("ratelimit-remaining")
    limit_field = headers.get("ratelimit-limit")
    if remaining is None and limit_field is None:
        return []
    limit = _count(None if limit_field is None else limit_field.split(",")[0].split(";")[0])
    window = None
    for field_value in (headers.get("ratelimit-policy"), limit_field):
        match = None if not field_value else re.search(r";\s*w\s*=\s*(\d+(?:\.\d+)?)", field_value[:4096])
        if match is not None:
            window = _positive(_seconds(match.group(1)))
            break
    info = _complete(
        RateLimitInfo(
            unit="requests",
            limit=limit,
            remaining=_count(remaining),
            reset=_seconds(headers.get("ratelimit-reset")),
            window=window,
        )
    )
    return [] if info is None else [info]


def parse_openai(headers: Mapping[str, str], now: float = 0.0) -> list[RateLimitInfo]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (OpenAI and compatible APIs).

    Limits are per minute and refill continuously; the reset is a Go-style duration until full.
    """
    infos = []
    for unit in ("requests", "tokens"):
        info = _complete(
            RateLimitInfo(
                unit=unit,
                limit=_count(headers.get(f"x-ratelimit-limit-{unit}")),
                remaining=_count(headers.get(f"x-ratelimit-remaining-{unit}")),
                reset=parse_duration(headers.get(f"x-ratelimit-reset-{unit}")),
                window=60.0,
                refill=True,
            )
        )
        if info is not None:
            infos.append(info)
    return infos


def parse_anthropic(headers: Mapping[str, str], now: float) -> list[RateLimitInfo]:
    """``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``; resets are RFC 3339 times.

    Limits are per minute and refill continuously; *now* is the server's time (:func:`server_now`).
    """
    infos = []
    for unit in ("requests", "tokens"):
        prefix = f"anthropic-ratelimit-{unit}-"
        info = _complete(
            RateLimitInfo(
                unit=unit,
                limit=_count(headers.get(prefix + "limit")),
                remaining=_count(headers.get(prefix + "remaining")),
                reset=_until(headers.get(prefix + "reset"), now),
                window=60.0,
                refill=True,
            )
        )
        if info is not None:
            infos.append(info)
    return infos


def parse_github(headers: Mapping[str, str], now: float) -> list[RateLimitInfo]:
    """``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (GitHub style).

    The reset is the end of a fixed window in epoch seconds, measured against *now* (the server's
    time); a value below :data:`EPOCH_THRESHOLD` is read as delay seconds, which some servers send.
    """
    remaining = headers.get("x-ratelimit-remaining")
    limit = headers.get("x-ratelimit-limit")
    if remaining is None and limit is None:
        return []
    reset = _count(headers.get("x-ratelimit-reset"))
    seconds = None
    if reset is not None:
        if reset >= EPOCH_THRESHOLD:
            delta = reset - now
            seconds = max(0.0, delta) if delta <= MAX_SECONDS else None
        else:
            seconds = reset if reset <= MAX_SECONDS else None
    info = _complete(
        RateLimitInfo(
            unit="requests", limit=_count(limit), remaining=_count(remaining), reset=seconds, window=None
        )
    )
    return [] if info is None else [info]


#: The parsers by family name, in the order :func:`parse_rate_limit_headers` tries them.
FAMILIES: dict[str, Callable[[Mapping[str, str], float], list[RateLimitInfo]]] = {
    "ietf": parse_ietf,
    "ietf-draft": parse_ietf_draft,
    "openai": parse_openai,
    "anthropic": parse_anthropic,
    "github": parse_github,
}


def parse_rate_limit_headers(headers: Mapping[str, str], now: float | None = None) -> list[RateLimitInfo]:
    """The quotas announced by *headers*, from the first family that yields any (see the table above).

    Args:
        headers: the response headers (case-insensitive mapping, or a dict with lower-case keys).
        now: the server's time in epoch seconds (default: :func:`server_now` of *headers*).

    Never raises for any header value; returns ``[]`` when no family matched.
    """
    reference: float | None = now
    for parser in FAMILIES.values():
        if parser is parse_anthropic or parser is parse_github:
            if reference is None:
                reference = server_now(headers)
            infos = parser(headers, reference)
        else:
            infos = parser(headers, 0.0)
        if infos:
            return infos
    return []


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks to wait: ``retry-after-ms`` (OpenAI), else ``Retry-After``.

    ``Retry-After`` (seconds or an HTTP date, measured against the response's ``Date``) is read by
    the HTTP layer's parser. ``None`` when absent or malformed; never negative.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            milliseconds = float(raw_ms)
        except ValueError:
            pass
        else:
            if math.isfinite(milliseconds):
                return max(0.0, milliseconds / 1000.0)
    return parse_retry_after(headers.get("retry-after"), headers.get("date"))
