"""Transports: the exchange contract, the factory registry and the built-in transports."""

from .._telemetry import TracedTransport as TracedTransport
from ._base import SeedTransport as SeedTransport
from ._base import SerializedTransport as SerializedTransport
from ._base import Transport as Transport
from ._memory import MemoryTransport as MemoryTransport
from ._registry import TransportFactory as TransportFactory
from ._registry import TransportFactoryRegistry as TransportFactoryRegistry
from ._registry import get_transport_factory_registry as get_transport_factory_registry

__all__ = [
    "MemoryTransport",
    "SeedTransport",
    "SerializedTransport",
    "TracedTransport",
    "Transport",
    "TransportFactory",
    "TransportFactoryRegistry",
    "get_transport_factory_registry",
]
