"""Transports: the exchange contract, the factory registry and the built-in transports.

Public here: the contract (:class:`Transport`, its optional span hooks :class:`TracedTransport`), the
registry (:class:`TransportFactory`, :class:`TransportFactoryRegistry`,
:func:`get_transport_factory_registry`), the transports users construct (memory, stream, LLM SDK and
callable transports) and the reply vocabulary the README documents for the SDK transports
(:class:`TextReply`, :class:`Usage`, :func:`sum_usage`). The adapters the client wraps transports in
stay private. The original design's paths are :mod:`pynector.transport.protocol` and
:mod:`pynector.transport.factory`.
"""

from .._public import show_public_module as _show_public_module
from ._base import TracedTransport as TracedTransport
from ._base import Transport as Transport
from ._memory import FramedMemoryTransport as FramedMemoryTransport
from ._memory import MemoryTransport as MemoryTransport
from ._registry import TransportFactory as TransportFactory
from ._registry import TransportFactoryRegistry as TransportFactoryRegistry
from ._registry import get_transport_factory_registry as get_transport_factory_registry
from ._sdk import CallableTransport as CallableTransport
from ._sdk import Embedding as Embedding
from ._sdk import Finish as Finish
from ._sdk import OtherEvent as OtherEvent
from ._sdk import SDKTransport as SDKTransport
from ._sdk import StreamEvent as StreamEvent
from ._sdk import TextDelta as TextDelta
from ._sdk import TextReply as TextReply
from ._sdk import ToolCall as ToolCall
from ._sdk import ToolCallDelta as ToolCallDelta
from ._sdk import Usage as Usage
from ._sdk import UsageUpdate as UsageUpdate
from ._sdk import sum_usage as sum_usage
from ._stream import StreamTransport as StreamTransport
from ._stream import TCPTransport as TCPTransport
from ._stream import UnixTransport as UnixTransport

__all__ = [
    "CallableTransport",
    "Embedding",
    "Finish",
    "FramedMemoryTransport",
    "MemoryTransport",
    "OtherEvent",
    "SDKTransport",
    "StreamEvent",
    "StreamTransport",
    "TCPTransport",
    "TextDelta",
    "TextReply",
    "ToolCall",
    "ToolCallDelta",
    "TracedTransport",
    "Transport",
    "TransportFactory",
    "TransportFactoryRegistry",
    "UnixTransport",
    "Usage",
    "UsageUpdate",
    "get_transport_factory_registry",
    "sum_usage",
]

# Tracebacks and reprs show the public path (pynector.transport.TCPTransport), not the private module.
_show_public_module(globals(), __all__)
