"""The event-stream decoder follows the WHATWG parsing rules, however the bytes are chunked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynector import ConfigurationError, DeserializationError, ProtocolError
from pynector.sse import ServerSentEvent, SSEDecoder, encode_event


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    decoder.end_of_input()
    return events


def test_multi_line_data_is_joined_with_newlines() -> None:
    """data: lines of one event are joined with LF, without a trailing LF."""
    assert [ServerSentEvent("YHOO\n+2\n10")] == decode(b"data: YHOO\ndata: +2\ndata: 10\n\n")


def test_comments_are_ignored() -> None:
    """A line starting with a colon is a comment, even alone between events."""
    assert [ServerSentEvent("first")] == decode(b": keep-alive\n\n:another\ndata: first\n\n")


def test_event_type_and_id_are_read_and_the_id_persists() -> None:
    """event: sets the type of its event only; id: persists to later events."""
    events = decode(b"event: add\nid: 7\ndata: a\n\ndata: b\n\n")
    assert [ServerSentEvent("a", "add", "7"), ServerSentEvent("b", "message", "7")] == events


def test_empty_id_resets_the_last_event_id() -> None:
    """An id: with no value sets the last event id to the empty string."""
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\nid\ndata: b\n\n")
    assert ["1", ""] == [event.id for event in events]
    assert "" == decoder.last_event_id


def test_id_containing_nul_is_ignored() -> None:
    """An id: whose value contains NUL leaves the last event id unchanged."""
    assert ["1", "1"] == [e.id for e in decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")]


def test_an_id_without_data_still_sets_the_last_event_id() -> None:
    """A block with only id: dispatches nothing but updates the id used to resume."""
    decoder = SSEDecoder()
    assert [] == decoder.feed(b"id: 42\n\n")
    assert "42" == decoder.last_event_id


def test_bom_is_skipped_once_at_the_start() -> None:
    """A leading UTF-8 byte order mark is not part of the first field name; a later one is data."""
    assert [ServerSentEvent("\ufeffx")] == decode(b"\xef\xbb", b"\xbfdata: \xef\xbb\xbfx\n\n")


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_each_line_end_is_recognised(end: bytes) -> None:
    """LF, CR and CRLF all end lines."""
    assert [ServerSentEvent("a\nb")] == decode(b"data: a" + end + b"data: b" + end + end)


def test_cr_and_lf_split_across_chunks_make_one_line_end() -> None:
    """A CR ending one chunk and a LF starting the next are one CRLF, not a blank line."""
    assert [ServerSentEvent("a\nb")] == decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")


def test_field_without_colon_has_an_empty_value() -> None:
    """A line "data" (no colon) appends an empty line to the data."""
    assert [ServerSentEvent("\n")] == decode(b"data\ndata\n\n")


def test_only_one_leading_space_is_stripped() -> None:
    """One space after the colon is removed, a second one is kept."""
    assert [ServerSentEvent(" two", "a b")] == decode(b"event:a b\ndata:  two\n\n")


@pytest.mark.parametrize("value", [b"abc", b"12a", b"-5", b" ", b"", b"1.5", "\u0663".encode()])
def test_retry_with_garbage_is_ignored(value: bytes) -> None:
    """retry: counts only when its value is ASCII digits."""
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 100\n\nretry:" + value + b"\ndata: x\n\n")
    assert 100 == decoder.retry
    assert [ServerSentEvent("x")] == events


def test_retry_is_reported_on_its_event_and_kept_by_the_decoder() -> None:
    """A valid retry: sets the reconnection time and is shown on the event of its block."""
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 2500\ndata: a\n\ndata: b\n\n")
    assert [2500, None] == [event.retry for event in events]
    assert 2500 == decoder.retry


def test_unknown_fields_are_ignored() -> None:
    """Fields other than event, data, id and retry change nothing."""
    assert [ServerSentEvent("x")] == decode(b"foo: bar\ndata: x\nDATA: y\n\n")


def test_event_without_data_is_not_dispatched_and_its_type_is_reset() -> None:
    """event: alone followed by a blank line dispatches nothing; the next event is a message."""
    assert [ServerSentEvent("x")] == decode(b"event: ping\n\ndata: x\n\n")


def test_an_unterminated_event_at_the_end_is_discarded() -> None:
    """The end of the stream does not dispatch an event lacking its blank line."""
    assert [ServerSentEvent("a")] == decode(b"data: a\n\ndata: b\n")


def test_utf8_split_inside_a_character_decodes_once_whole() -> None:
    """A multi-byte character cut between chunks arrives intact."""
    raw = "data: é漢\n\n".encode()
    assert [ServerSentEvent("é漢")] == decode(*[raw[i : i + 1] for i in range(len(raw))])


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    """Invalid UTF-8 is decoded with replacement characters, as the standard says."""
    assert [ServerSentEvent("a\ufffdb")] == decode(b"data: a\xffb\n\n")


def test_an_event_larger_than_the_limit_is_a_protocol_error() -> None:
    """A server cannot make the decoder buffer without bound: line or data beyond the cap fails."""
    with pytest.raises(ProtocolError, match="max_event_size=16"):
        SSEDecoder(max_event_size=16).feed(b"data: " + b"x" * 32)
    decoder = SSEDecoder(max_event_size=16)
    decoder.feed(b"data: 12345\ndata: 12345\n")
    with pytest.raises(ProtocolError, match="max_event_size=16"):
        decoder.feed(b"data: 12345\n")


def test_json_of_an_event() -> None:
    """ServerSentEvent.json parses the data, and a bad payload is a DeserializationError."""
    assert {"a": 1} == ServerSentEvent('{"a": 1}').json()
    with pytest.raises(DeserializationError, match="'message' event"):
        ServerSentEvent("{").json()


def test_encode_event_refuses_line_breaks_in_single_line_fields() -> None:
    """An event name or id with a line break would forge fields: refused."""
    with pytest.raises(ConfigurationError, match="event"):
        encode_event("x", event="a\nb")
    with pytest.raises(ConfigurationError, match="id"):
        encode_event("x", id="1\x002")


_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_single_line = _texts.filter(lambda t: not any(c in t for c in "\r\n\x00"))
_events = st.builds(
    ServerSentEvent,
    data=_texts,
    event=_single_line.filter(lambda t: t != ""),
    id=_single_line,
    retry=st.none() | st.integers(0, 10**9),
)


@given(
    events=st.lists(_events, max_size=8),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    line_end=st.sampled_from(["\n", "\r", "\r\n"]),
    bom=st.booleans(),
)
def test_round_trip_with_random_chunk_splits(
    events: list[ServerSentEvent], cuts: list[int], line_end: str, bom: bool
) -> None:
    """Encoded events decode to themselves, whatever the chunk boundaries and line ends."""
    text = b"".join(encode_event(e.data, event=e.event, id=e.id, retry=e.retry) for e in events).decode()
    raw = (("\ufeff" if bom else "") + text.replace("\n", line_end)).encode()
    points = sorted({c % (len(raw) + 1) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    # The data's own line ends are normalised to LF by the format.
    expected = [
        ServerSentEvent(e.data.replace("\r\n", "\n").replace("\r", "\n"), e.event, e.id, e.retry)
        for e in events
    ]
    assert expected == decode(*chunks)
