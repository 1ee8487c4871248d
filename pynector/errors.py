"""The exception tree at the path of the original design: ``from pynector.errors import TransportError``.

The classes live in a private module and are also exported by :mod:`pynector` itself; this module
exists so that code written against the original design (``pynector.errors.*``) keeps importing. Every
name here is the same object as ``pynector.<name>``.
"""

from ._errors import BatchCancelledError as BatchCancelledError
from ._errors import BatchInputError as BatchInputError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConnectError as ConnectError
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import DeserializationError as DeserializationError
from ._errors import ForbiddenError as ForbiddenError
from ._errors import HTTPClientError as HTTPClientError
from ._errors import HTTPServerError as HTTPServerError
from ._errors import HTTPStatusError as HTTPStatusError
from ._errors import JobOutputError as JobOutputError
from ._errors import MessageError as MessageError
from ._errors import NotFoundError as NotFoundError
from ._errors import PoolTimeout as PoolTimeout
from ._errors import ProtocolError as ProtocolError
from ._errors import PynectorError as PynectorError
from ._errors import QuotaStoreError as QuotaStoreError
from ._errors import RateLimitError as RateLimitError
from ._errors import ReadError as ReadError
from ._errors import RedirectError as RedirectError
from ._errors import RequestTimeoutError as RequestTimeoutError
from ._errors import SerializationError as SerializationError
from ._errors import TimeoutError as TimeoutError
from ._errors import TLSError as TLSError
from ._errors import TransportError as TransportError
from ._errors import UnauthorizedError as UnauthorizedError
from ._errors import WriteError as WriteError

__all__ = [
    "BatchCancelledError",
    "BatchInputError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DeserializationError",
    "ForbiddenError",
    "HTTPClientError",
    "HTTPServerError",
    "HTTPStatusError",
    "JobOutputError",
    "MessageError",
    "NotFoundError",
    "PoolTimeout",
    "ProtocolError",
    "QuotaStoreError",
    "PynectorError",
    "RateLimitError",
    "ReadError",
    "RedirectError",
    "RequestTimeoutError",
    "SerializationError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnauthorizedError",
    "WriteError",
]
