"""HTTP: one request/response model and policy layer over interchangeable wire engines.

``Pynector(transport_type="http", base_url=..., headers=...)`` builds an :class:`HTTPTransport` over
the default engine; :class:`HttpxEngine` (registered as ``"httpx"``) runs ``httpx.AsyncClient`` under
trio. Engines implement the small contract in :class:`HTTPEngine`.
"""

from ._engine import Body as Body
from ._engine import HTTPEngine as HTTPEngine
from ._engine import WireRequest as WireRequest
from ._engine import WireResponse as WireResponse
from ._httpx import HttpxEngine as HttpxEngine
from ._httpx import create_httpx_transport as create_httpx_transport
from ._model import RequestInfo as RequestInfo
from ._model import Response as Response
from ._model import parse_retry_after as parse_retry_after
from ._transport import HTTPTransport as HTTPTransport

__all__ = [
    "Body",
    "HTTPEngine",
    "HTTPTransport",
    "HttpxEngine",
    "RequestInfo",
    "Response",
    "WireRequest",
    "WireResponse",
    "create_httpx_transport",
    "parse_retry_after",
]

for _name in ("HTTPTransport", "HttpxEngine", "RequestInfo", "Response"):
    globals()[_name].__module__ = "pynector.http"
del _name
