"""Tools for testing code built on pynector without a network."""

from ._http_server import HTTPRequest as HTTPRequest
from ._http_server import HTTPResponse as HTTPResponse
from ._http_server import HTTPServer as HTTPServer
from ._http_server import ServerConnection as ServerConnection
from ._http_server import open_http_server as open_http_server
from ._http_server import serve_http as serve_http

__all__ = [
    "HTTPRequest",
    "HTTPResponse",
    "HTTPServer",
    "ServerConnection",
    "open_http_server",
    "serve_http",
]
