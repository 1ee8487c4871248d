"""Tools for testing code built on pynector without a network: loopback servers and fakes."""

from ._stream_server import StreamAction as StreamAction
from ._stream_server import StreamServer as StreamServer
from ._stream_server import close_connection as close_connection
from ._stream_server import reset_connection as reset_connection
from ._stream_server import send_raw as send_raw
from ._stream_server import serve_tcp as serve_tcp
from ._stream_server import serve_unix as serve_unix

__all__ = [
    "StreamAction",
    "StreamServer",
    "close_connection",
    "reset_connection",
    "send_raw",
    "serve_tcp",
    "serve_unix",
]
