"""The cassette's errors: one base class for everything a cassette refuses, and the one for a replayed
request that nothing recorded answers.

Neither is a :class:`~pynector.TransportError`: a retry policy retries transport errors, and
retrying a request the cassette cannot answer would only fail the same way again, more slowly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._errors import PynectorError

__all__ = ["CassetteError", "UnmatchedRequestError"]


class CassetteError(PynectorError):
    """A cassette cannot be used as asked: a missing file in mode ``none``, an unreadable line, a
    result that cannot be written, entries never replayed (strict mode)."""


class UnmatchedRequestError(CassetteError):
    """Replay received a request that no unused recorded exchange matches.

    Not a :class:`~pynector.TransportError`, so it is never retried. The message lists the closest
    recorded exchanges and what differs.

    Attributes:
        request: the redacted request record that found no match.
    """

    def __init__(self, message: str, request: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.request = request
