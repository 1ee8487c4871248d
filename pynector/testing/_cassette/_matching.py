"""Matching: which recorded exchange answers a live request.

The naive replay compares each live request with every recorded exchange and takes the first that
matches. That is quadratic over a long cassette, and it compares the live request as the code sent
it with a recorded one that was redacted, so no request carrying a secret would ever match. Here
both sides are redacted records, and with named matchers (:data:`MATCHERS`) a request is reduced
once to a hashable key (the transport kind, the operation, and what each matcher looks at): in
``order="sequence"`` the live key is compared with the next unused exchange's, in ``order="any"``
the unused exchanges wait in a queue per key. Only callable matchers fall back to calling each
matcher on each exchange. A request that finds nothing gets an error naming the three closest
exchanges and what differs in each.
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._redaction import Secrets

__all__ = [
    "BUILTIN_MATCHERS",
    "DEFAULT_MATCH_ON",
    "MATCHERS",
    "Entry",
    "Live",
    "Matcher",
    "RecordedExchanges",
    "describe_request",
]

#: The built-in matchers (``match_on=``); a callable ``(recorded, live) -> bool`` is a matcher too.
MATCHERS = ("method", "url", "host", "path", "query", "headers", "body", "json_body")
#: What requests are matched on by default.
DEFAULT_MATCH_ON = ("method", "url", "body")

Matcher = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


def _split(url: Any) -> Any:
    try:
        return urlsplit(str(url))
    except ValueError:
        return urlsplit("")


def _json_or_text(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        try:
            return json.loads(body["text"])
        except ValueError:
            return body["text"]
    return body


BUILTIN_MATCHERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "method": lambda r: r.get("method"),
    "url": lambda r: r.get("url"),
    "host": lambda r: _split(r.get("url")).netloc,
    "path": lambda r: _split(r.get("url")).path,
    "query": lambda r: sorted(parse_qsl(_split(r.get("url")).query, keep_blank_values=True)),
    "headers": lambda r: sorted(map(tuple, r.get("headers") or ())),
    "body": lambda r: (r.get("body"), r.get("options")),
    "json_body": lambda r: (_json_or_text(r.get("body")), r.get("options")),
}


def _freeze(value: Any) -> Any:
    """*value* (JSON data) as a hashable key: equal JSON, equal key, whatever the key order."""
    if value is None or type(value) is str:
        return value
    return _KEY_ENCODER(value)


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=repr).encode


def describe_request(request: Mapping[str, Any]) -> str:
    """A request record in one line: method and URL, or the start of the request value."""
    if "method" in request or "url" in request:
        return f"{request.get('method', '?')} {request.get('url', '?')}"
    return _short(json.dumps(request.get("body"), ensure_ascii=False))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Live:
    """A request being made, as it is matched and recorded."""

    kind: str
    op: str
    request: dict[str, Any]
    secrets: Secrets
    key: tuple[Any, ...] | None


@dataclass(eq=False)
class Entry:
    """One recorded exchange, as read or being recorded."""

    record: dict[str, Any]
    key: tuple[Any, ...] | None = None
    used: bool = False
    new: bool = False
    done: bool = True

    @property
    def request(self) -> dict[str, Any]:
        return self.record["request"]  # type: ignore[no-any-return]


class RecordedExchanges:
    """The exchanges of one cassette, in file order (read, then recorded), and which of them answers
    a live request.

    Args:
        match_on: the cassette's matchers (names of :data:`MATCHERS` or callables), already checked.
        order: ``"sequence"`` or ``"any"``.
    """

    def __init__(self, match_on: Sequence[str | Matcher], order: str) -> None:
        self.match_on = match_on
        self.entries: list[Entry] = []
        self._keyed = all(isinstance(m, str) for m in match_on)
        self._sequence = order == "sequence"
        self._next = 0  # sequence mode: the first entry not yet used
        # order="any" with named matchers: the unused entries of each request key, oldest first.
        self._index: dict[tuple[Any, ...], deque[Entry]] = {}

    def key(self, kind: str, op: str, request: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The key of a request record (``None`` when a matcher is a callable)."""
        if not self._keyed:
            return None
        parts: list[Any] = [kind, op]
        for name in self.match_on:
            parts.append(_freeze(BUILTIN_MATCHERS[str(name)](request)))
        return tuple(parts)

    def index_entries(self) -> None:
        """Queue the entries read so far by their keys (for ``order="any"``)."""
        if self._keyed:
            for entry in self.entries:
                self._index.setdefault(entry.key or (), deque()).append(entry)

    def find(self, live: Live) -> Entry | None:
        """The recorded exchange answering *live* (marked used), or ``None``."""
        if self._sequence:
            entries = self.entries
            position = self._next
            while position < len(entries) and (entries[position].used or entries[position].new):
                position += 1
            self._next = position
            if position < len(entries):
                entry = entries[position]
                key = live.key
                if (entry.key == key) if key is not None else self._matches(entry, live):
                    entry.used = True
                    return entry
            return None
        if self._keyed:
            waiting = self._index.get(live.key or ())
            while waiting:
                entry = waiting.popleft()
                if not entry.used:
                    entry.used = True
                    return entry
            return None
        for entry in self.entries:
            if not entry.used and not entry.new and self._matches(entry, live):
                entry.used = True
                return entry
        return None

    def _failed_matchers(self, entry: Entry, kind: str, op: str, request: Mapping[str, Any]) -> list[str]:
        record = entry.record
        failed: list[str] = []
        if record["transport"] != kind or record["op"] != op:
            failed.append("transport")
        for matcher in self.match_on:
            if callable(matcher):
                if not matcher(entry.request, request):
                    failed.append(getattr(matcher, "__name__", "matcher"))
            else:
                rule = BUILTIN_MATCHERS[matcher]
                if rule(entry.request) != rule(request):
                    failed.append(matcher)
        return failed

    def _matches(self, entry: Entry, live: Live) -> bool:
        if live.key is not None and entry.key is not None:
            return entry.key == live.key
        return not self._failed_matchers(entry, live.kind, live.op, live.request)

    def explain(self, live: Live) -> list[str]:
        """Lines saying why nothing answered *live*: the next exchange in sequence, and the three
        closest recorded exchanges with what differs in each."""
        kind, op, request = live.kind, live.op, live.request
        candidates = [e for e in self.entries if not e.new]
        text = json.dumps(request, sort_keys=True, ensure_ascii=False)

        def closeness(entry: Entry) -> tuple[int, float]:
            failed = self._failed_matchers(entry, kind, op, request)
            other = json.dumps(entry.request, sort_keys=True, ensure_ascii=False)
            return (-len(failed), difflib.SequenceMatcher(None, text, other).quick_ratio())

        ranked = sorted(candidates, key=closeness, reverse=True)[:3]
        lines: list[str] = []
        if self._sequence and self._next < len(self.entries):
            nxt = self.entries[self._next]
            lines.append(
                f"the next exchange in sequence is #{nxt.record.get('id')}; order='any' ignores the order"
            )
        if ranked:
            lines.append("closest recorded exchanges:")
            for entry in ranked:
                failed = self._failed_matchers(entry, kind, op, request)
                state = "already replayed" if entry.used else "unused"
                differs = f"differs in {', '.join(failed)}" if failed else "matches"
                number = entry.record.get("id", "?")
                lines.append(f"  #{number} {describe_request(entry.request)} ({differs}; {state})")
                for name in failed:
                    if name in ("body", "json_body", "headers"):
                        recorded = json.dumps(
                            entry.request.get(name.removeprefix("json_")), ensure_ascii=False
                        )
                        this = json.dumps(request.get(name.removeprefix("json_")), ensure_ascii=False)
                        lines.append(f"      recorded {name}: {_short(recorded)}")
                        lines.append(f"      this {name}:     {_short(this)}")
        else:
            lines.append("the cassette has no recorded exchanges")
        return lines
