"""pynector: a trio-native client for remote services.

Public names are re-exported here; implementation modules are private. ``tests/test_exports.py``
guards this list.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from loguru import logger as _logger

from . import framing as framing
from . import sse as sse
from . import transport as transport
from ._batch import BatchResults as BatchResults
from ._client import Pynector as Pynector
from ._config import ClientConfig as ClientConfig
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
from ._job import Job as Job
from ._job import JobItem as JobItem
from ._job import JobResult as JobResult
from ._job import JobStatistics as JobStatistics
from ._job import JsonlCheckpoint as JsonlCheckpoint
from ._public import show_public_module as _show_public_module
from ._quota import Quota as Quota
from ._quota import QuotaKeyStatistics as QuotaKeyStatistics
from ._retry import RetryBudget as RetryBudget
from ._retry import RetryBudgetStatistics as RetryBudgetStatistics
from ._retry import RetryDetails as RetryDetails
from ._retry import RetryPolicy as RetryPolicy
from ._statistics import ClientStatistics as ClientStatistics
from ._telemetry_config import configure_telemetry as configure_telemetry
from ._version import __version__ as __version__

# A library never configures logging for the application: events stay off until the application
# calls ``logger.enable("pynector")``.
_logger.disable("pynector")

__all__ = [
    "BatchCancelledError",
    "BatchInputError",
    "BatchResults",
    "ClientClosedError",
    "ClientConfig",
    "ClientStatistics",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DeserializationError",
    "ForbiddenError",
    "HTTPClientError",
    "HTTPRequest",
    "HTTPServerError",
    "HTTPStatusError",
    "Job",
    "JobItem",
    "JobOutputError",
    "JobResult",
    "JobStatistics",
    "JsonlCheckpoint",
    "MessageError",
    "NotFoundError",
    "PoolTimeout",
    "ProtocolError",
    "Pynector",
    "PynectorError",
    "Quota",
    "QuotaKeyStatistics",
    "QuotaStoreError",
    "RateLimitError",
    "ReadError",
    "RedirectError",
    "RequestTimeoutError",
    "Response",
    "RetryBudget",
    "RetryBudgetStatistics",
    "RetryDetails",
    "RetryPolicy",
    "SerializationError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnauthorizedError",
    "WriteError",
    "__version__",
    "configure_telemetry",
    "transport",
]

# The HTTP names live in pynector.http, which imports httpx: they load on first access, so that
# ``import pynector`` stays light for programs that never speak HTTP.
_LAZY = {"HTTPRequest", "Response"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import http

        value = getattr(http, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pynector' has no attribute {name!r}")


if _TYPE_CHECKING:
    from .http import HTTPRequest as HTTPRequest
    from .http import Response as Response

# Tracebacks and reprs show the public path (pynector.Pynector), not the private module.
_show_public_module(globals(), [name for name in __all__ if name not in _LAZY])
