"""How a public package presents the names it re-exports from private modules."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from types import FunctionType
from typing import Any

__all__ = ["show_public_module"]


def show_public_module(namespace: MutableMapping[str, Any], names: Iterable[str]) -> None:
    """Make the classes and functions *names* of *namespace* (a package's ``globals()``) report the
    package as their module, so tracebacks, reprs and ``help()`` show the public path
    (``pynector.transport.TCPTransport``) rather than the private module it lives in.

    Only classes and functions defined in a private module of this distribution (a dotted path with
    a component starting with ``_``, such as ``pynector.http._native`` or ``pynector._httpcommon``)
    are rewritten; a public module's objects, and foreign ones, keep their module. Never raises.
    """
    package = namespace["__name__"]
    root = package.partition(".")[0] + "."
    for name in names:
        obj = namespace[name]
        module = getattr(obj, "__module__", None)
        if (
            isinstance(obj, (type, FunctionType))
            and isinstance(module, str)
            and module.startswith(root)
            and any(part.startswith("_") for part in module.split("."))
        ):
            obj.__module__ = package
