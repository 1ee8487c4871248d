"""Transport factories by name.

The registry maps a name (``"http"``, ``"memory"``...) to a factory. Built-in transports are registered
lazily the first time the registry is used, and so are third-party transports that declare an entry
point in the ``pynector.transports`` group (the entry point names a factory object or a callable)::

    [project.entry-points."pynector.transports"]
    mything = "mypkg.transport:MyThingFactory"
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .._errors import ConfigurationError
from ._base import Transport

__all__ = ["TransportFactory", "TransportFactoryRegistry", "get_transport_factory_registry"]

ENTRY_POINT_GROUP = "pynector.transports"


@runtime_checkable
class TransportFactory(Protocol):
    """Creates transports from keyword options."""

    def create_transport(self, **options: Any) -> Transport:
        """Return a new, unconnected transport.

        Raises:
            pynector.ConfigurationError: for unknown or invalid options.
        """
        ...


class _CallableFactory:
    """Adapts a plain callable (a class or a function) to :class:`TransportFactory`."""

    def __init__(self, fn: Callable[..., Transport]) -> None:
        self.fn = fn

    def create_transport(self, **options: Any) -> Transport:
        return self.fn(**options)

    def __repr__(self) -> str:
        return f"<factory {getattr(self.fn, '__qualname__', self.fn)!r}>"


class TransportFactoryRegistry:
    """Names to transport factories.

    Not tied to an event loop; registration is expected at import or start-up time.
    """

    def __init__(self) -> None:
        self._factories: dict[str, TransportFactory] = {}

    def register(
        self, name: str, factory: TransportFactory | Callable[..., Transport], *, replace: bool = False
    ) -> None:
        """Register *factory* under *name*.

        *factory* is a :class:`TransportFactory` or any callable taking keyword options and returning
        a transport (a transport class works).

        Raises:
            pynector.ConfigurationError: if *name* is taken and ``replace`` is false, or *factory* is
                neither a factory nor callable.
        """
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"transport name must be a non-empty string, got {name!r}")
        if name in self._factories and not replace:
            raise ConfigurationError(
                f"transport type {name!r} is already registered (pass replace=True to override)"
            )
        if isinstance(factory, TransportFactory):
            self._factories[name] = factory
        elif callable(factory):
            self._factories[name] = _CallableFactory(factory)
        else:
            raise ConfigurationError(f"{factory!r} is not a transport factory")

    def unregister(self, name: str) -> None:
        """Remove *name*; a missing name is ignored."""
        self._factories.pop(name, None)

    def get(self, name: str) -> TransportFactory:
        """Return the factory registered as *name*.

        Raises:
            pynector.ConfigurationError: naming the registered types, if *name* is unknown.
        """
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self.names()) or "none"
            raise ConfigurationError(f"unknown transport type {name!r}; registered types: {known}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def get_registered_names(self) -> list[str]:
        """The registered names, sorted: the original design's name for :meth:`names`."""
        return self.names()

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def create_transport(self, name: str, **options: Any) -> Transport:
        """Look *name* up and create a transport with *options*."""
        return self.get(name).create_transport(**options)


_registry: TransportFactoryRegistry | None = None


def _create_httpx(**options: Any) -> Transport:
    from ..http._httpx import create_httpx_transport  # imported on first use: keeps `import pynector` light

    return create_httpx_transport(**options)


def _create_httpx2(**options: Any) -> Transport:
    from ..http._httpx import create_httpx_transport  # imported on first use, like httpx

    return create_httpx_transport(library="httpx2", **options)


def _create_native(**options: Any) -> Transport:
    from ..http._native import create_native_transport  # imported on first use, like httpx

    return create_native_transport(**options)


def _create_sse(**options: Any) -> Transport:
    from ..sse import create_sse_transport  # subscriptions over an HTTP transport (imported on first use)

    return create_sse_transport(**options)


def _register_builtins(registry: TransportFactoryRegistry) -> None:
    from ._memory import create_memory_transport
    from ._stream import TCPTransport, UnixTransport

    registry.register("memory", create_memory_transport)
    registry.register("tcp", TCPTransport)
    registry.register("unix", UnixTransport)
    # Importing _sdk imports neither SDK: a provider's package is imported when it is asked for.
    from ._sdk import CallableTransport, SDKTransport

    registry.register("sdk", SDKTransport)
    registry.register("callable", CallableTransport)
    registry.register("httpx", _create_httpx)
    registry.register("httpx2", _create_httpx2)
    registry.register("http", _create_native)
    registry.register("sse", _create_sse)


def _register_entry_points(registry: TransportFactoryRegistry) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in registry:
            continue
        try:
            registry.register(ep.name, ep.load())
        except Exception as exc:
            raise ConfigurationError(
                f"entry point {ep.name!r} in group {ENTRY_POINT_GROUP!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def get_transport_factory_registry() -> TransportFactoryRegistry:
    """The process-wide registry, with built-ins and entry-point transports registered on first use."""
    global _registry
    if _registry is None:
        registry = TransportFactoryRegistry()
        _register_builtins(registry)
        _register_entry_points(registry)
        _registry = registry
    return _registry
