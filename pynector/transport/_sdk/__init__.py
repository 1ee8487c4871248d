"""SDK transports: the official OpenAI and Anthropic async SDKs, and any async callable.

Calling an LLM API in bulk is what pynector's batch engine is for: thousands of prompts, bounded
concurrency, one deadline, retries that honour ``Retry-After``. The SDKs already retry and time out on
their own, and stacking two retry loops multiplies attempts (3 SDK retries x 3 pynector retries = 16
calls for one failing prompt) while the SDK's per-read timeouts do not bound a slow-dripping reply. So
the SDK clients are built with ``max_retries=0`` and a generous timeout, and pynector decides:

- **retries**: an SDK error is translated, by the SDK's own exception classes, into pynector's error
  tree (rate limit -> :class:`~pynector.RateLimitError` with ``retry_after`` read from the response's
  ``retry-after-ms`` / ``Retry-After`` header, 5xx -> :class:`~pynector.HTTPServerError`, connection
  -> :class:`~pynector.ConnectError`, a reply cut short -> :class:`~pynector.ReadError` or
  :class:`~pynector.ProtocolError`...), which the core :class:`~pynector.RetryPolicy` understands.
  The transport advertises :data:`SDK_RETRY_STATUSES` (429, 5xx, Anthropic's 529 "overloaded", the
  statuses the SDKs themselves retry) as its ``retry_statuses``, which ``request_with_retry`` uses for
  its default policy. Completions have no side effect to duplicate, so retrying them after a 5xx is
  safe.
- **deadlines**: trio's, around the whole call (``timeout=`` of the client), which works because both
  SDKs use httpx on anyio, which runs on trio's event loop and honours its cancel scopes.

A transport-wide :class:`trio.CapacityLimiter` (``max_connections``) is held for each whole call,
body included, so the SDK's connection pool (1000 connections) never queues a request: httpcore leaks
the pool slot of a request cancelled while queued (encode/httpcore#1093), and every later request
then fails with ``PoolTimeout``.

The SDKs are imported only when a provider is asked for, so ``import pynector`` works without them; a
missing one raises :class:`~pynector.ConfigurationError` naming the extra to install. The API key is
never put in a message, a log event or a repr: SDK error texts are rebuilt from the status and the
API's error message, with the key redacted if the server echoed it.

Streaming under trio: the SDKs and httpx iterate the response through nested async generators that are
not closed explicitly when a stream ends early (or, for OpenAI, at ``[DONE]``), so trio may emit a
``ResourceWarning`` when they are garbage collected. It is harmless (Python ignores ResourceWarning by
default, and trio closes the generators) and comes from upstream code.
"""

from ._callable import CallableTransport as CallableTransport
from ._errors import SDK_RETRY_STATUSES as SDK_RETRY_STATUSES
from ._errors import map_sdk_exception as map_sdk_exception
from ._events import Finish as Finish
from ._events import OtherEvent as OtherEvent
from ._events import StreamEvent as StreamEvent
from ._events import TextDelta as TextDelta
from ._events import ToolCall as ToolCall
from ._events import ToolCallDelta as ToolCallDelta
from ._events import UsageUpdate as UsageUpdate
from ._transport import SDKTransport as SDKTransport
from ._transport import TextStream as TextStream
from ._usage import Embedding as Embedding
from ._usage import TextReply as TextReply
from ._usage import Usage as Usage
from ._usage import sum_usage as sum_usage

__all__ = [
    "SDK_RETRY_STATUSES",
    "map_sdk_exception",
    "CallableTransport",
    "Embedding",
    "Finish",
    "OtherEvent",
    "SDKTransport",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "UsageUpdate",
    "TextReply",
    "TextStream",
    "Usage",
    "sum_usage",
]
