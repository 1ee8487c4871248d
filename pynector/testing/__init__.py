"""Tools to test code built on pynector without a network.

- :class:`MockTransport`: a transport answering from routes (by HTTP method and path, or by
  predicate) with scripted responses and faults, recording every exchange on trio's clock;
- :class:`Recorder` / :class:`RecordedCall`: what the mock saw, with assertion helpers;
- :func:`capture_logs` / :func:`capture_spans`: pynector's log records and spans during a block;
- :func:`no_retry_wait`: retries wait zero seconds (the waits are recorded) inside the block;
- :func:`serve_tcp` / :func:`serve_unix`: loopback framed servers for the stream transports, started
  with ``nursery.start`` (or :func:`open_tcp_server` / :func:`open_unix_server` for one ``async with``
  block), with scripted faults (:func:`close_connection`, :func:`reset_connection`,
  :func:`send_raw`) and connection counters (:class:`StreamServer`);
- a pytest plugin (:mod:`pynector.testing.plugin`, loaded through the ``pytest11`` entry point) with
  the ``pynector_mock``, ``pynector_client``, ``pynector_logs``, ``pynector_spans``,
  ``pynector_no_retry_wait`` and ``pynector_http_server`` fixtures;
- :func:`serve_http` / :func:`open_http_server`: a scriptable loopback HTTP/1.1 server (trio + h11)
  for real-socket tests, examples and demos, streaming async-iterable bodies;
  :class:`RawResponse` scripts a hostile server (bytes sent as they are, the connection kept open)
  and ``HTTPServer.head_handler`` answers a request before its body is read.
- :class:`QuotaService`: an HTTP handler enforcing a sliding-window quota of requests and tokens per
  minute (429 with ``Retry-After`` and a selectable rate-limit header family), for quota tests.
- scripted server-sent event streams for both (``HTTPResponse.sse(steps, conn)`` on the server,
  ``route.respond_sse(steps)`` on the mock): events, :class:`SSEDelay` on trio's clock, :class:`SSEDrop`;
- :class:`Cassette`: record the exchanges of any transport into a file once (``cassette.wrap(transport)``)
  and replay them afterwards on trio's clock, secrets redacted (``pynector_cassette`` fixture).
"""

from .._public import show_public_module as _show_public_module
from ._capture import CapturedLogs as CapturedLogs
from ._capture import capture_logs as capture_logs
from ._capture import capture_spans as capture_spans
from ._cassette import Cassette as Cassette
from ._cassette import CassetteError as CassetteError
from ._cassette import CassetteTransport as CassetteTransport
from ._cassette import UnmatchedRequestError as UnmatchedRequestError
from ._cassette import scrub_json_fields as scrub_json_fields
from ._http_server import HTTPRequest as HTTPRequest
from ._http_server import HTTPResponse as HTTPResponse
from ._http_server import HTTPServer as HTTPServer
from ._http_server import RawResponse as RawResponse
from ._http_server import ServerConnection as ServerConnection
from ._http_server import SSEDelay as SSEDelay
from ._http_server import SSEDrop as SSEDrop
from ._http_server import SSEStep as SSEStep
from ._http_server import open_http_server as open_http_server
from ._http_server import serve_http as serve_http
from ._mock import MockTransport as MockTransport
from ._mock import Route as Route
from ._mock import UnexpectedRequestError as UnexpectedRequestError
from ._quota_server import QuotaService as QuotaService
from ._recorder import RecordedCall as RecordedCall
from ._recorder import Recorder as Recorder
from ._recorder import no_retry_wait as no_retry_wait
from ._stream_server import StreamAction as StreamAction
from ._stream_server import StreamServer as StreamServer
from ._stream_server import close_connection as close_connection
from ._stream_server import open_tcp_server as open_tcp_server
from ._stream_server import open_unix_server as open_unix_server
from ._stream_server import reset_connection as reset_connection
from ._stream_server import send_raw as send_raw
from ._stream_server import serve_tcp as serve_tcp
from ._stream_server import serve_unix as serve_unix

__all__ = [
    "CapturedLogs",
    "Cassette",
    "CassetteError",
    "CassetteTransport",
    "HTTPRequest",
    "HTTPResponse",
    "HTTPServer",
    "MockTransport",
    "QuotaService",
    "RawResponse",
    "RecordedCall",
    "Recorder",
    "Route",
    "SSEDelay",
    "SSEDrop",
    "SSEStep",
    "ServerConnection",
    "StreamAction",
    "StreamServer",
    "UnexpectedRequestError",
    "UnmatchedRequestError",
    "capture_logs",
    "capture_spans",
    "close_connection",
    "no_retry_wait",
    "open_http_server",
    "open_tcp_server",
    "open_unix_server",
    "reset_connection",
    "scrub_json_fields",
    "send_raw",
    "serve_http",
    "serve_tcp",
    "serve_unix",
]

# Tracebacks and reprs show the public path (pynector.testing.MockTransport), not the private module.
_show_public_module(globals(), __all__)
