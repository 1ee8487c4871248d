"""HTTP: one request/response model and policy layer over interchangeable wire engines.

``Pynector(transport_type="http", base_url=..., headers=...)`` builds an :class:`HTTPTransport` over
the native HTTP/1.1 engine (:class:`NativeEngine`: h11 over pooled trio streams, the fast default);
``transport_type="httpx"`` uses :class:`HttpxEngine`, ``httpx.AsyncClient`` under trio (HTTP/2,
SOCKS proxies, your own ``httpx.AsyncClient``), and ``transport_type="httpx2"`` the same engine on
httpx2. Both engines take proxies (``proxy=``, or the environment unless ``trust_env=False``), the
opt-in cookie jar (``cookies=``) and ``server_hostname=``. :class:`HTTPRequest` is the typed shape of
a request dict; the client's verbs (``client.get(...)``) return a :class:`Response`. Engines
implement the small contract in :class:`HTTPEngine` (``send`` for streamed responses, ``fetch``
for whole ones, which :func:`fetch_streamed` writes with ``send``).

There are two ways to get an HTTP transport, one per situation: by name, from options
(``Pynector(transport_type="http", ...)``, the registry splits the options between engine and
transport), or as an object built from its parts (``HTTPTransport(NativeEngine(...), base_url=...)``),
to share it between clients or to bring your own engine.
"""

from .._public import show_public_module as _show_public_module
from ._engine import Body as Body
from ._engine import HTTPEngine as HTTPEngine
from ._engine import WireBody as WireBody
from ._engine import WireRequest as WireRequest
from ._engine import WireResponse as WireResponse
from ._engine import fetch_streamed as fetch_streamed
from ._httpx import HttpxEngine as HttpxEngine
from ._model import RequestInfo as RequestInfo
from ._model import Response as Response
from ._model import parse_retry_after as parse_retry_after
from ._native import NativeEngine as NativeEngine
from ._transport import HTTPTransport as HTTPTransport
from ._types import HTTPRequest as HTTPRequest

__all__ = [
    "Body",
    "HTTPEngine",
    "HTTPRequest",
    "HTTPTransport",
    "HttpxEngine",
    "NativeEngine",
    "RequestInfo",
    "Response",
    "WireBody",
    "WireRequest",
    "WireResponse",
    "fetch_streamed",
    "parse_retry_after",
]

# Tracebacks and reprs show the public path (pynector.http.Response), not the private module.
_show_public_module(globals(), __all__)
