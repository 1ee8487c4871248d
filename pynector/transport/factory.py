"""The factory registry at the path of the original design: ``pynector.transport.factory``.

The same objects as :mod:`pynector.transport` exports: ``get_transport_factory_registry()`` returns the
process-wide registry, whose ``get_registered_names()`` lists the transport types.
"""

from ._registry import TransportFactory as TransportFactory
from ._registry import TransportFactoryRegistry as TransportFactoryRegistry
from ._registry import get_transport_factory_registry as get_transport_factory_registry

__all__ = ["TransportFactory", "TransportFactoryRegistry", "get_transport_factory_registry"]
