"""The transport factory registry."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.fakes import CountingTransport

import pynector
from pynector import ConfigurationError
from pynector.transport import TransportFactoryRegistry, get_transport_factory_registry
from pynector.transport import _registry as registry_module


class CountingFactory:
    def create_transport(self, **options: Any) -> CountingTransport:
        return CountingTransport(**options)


def test_register_list_and_create() -> None:
    """Factories (objects or callables) are registered by name, listed and used."""
    registry = TransportFactoryRegistry()
    registry.register("counting", CountingFactory())
    registry.register("plain", CountingTransport)
    assert registry.names() == ["counting", "plain"]
    assert "plain" in registry
    assert isinstance(registry.create_transport("counting", delay=1.0), CountingTransport)
    assert registry.create_transport("plain", delay=2.0).delay == 2.0  # type: ignore[attr-defined]


def test_duplicate_names_need_replace() -> None:
    """Registering a taken name is an error unless replace=True."""
    registry = TransportFactoryRegistry()
    registry.register("x", CountingFactory())
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register("x", CountingFactory())
    registry.register("x", CountingTransport, replace=True)
    registry.unregister("x")
    registry.unregister("x")
    assert registry.names() == []


@pytest.mark.parametrize("factory", [None, 42, "memory"])
def test_non_factories_are_rejected(factory: object) -> None:
    """Only factories and callables can be registered."""
    with pytest.raises(ConfigurationError, match="not a transport factory"):
        TransportFactoryRegistry().register("bad", factory)  # type: ignore[arg-type]


def test_builtins_are_registered_on_first_use() -> None:
    """The global registry knows the built-in transports."""
    assert "memory" in get_transport_factory_registry().names()


def test_user_registered_transport_reaches_the_client() -> None:
    """A registered name can be used as transport_type with its options."""
    registry = get_transport_factory_registry()
    registry.register("counting-reg", CountingFactory(), replace=True)
    try:
        client = pynector.Pynector(transport_type="counting-reg", delay=0.5)
        assert client.transport.delay == 0.5  # type: ignore[attr-defined]
    finally:
        registry.unregister("counting-reg")


class FakeEntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self.value = f"fake.module:{name}"
        self.target = target

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry_module, "_registry", None)
    yield
    registry_module._registry = None


def test_entry_point_transports_are_registered(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    """Third-party transports declared in the pynector.transports group are found on first use."""

    def entry_points(group: str) -> list[FakeEntryPoint]:
        assert group == registry_module.ENTRY_POINT_GROUP
        return [FakeEntryPoint("thirdparty", CountingFactory())]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry = get_transport_factory_registry()
    assert "thirdparty" in registry.names()
    assert "memory" in registry.names()


def test_broken_entry_point_is_reported(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    """An entry point that fails to load is a ConfigurationError naming it and the cause."""
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [FakeEntryPoint("broken", ImportError("no module named fake"))],
    )
    with pytest.raises(ConfigurationError, match=r"'broken'.*ImportError: no module named fake"):
        get_transport_factory_registry()
