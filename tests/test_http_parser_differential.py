"""The native engine's response parser against h11, the oracle it replaced.

Hypothesis builds valid and hostile HTTP/1.1 responses (odd header casing, repeated headers,
Content-Length, chunked and close-delimited bodies, chunk extensions, trailers, 1xx responses before
the final one, HEAD/204/304, and mutations: conflicting lengths, Content-Length with
Transfer-Encoding, bad chunk sizes, obs-fold, bad tokens, bare LF, NUL and control bytes, extra
bytes), splits them at random (down to one byte per read), and feeds the same reads to
``pynector.http._parser.ResponseParser`` and to an ``h11.Connection(h11.CLIENT)`` that sent a
matching request. Both must accept the same messages with the same status, reason, version,
headers in order, body, trailers, trailing bytes and keep-alive decision, and refuse the same ones.

Deliberate differences (each with its own test below):

- A head larger than ``max_header_bytes`` is refused by our parser even when it arrives complete in
  one read; h11 bounds only an incomplete head. Stricter on purpose: the limit is the user's.
- After a close-delimited body h11 still reports the server side ``DONE`` (the closed socket is
  noticed later); our parser says at once that the connection cannot be reused. The oracle counts
  an end of stream read as "not reusable", which is what the engine did with h11 in effect (the
  pool's idle probe found the socket closed).
- Content-Length together with Transfer-Encoding is accepted by both parsers (chunked wins, as in
  h11); the *engine* refuses such a response (RFC 9112 section 6.3), so the engine is stricter.
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynector.http._parser import END, FramingError, ParseError, ResponseParser, frame_request_head

LARGE = 1 << 20

Outcome = tuple[object, ...]


def run_h11(method: bytes, pieces: list[bytes], close_request: bool) -> Outcome:
    """What h11 makes of *pieces* (then end of stream) as the response to a *method* request."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=LARGE)
    headers = [("Host", "example.org")]
    if close_request:
        headers.append(("Connection", "close"))
    conn.send(h11.Request(method=method, target="/", headers=headers))
    conn.send(h11.EndOfMessage())
    response: h11.Response | None = None
    body = bytearray()
    feed = [*pieces, b""]
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if not feed:
                    return ("stuck",)
                conn.receive_data(feed.pop(0))
            elif type(event) is h11.InformationalResponse:
                continue
            elif type(event) is h11.Response:
                response = event
            elif type(event) is h11.Data:
                body += event.data
            elif type(event) is h11.EndOfMessage:
                break
            else:
                return ("refused", type(event).__name__)
    except h11.RemoteProtocolError:
        return ("refused",)
    assert response is not None
    closed = not feed  # the end of stream was read (a close-delimited body)
    for piece in feed[:-1]:  # what is left of the reads arrives after the message
        conn.receive_data(piece)
    trailing = len(conn.trailing_data[0])
    reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE and not trailing and not closed
    return (
        response.status_code,
        response.reason,
        response.http_version,
        list(response.headers.raw_items()),
        bytes(body),
        list(event.headers.raw_items()),
        trailing,
        reusable,
    )


def run_ours(
    method: bytes,
    pieces: list[bytes],
    close_request: bool,
    limit: int = LARGE,
    parser: ResponseParser | None = None,
) -> Outcome:
    """What our parser (a new one, or *parser* between exchanges) makes of the same reads."""
    if parser is None:
        parser = ResponseParser(limit)
    parser.start(method, keep_alive=not close_request)
    parser.request_done = True
    feed = [*pieces, b""]
    body = bytearray()
    try:
        while (head := parser.next_head()) is None:
            parser.receive_data(feed.pop(0))
        while True:
            piece = parser.next_body()
            if piece is END:
                break
            if piece is None:
                if not feed:
                    return ("stuck",)
                parser.receive_data(feed.pop(0))
            else:
                assert isinstance(piece, bytes)
                assert piece
                body += piece
    except ParseError:
        return ("refused",)
    for piece in feed[:-1]:
        parser.receive_data(piece)
    return (
        head.status_code,
        head.reason,
        head.http_version,
        list(head.headers),
        bytes(body),
        parser.trailers,
        parser.trailing,
        parser.reusable(),
    )


# --- generating responses ---------------------------------------------------------------------------

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
KNOWN_NAMES = ["Content-Type", "Connection", "Server", "Set-Cookie", "X-Trace", "Vary", "Date", "Trailer"]


@st.composite
def names(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(KNOWN_NAMES) | st.text(TOKEN_CHARS, min_size=1, max_size=12))
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in name)


values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12).map(
    str.encode
) | st.sampled_from([b"", b"close", b"keep-alive", b"a  b", b"\xe9t\xe9", b"x\tx", b"Close, Upgrade"])


@st.composite
def header_block(draw: st.DrawFn) -> list[bytes]:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(names()).encode()
        sep = draw(st.sampled_from([b": ", b":", b":\t", b":  "]))
        trail = draw(st.sampled_from([b"", b"", b" ", b"\t"]))
        lines.append(name + sep + draw(values) + trail)
    return lines


@st.composite
def chunked_body(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(wire bytes, decoded body) of a chunked body with extensions and trailers."""
    wire = bytearray()
    body = bytearray()
    for data in draw(st.lists(st.binary(min_size=1, max_size=20), max_size=4)):
        size = f"{len(data):x}"
        size = size.upper() if draw(st.booleans()) else size
        ext = draw(st.sampled_from([b"", b";a=b", b";x", b' ;q="1"', b"  "]))
        wire += size.encode() + ext + b"\r\n" + data + b"\r\n"
        body += data
    wire += b"0" + draw(st.sampled_from([b"", b";end"])) + b"\r\n"
    for line in draw(header_block()):
        wire += line + b"\r\n"
    wire += b"\r\n"
    return bytes(wire), bytes(body)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """A well-formed response (1xx responses first, sometimes), CRLF or bare-LF line endings."""
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]))
    out = bytearray()
    for _ in range(draw(st.integers(0, 2))):
        code = draw(st.sampled_from([100, 102, 103, 199]))
        out += b"HTTP/1.1 %d Info" % code + eol
        for line in draw(header_block()):
            out += line + eol
        out += eol
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.0"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 304, 404, 500, 599]))
    reason = draw(st.sampled_from([b" OK", b" ", b"", b" Not Found", b" a\tb \xff"]))
    out += b"HTTP/" + version + b" %d" % status + reason + eol
    lines = draw(header_block())
    framing = draw(st.sampled_from(["length", "chunked", "close", "length-twice"]))
    body = draw(st.binary(max_size=40))
    if framing == "chunked":
        payload, _ = draw(chunked_body())
        lines.append(draw(st.sampled_from([b"Transfer-Encoding: chunked", b"transfer-encoding: Chunked"])))
    else:
        payload = body
        if framing != "close":
            lines.append(b"Content-Length: %d" % len(body))
        if framing == "length-twice":
            lines.append(b"content-length: %d" % len(body))
    for line in draw(st.permutations(lines)):
        out += line + eol
    out += eol + payload
    if draw(st.booleans()):
        out += draw(st.sampled_from([b"HTTP/1.1 200 OK\r\n", b"x", b"\r\n"]))
    return bytes(out)


HOSTILE = [
    b"Content-Length: 5\r\nContent-Length: 6",
    b"Content-Length: 5, 6",
    b"Content-Length: 5, 5",
    b"Content-Length: -1",
    b"Content-Length: 0x10",
    b"Content-Length: 1 2",
    b"Content-Length: 123456789012345678901",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding: chunked\r\nContent-Length: 3",
    b" folded",
    b"X-A: a\r\n  folded",
    b"X-A: a\r\n\tfolded",
    b"Bad Name: x",
    b"Bad\x00: x",
    b"X-A : x",
    b": empty",
    b"X-A: a\x00b",
    b"X-A: a\x7fb",
    b"X-A: a\rb",
    b"X-A: a\x0bb",
    b"NoColon",
]
INTERESTING = b"\x00\r\n \t:;,0Fz-\x7f\xff"


@st.composite
def hostile_responses(draw: st.DrawFn) -> bytes:
    """A response with a hostile header line, a broken chunk or random byte mutations."""
    raw = bytearray(draw(responses()))
    kind = draw(st.sampled_from(["header", "chunk", "mutate", "status"]))
    if kind == "header":
        line = draw(st.sampled_from(HOSTILE))
        cut = raw.index(b"\n") + 1
        if draw(st.booleans()):
            cut = raw.rindex(b"HTTP/")  # just after the final status line
            cut = raw.index(b"\n", cut) + 1
        raw[cut:cut] = line + b"\r\n"
    elif kind == "chunk":
        chunk = draw(
            st.sampled_from(
                [b"zz", b"-1", b"0x5", b" 5", b"5 ;x", b"123456789012345678901", b"", b"5\x00", b"+5"]
            )
        )
        data = draw(st.sampled_from([b"abcde\r\n", b"abcde", b"abcdeXY", b"abcde\n", b"abcde\r"]))
        raw = bytearray(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"5\r\n"
            + data
            + chunk
            + b"\r\n"
            + draw(st.sampled_from([b"", b"0\r\n\r\n", b"0\r\nX: y\r\n\r\n", b"0\r\nBad Name: y\r\n\r\n"]))
        )
    elif kind == "status":
        line = draw(
            st.sampled_from(
                [
                    b"HTTP/1.1 200",
                    b"HTTP/1.1  200 OK",
                    b"HTTP/1.1 20 OK",
                    b"HTTP/1.1 2000 OK",
                    b"HTTP/2 200 OK",
                    b"HTTP/1.1 099 Odd",
                    b"http/1.1 200 OK",
                    b"HTTP/1.1 200 O\x00K",
                    b"ICY 200 OK",
                    b"",
                    b"\r\nHTTP/1.1 200 OK",
                ]
            )
        )
        cut = raw.index(b"\n")
        raw[: cut - (raw[cut - 1 : cut] == b"\r")] = line
    for _ in range(draw(st.integers(0 if kind != "mutate" else 1, 3))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        byte = draw(st.sampled_from(INTERESTING))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "replace":
            raw[at] = byte
        elif op == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    return bytes(raw)


@st.composite
def splits(draw: st.DrawFn, raw: bytes) -> list[bytes]:
    """*raw* cut into reads: whole, one byte each, or at random points."""
    how = draw(st.sampled_from(["whole", "bytes", "random", "random"]))
    if how == "whole" or not raw:
        return [raw] if raw else []
    if how == "bytes":
        return [raw[i : i + 1] for i in range(len(raw))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=8)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True) if raw[a:b]]


methods = st.sampled_from([b"GET", b"GET", b"POST", b"HEAD"])


def check(method: bytes, pieces: list[bytes], close_request: bool) -> Outcome:
    expected = run_h11(method, pieces, close_request)
    actual = run_ours(method, pieces, close_request)
    assert expected == actual, b"".join(pieces)
    return actual


# --- the properties -------------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), methods, responses(), st.booleans())
def test_valid_responses_parse_as_h11_parses_them(
    data: st.DataObject, method: bytes, raw: bytes, close_request: bool
) -> None:
    check(method, data.draw(splits(raw)), close_request)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), methods, hostile_responses())
def test_hostile_responses_are_refused_as_h11_refuses_them(
    data: st.DataObject, method: bytes, raw: bytes
) -> None:
    check(method, data.draw(splits(raw)), False)


@pytest.mark.slow
@settings(max_examples=5000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data(), methods, responses() | hostile_responses(), st.booleans())
def test_many_more_responses_agree_with_h11(
    data: st.DataObject, method: bytes, raw: bytes, close_request: bool
) -> None:
    check(method, data.draw(splits(raw)), close_request)


def warmed_parser(method: bytes, raw: bytes) -> ResponseParser | None:
    """A parser that has read the whole response *raw* and may carry the next one (``None`` if it
    may not): what a pooled connection's parser is when its next exchange starts."""
    parser = ResponseParser(LARGE)
    parser.start(method)
    parser.request_done = True
    parser.receive_data(raw)
    try:
        if parser.next_head() is None:
            return None
        while (piece := parser.next_body()) is not END:
            if piece is None:
                return None
    except ParseError:
        return None
    return parser if parser.reusable() else None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), methods, methods, responses(), responses() | hostile_responses(), st.booleans())
def test_a_parser_that_read_earlier_responses_agrees_with_h11(
    data: st.DataObject,
    earlier_method: bytes,
    method: bytes,
    earlier: bytes,
    raw: bytes,
    close_request: bool,
) -> None:
    """A connection's parser remembers the header lines and the whole heads it has validated: a later
    response, valid or hostile (the same head again, or another), to the same request method or
    another (a remembered head is framed anew for each request), is still parsed and refused
    exactly as h11 does."""
    pieces = data.draw(splits(raw))
    for first in (raw, earlier):  # the same head again, and another
        parser = warmed_parser(earlier_method, first)
        if parser is None:
            continue
        assert run_h11(method, pieces, close_request) == run_ours(
            method, pieces, close_request, parser=parser
        ), raw


# --- direct tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nh",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nh",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n",
    ],
)
def test_refusals_one_byte_at_a_time(raw: bytes) -> None:
    """Each of these is refused whether it arrives whole or one byte per read, as h11 refuses it."""
    for pieces in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        assert ("refused",) == check(b"GET", pieces, False)


def test_a_typical_response_in_detail() -> None:
    """Status, reason, version, headers (names as sent, in order), body, trailers and reuse."""
    raw = (
        b"HTTP/1.1 200 Fine\r\nX-One: 1\r\nx-TWO: \t2 \r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    outcome = check(b"GET", [raw], False)
    assert (
        200,
        b"Fine",
        b"1.1",
        [(b"X-One", b"1"), (b"x-TWO", b"2"), (b"Transfer-Encoding", b"chunked")],
        b"abcde",
        [(b"X-Trailer", b"t")],
        0,
        True,
    ) == outcome


@pytest.mark.parametrize(
    ("raw", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", False),
    ],
)
def test_keep_alive_decisions(raw: bytes, reusable: bool) -> None:
    """Connection: close and HTTP/1.0 end the connection after the response, as h11 decides."""
    assert reusable is check(b"GET", [raw], False)[-1]


def test_a_request_with_connection_close_is_not_reused() -> None:
    assert False is check(b"GET", [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], True)[-1]


@pytest.mark.parametrize("method", [b"HEAD", b"GET"])
@pytest.mark.parametrize("status", [204, 304, 200])
def test_bodiless_responses(method: bytes, status: int) -> None:
    """HEAD, 204 and 304 have no body whatever the headers say; the bytes after are trailing."""
    raw = b"HTTP/1.1 %d X\r\nContent-Length: 3\r\n\r\nabc" % status
    outcome = check(method, [raw], False)
    bodiless = method == b"HEAD" or status != 200
    assert (b"" if bodiless else b"abc", 3 if bodiless else 0) == (outcome[4], outcome[6])


def test_an_oversized_head_is_refused_complete_or_not() -> None:
    """Deliberate difference: a head over the limit arriving whole is refused (h11 accepts it); one
    arriving byte by byte is refused by both."""
    raw = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 3000 + b"\r\nContent-Length: 0\r\n\r\n"
    parser = ResponseParser(2048)
    parser.receive_data(raw)
    with pytest.raises(ParseError) as info:
        parser.next_head()
    assert info.value.too_large
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=2048)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    assert type(conn.next_event()) is h11.Response  # h11: complete, so accepted
    pieces = [raw[i : i + 100] for i in range(0, len(raw), 100)]
    assert ("refused",) == run_ours(b"GET", pieces, False, limit=2048)


def test_content_length_with_chunked_parses_as_chunked() -> None:
    """Both parsers let chunked win over Content-Length (the engine then refuses the response)."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    assert b"a" == check(b"GET", [raw], False)[4]


def test_end_of_stream_mid_body_is_refused() -> None:
    for raw in (
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ):
        parser = ResponseParser(4096)
        parser.receive_data(raw)
        parser.receive_data(b"")
        assert parser.next_head() is not None
        assert parser.next_body() in (b"abc", b"ab")  # what arrived is handed out first
        with pytest.raises(ParseError) as info:
            parser.next_body()
        assert info.value.closed


def test_a_content_length_body_read_whole_is_not_copied_again() -> None:
    """A body that arrives after its head in one read is handed out as those very bytes."""
    parser = ResponseParser(4096)
    parser.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert parser.next_head() is not None
    assert parser.next_body() is None
    data = b"hello"
    parser.receive_data(data)
    assert parser.next_body() is data
    assert parser.next_body() is END


# --- request heads ---------------------------------------------------------------------------------


def test_request_head_matches_h11() -> None:
    """The head bytes are what h11 writes for the same request (Host first)."""
    headers = [("X-A", "1"), ("Host", "example.org"), ("Content-Length", "3")]
    head, length = frame_request_head("POST", "/p?q=1", headers)
    conn = h11.Connection(h11.CLIENT)
    assert conn.send(h11.Request(method="POST", target="/p?q=1", headers=headers)) == head
    assert 3 == length
    assert -1 == frame_request_head("POST", "/", [("Host", "a"), ("Transfer-Encoding", "Chunked")])[1]


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GE T", "/", [("Host", "a")]),
        ("GET", "/a b", [("Host", "a")]),
        ("GET", "/", []),
        ("GET", "/", [("Host", "a"), ("Bad Name", "x")]),
        ("GET", "/", [("Host", "a"), ("X", "a\r\nInjected: 1")]),
        ("GET", "/", [("Host", "a"), ("X", " padded")]),
        ("GET", "/", [("Host", "a"), ("X", "caf\u00e9")]),
        ("GET", "/", [("Host", "a"), ("Content-Length", "1"), ("Content-Length", "2")]),
        ("GET", "/", [("Host", "a"), ("Transfer-Encoding", "gzip")]),
    ],
)
def test_request_heads_h11_refuses_are_refused(
    method: str, target: str, headers: list[tuple[str, str]]
) -> None:
    with pytest.raises(FramingError):
        frame_request_head(method, target, headers)
    with pytest.raises((h11.LocalProtocolError, UnicodeEncodeError)):
        h11.Connection(h11.CLIENT).send(h11.Request(method=method, target=target, headers=headers))
