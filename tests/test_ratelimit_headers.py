"""Rate-limit header parsers: one per family, pure, and never fatal on garbage."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynector._ratelimit_headers import (
    FAMILIES,
    RateLimitInfo,
    parse_anthropic,
    parse_duration,
    parse_github,
    parse_ietf,
    parse_ietf_draft,
    parse_openai,
    parse_rate_limit_headers,
    retry_after_seconds,
    server_now,
)

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_ietf_structured_fields_give_quota_window_remaining_and_reset() -> None:
    """RateLimit-Policy and RateLimit are joined by policy name; qu="tokens" marks a token quota."""
    headers = httpx.Headers(
        {
            "RateLimit-Policy": '"rpm";q=600;w=60, "tpm";q=60000;w=60;qu="tokens"',
            "RateLimit": '"rpm";r=5;t=2, "tpm";r=100;t=3',
        }
    )
    assert [
        RateLimitInfo("requests", 600, 5, 2, 60),
        RateLimitInfo("tokens", 60000, 100, 3, 60),
    ] == parse_ietf(headers)
    assert 10.0 == parse_ietf(headers)[0].sustained_rate


def test_ietf_draft_fields_with_window_from_the_policy() -> None:
    """RateLimit-Limit/-Remaining/-Reset, the window read from RateLimit-Policy."""
    headers = {
        "ratelimit-limit": "100",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "7",
        "ratelimit-policy": "100;w=60",
    }
    assert [RateLimitInfo("requests", 100, 0, 7, 60)] == parse_ietf_draft(headers)
    assert 7 == parse_ietf_draft(headers)[0].wait_for_one()


def test_openai_durations_for_requests_and_tokens() -> None:
    """x-ratelimit-*-requests/-tokens with Go durations; per minute, refilled continuously."""
    headers = {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "599",
        "x-ratelimit-reset-requests": "100ms",
        "x-ratelimit-limit-tokens": "60000",
        "x-ratelimit-remaining-tokens": "59000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert [
        RateLimitInfo("requests", 600, 599, 0.1, 60.0, refill=True),
        RateLimitInfo("tokens", 60000, 59000, 360.0, 60.0, refill=True),
    ] == parse_openai(headers)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("20ms", 0.02), ("1.5s", 1.5), ("7", 7.0), ("0s", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    """Go-style durations and bare numbers are seconds."""
    assert seconds == pytest.approx(parse_duration(text))


@pytest.mark.parametrize("text", ["", "s", "6x", "-1s", "1m-2s", "abc", "25h", "1e400", "nan"])
def test_bad_durations_are_unknown(text: str) -> None:
    """Anything that is not a duration, or is negative or over a day, reads as unknown."""
    assert None is parse_duration(text)


def test_anthropic_rfc3339_resets_against_the_server_clock() -> None:
    """anthropic-ratelimit-* resets are RFC 3339 times measured against the server's now."""
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01.5Z",
    }
    assert [RateLimitInfo("requests", 50, 49, 1.5, 60.0, refill=True)] == parse_anthropic(headers, NOW)


def test_github_epoch_reset_and_delta_reset() -> None:
    """x-ratelimit-reset as epoch seconds is measured against now; a small value is a delay."""
    epoch = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(int(NOW) + 30),
    }
    assert [RateLimitInfo("requests", 5000, 0, 30.0, None)] == parse_github(epoch, NOW)
    delta = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4", "x-ratelimit-reset": "12"}
    assert 12.0 == parse_github(delta, NOW)[0].reset
    past = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 30)}
    assert 0.0 == parse_github(past, NOW)[0].reset


def test_first_family_that_matches_wins_and_date_header_is_the_reference() -> None:
    """parse_rate_limit_headers tries each family; absolute resets use the response's Date."""
    headers = httpx.Headers(
        {
            "Date": email.utils.formatdate(NOW, usegmt=True),
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "1",
            "x-ratelimit-reset": str(int(NOW) + 5),
        }
    )
    assert NOW == server_now(headers)
    assert [RateLimitInfo("requests", 10, 1, 5.0, None)] == parse_rate_limit_headers(headers)
    assert [] == parse_rate_limit_headers(httpx.Headers({"content-type": "text/plain"}))


def test_retry_after_in_milliseconds_seconds_and_dates() -> None:
    """retry-after-ms wins over Retry-After; seconds and HTTP dates go to the one Retry-After parser."""
    assert 0.25 == retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"})
    assert 9.0 == retry_after_seconds({"retry-after": "9"})
    date = email.utils.formatdate(NOW, usegmt=True)
    later = email.utils.formatdate(NOW + 20, usegmt=True)
    assert 20.0 == retry_after_seconds({"retry-after": later, "date": date})
    assert None is retry_after_seconds({"retry-after": "soon"})
    assert 0.0 == retry_after_seconds({"retry-after-ms": "-5"})


HEADER_NAMES = sorted(
    {
        "ratelimit",
        "ratelimit-policy",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "retry-after-ms",
        "date",
    }
)
GARBAGE = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,5})?(e-?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(
        ["nan", "inf", "-inf", "-1", "1e309", '"rpm";r=-5;t=-3', "9999-99-99T99:99:99Z", "1m-1s"]
    ),
    st.from_regex(r'"[a-z]{1,3}";(q|r|t|w)=-?[0-9a-z.]{0,6}(;qu="[a-z]{0,8}")?', fullmatch=True),
)


@given(st.dictionaries(st.sampled_from(HEADER_NAMES), GARBAGE, max_size=8), st.floats(0, 4e9))
def test_garbage_is_ignored_never_fatal_never_negative(headers: dict[str, str], now: float) -> None:
    """Any header values: no parser raises, and no count, reset or wait comes out negative or NaN."""
    for parser in FAMILIES.values():
        for info in parser(headers, now):
            for value in (info.limit, info.remaining, info.reset, info.window, info.wait_for_one()):
                assert value is None or value >= 0
            assert info.sustained_rate is None or info.sustained_rate >= 0
    for info in parse_rate_limit_headers(headers, now):
        assert info.unit in ("requests", "tokens")
    wait = retry_after_seconds(headers)
    assert wait is None or wait >= 0
