"""The wire rules both HTTP engines share: conflicting framing, and when a failed request is resent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pynector.http._engine import WireRequest, has_conflicting_framing, may_resend

NAMES = st.sampled_from(
    ["Content-Length", "content-length", "CONTENT-LENGTH", "Transfer-Encoding", "transfer-encoding",
     "Content-Type", "Content-Lengths", "X-Transfer-Encoding", "Date"]
)  # fmt: skip


@given(st.lists(st.tuples(NAMES, st.text(max_size=5)), max_size=8), st.booleans())
def test_conflicting_framing_whatever_the_case_and_type(pairs: list[tuple[str, str]], as_bytes: bool) -> None:
    """Conflicting means a Content-Length and a Transfer-Encoding header, names in any case, str or bytes."""
    names = {name.lower() for name, _ in pairs}
    expected = "content-length" in names and "transfer-encoding" in names
    if as_bytes:
        assert expected == has_conflicting_framing([(n.encode(), v.encode()) for n, v in pairs])
    else:
        assert expected == has_conflicting_framing(pairs)


def request(method: str, body: object) -> WireRequest:
    """A wire request with *method* and *body*."""
    return WireRequest(method, "http", "127.0.0.1", 80, "/", (), body)  # type: ignore[arg-type]


def test_resend_only_idempotent_replayable_on_reused_connection_before_any_byte() -> None:
    """Resent once: idempotent method, bytes body, reused connection, no response byte; never otherwise."""
    assert may_resend(request("GET", b""), reused=True, received=False)
    assert may_resend(request("PUT", b"data"), reused=True, received=False)
    assert not may_resend(request("POST", b"data"), reused=True, received=False)
    assert not may_resend(request("PATCH", b""), reused=True, received=False)
    assert not may_resend(request("GET", b""), reused=False, received=False)
    assert not may_resend(request("GET", b""), reused=True, received=True)
    assert not may_resend(request("PUT", iter([b"streamed"])), reused=True, received=False)
