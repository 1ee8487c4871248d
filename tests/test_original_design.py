"""The original design's helpers behave as that design documents them."""

from __future__ import annotations

from typing import Any

import pytest
from loguru import logger
from opentelemetry import trace as otel_trace

import pynector
from pynector.client import Pynector
from pynector.config import get_env_config, merge_configs
from pynector.telemetry import get_telemetry
from pynector.transport.factory import get_transport_factory_registry
from pynector.transport.protocol import TransportProtocol


def test_get_env_config_reads_the_prefixed_upper_case_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_env_config("timeout") returns PYNECTOR_TIMEOUT as the string set."""
    monkeypatch.setenv("PYNECTOR_TIMEOUT", "2.5")
    assert "2.5" == get_env_config("timeout")
    assert "2.5" == get_env_config("TIMEOUT")


def test_get_env_config_returns_the_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing variable gives the default (None unless passed)."""
    monkeypatch.delenv("PYNECTOR_NOT_SET_ANYWHERE", raising=False)
    assert None is get_env_config("not_set_anywhere")
    assert 7 == get_env_config("not_set_anywhere", 7)


def test_merge_configs_merges_nested_dicts_without_changing_the_inputs() -> None:
    """Nested dicts merge key by key, the override wins elsewhere, and both inputs are untouched."""
    base: dict[str, Any] = {"timeout": 1, "http": {"headers": {"a": "1"}, "retries": 2}, "keep": [1]}
    override: dict[str, Any] = {"http": {"headers": {"b": "2"}}, "timeout": 5, "new": {"x": 1}}
    merged = merge_configs(base, override)
    assert {
        "timeout": 5,
        "http": {"headers": {"a": "1", "b": "2"}, "retries": 2},
        "keep": [1],
        "new": {"x": 1},
    } == merged
    merged["http"]["headers"]["c"] = "3"
    merged["new"]["x"] = 2
    assert {"timeout": 1, "http": {"headers": {"a": "1"}, "retries": 2}, "keep": [1]} == base
    assert {"http": {"headers": {"b": "2"}}, "timeout": 5, "new": {"x": 1}} == override


def test_merge_configs_without_override_returns_a_copy() -> None:
    """merge_configs(base) is equal to base but not the same dict."""
    base = {"a": {"b": 1}}
    merged = merge_configs(base)
    assert base == merged
    merged["a"]["b"] = 2
    assert {"a": {"b": 1}} == base


def test_get_telemetry_returns_a_tracer_and_a_logger_with_fields() -> None:
    """The tracer makes spans; the logger's keyword arguments reach the record's extra fields."""
    tracer, log = get_telemetry("myapp.component")
    assert isinstance(tracer, otel_trace.Tracer)
    with tracer.start_as_current_span("work") as span:
        assert span is not None
    records: list[dict[str, Any]] = []
    handler_id = logger.add(lambda message: records.append(message.record["extra"]), level="INFO")
    try:
        log.info("request.start", data_size=3)
    finally:
        logger.remove(handler_id)
    assert [{"name": "myapp.component", "data_size": 3}] == records


def test_get_telemetry_rejects_an_empty_name() -> None:
    """An empty component name is a configuration error naming the argument."""
    with pytest.raises(pynector.ConfigurationError, match="component name"):
        get_telemetry("")


async def test_a_seed_shaped_transport_typed_as_transport_protocol_serves_the_client() -> None:
    """A send/receive transport written to TransportProtocol works with pynector.client.Pynector."""

    class Echo:
        def __init__(self) -> None:
            self.pending = b""

        async def connect(self) -> None:
            pass

        async def disconnect(self) -> None:
            pass

        async def send(self, data: bytes, **options: Any) -> None:
            self.pending = data

        async def receive(self) -> Any:
            yield self.pending

    transport: TransportProtocol = Echo()
    assert isinstance(transport, TransportProtocol)
    async with Pynector(transport=transport) as client:
        assert b"ping" == await client.request(b"ping")


def test_registry_lists_names_the_original_way() -> None:
    """get_registered_names() lists every registered transport type, sorted."""
    names = get_transport_factory_registry().get_registered_names()
    assert sorted(names) == names
    assert {"callable", "http", "httpx", "memory", "sdk", "tcp", "unix"} <= set(names)
