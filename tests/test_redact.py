"""The one redaction module: URLs and headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynector._redact import REDACTED, is_sensitive_header, redact_headers, redact_url, scrub_text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@example.com/a?x=1", f"https://{REDACTED}@example.com/a?x=1"),
        ("http://h/p?token=abc&page=2", f"http://h/p?token={REDACTED}&page=2"),
        (
            "http://h/p?api_key=1&API-KEY=2&key=3",
            f"http://h/p?api_key={REDACTED}&API-KEY={REDACTED}&key={REDACTED}",
        ),
        (
            "http://h/p?X-Amz-Signature=s&X-Amz-Credential=c",
            f"http://h/p?X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}",
        ),
        ("http://h/p?password=1&client_secret=2", f"http://h/p?password={REDACTED}&client_secret={REDACTED}"),
        ("http://h/plain?q=search", "http://h/plain?q=search"),
        ("https://h/cb?x=1#access_token=abc&state=s", "https://h/cb?x=1"),
        ("https://u:p@h/cb#token", f"https://{REDACTED}@h/cb"),
        ("/relative#frag", "/relative"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """User-info and sensitive query values are replaced, fragments dropped; the rest stays as written."""
    assert expected == redact_url(url)


@given(st.text())
def test_redact_url_never_raises(text: str) -> None:
    """Any input gives a string."""
    assert isinstance(redact_url(text), str)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-API-Key",
        "Api-Key",
        "X-Auth-Token",
        "X-Client-Secret",
    ],
)
def test_sensitive_headers(name: str) -> None:
    """Credential headers are recognised in any case."""
    assert is_sensitive_header(name)


def test_redact_headers_with_extra_names() -> None:
    """Values of sensitive and user-declared headers become REDACTED; others stay."""
    headers = [("Authorization", "Bearer x"), ("X-Tenant", "t1"), ("Accept", "*/*")]
    assert [("Authorization", REDACTED), ("X-Tenant", REDACTED), ("Accept", "*/*")] == redact_headers(
        headers, extra=["x-tenant"]
    )
    assert [("cookie", REDACTED)] == redact_headers({"cookie": "a=b"})


def test_scrub_text() -> None:
    """Known secret values are removed from free text; very short values are left alone."""
    assert f"failed for {REDACTED} at abc" == scrub_text("failed for hunter22 at abc", ["hunter22", "abc"])
