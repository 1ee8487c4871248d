"""Cassettes: record the exchanges of any transport once, replay them on trio's clock afterwards.

A :class:`Cassette` is one file of recorded exchanges. ``cassette.wrap(transport)`` returns a
transport (:class:`CassetteTransport`) that, depending on the record mode, answers from the file,
forwards to the wrapped transport and records what happened, or both. It wraps the transport object,
not a protocol, so every transport gets cassettes: HTTP (both engines, whole and streamed bodies), the
framed tcp/unix transports, the SDK and callable transports, the mock and memory transports.

The file format is JSON Lines: a header line, then one line per exchange, in the order the exchanges
started. JSON needs nothing beyond the standard library (a YAML reader would be a new dependency), a
line per exchange makes a re-recording diff show exactly the exchanges that changed, and every line
is a complete record that ``jq`` or ``grep`` reads. Bodies are stored as ``{"text": ...}`` when they
are UTF-8 and ``{"base64": ...}`` otherwise. Each exchange line holds:

- ``transport`` (``"http"``, ``"frames"`` or ``"call"``: how the request and response are encoded),
  ``op`` (``"exchange"`` or ``"stream"``);
- ``start`` (seconds from the first recorded exchange) and ``duration`` (seconds until the response,
  or until the error), measured on trio's clock;
- ``request`` (HTTP: method, URL, headers and body as sent; otherwise the request value and options);
- one outcome: ``response``, ``error`` (the pynector exception class, message and attributes) or
  ``cancelled`` (the caller's deadline or cancel scope ended the exchange);
- for streams, ``chunks``: ``[offset, body]`` pairs (offset in seconds from the start of the exchange)
  and how the stream ended.

Secrets never reach the file: header values the one redaction module (``pynector._redact``) calls
credentials (``Authorization``, cookies, API-key headers, the HTTP transport's ``secret_headers``, the
cassette's own ``secret_headers``), URL user-info and secret query parameters are replaced with
``REDACTED``; every string of a line is also scrubbed of the secret values the request carried (an
echoing server, an SDK key). A ``scrub`` hook changes anything else (for example JSON fields of bodies,
see :func:`scrub_json_fields`). Matching compares redacted requests, so it never needs the secrets.

Replay answers after the recorded duration on trio's clock (``latency=`` scales it; ``0`` answers at
once): under ``autojump_clock`` an hour of recorded latency replays instantly, and a ``timeout=``
shorter than a recorded duration fires exactly as it would against the real service. A recorded error
is raised again as the same pynector exception class with the same attributes.

The package, from the bottom up: ``_errors`` (the two exceptions), ``_records`` (bodies, values,
responses and errors as JSON), ``_redaction`` (secrets out of records), ``_matching`` (which recorded
exchange answers a request), ``_codecs`` (how each kind of transport's requests and results are
written), ``_transport`` (the wrapping transports and the tapes of streams) and ``_cassette`` (the
file, the record modes, one exchange's bookkeeping).
"""

from ._cassette import RECORD_MODES as RECORD_MODES
from ._cassette import Cassette as Cassette
from ._errors import CassetteError as CassetteError
from ._errors import UnmatchedRequestError as UnmatchedRequestError
from ._redaction import scrub_json_fields as scrub_json_fields
from ._transport import CassetteTransport as CassetteTransport

__all__ = [
    "RECORD_MODES",
    "Cassette",
    "CassetteError",
    "CassetteTransport",
    "UnmatchedRequestError",
    "scrub_json_fields",
]
