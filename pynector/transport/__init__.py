"""Transports: the exchange contract, the factory registry and the built-in transports."""

from .._telemetry import TracedTransport as TracedTransport
from ._base import SeedTransport as SeedTransport
from ._base import SerializedTransport as SerializedTransport
from ._base import Transport as Transport
from ._memory import FramedMemoryTransport as FramedMemoryTransport
from ._memory import MemoryTransport as MemoryTransport
from ._registry import TransportFactory as TransportFactory
from ._registry import TransportFactoryRegistry as TransportFactoryRegistry
from ._registry import get_transport_factory_registry as get_transport_factory_registry
from ._sdk import SDK_RETRY_STATUSES as SDK_RETRY_STATUSES
from ._sdk import CallableTransport as CallableTransport
from ._sdk import Embedding as Embedding
from ._sdk import Finish as Finish
from ._sdk import OtherEvent as OtherEvent
from ._sdk import SDKTransport as SDKTransport
from ._sdk import StreamEvent as StreamEvent
from ._sdk import TextDelta as TextDelta
from ._sdk import TextReply as TextReply
from ._sdk import TextStream as TextStream
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
    "SDK_RETRY_STATUSES",
    "SeedTransport",
    "SerializedTransport",
    "StreamEvent",
    "StreamTransport",
    "TCPTransport",
    "TextDelta",
    "TextReply",
    "TextStream",
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
