"""Configuration precedence, parsing and validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector import ConfigurationError
from pynector._config import ClientConfig, resolve_config


def echo(data: object, **options: object) -> object:
    return data


def test_defaults() -> None:
    """With nothing set, the documented defaults apply."""
    assert ClientConfig() == resolve_config({}, None, {})


def test_explicit_beats_config_beats_env_beats_default() -> None:
    """An explicit argument wins over config, which wins over the environment."""
    env = {"PYNECTOR_TIMEOUT": "7", "PYNECTOR_MAX_RETRIES": "9", "PYNECTOR_RETRY_DELAY": "0.25"}
    config = {"timeout": 5.0, "max_retries": 2}
    resolved = resolve_config({"timeout": 1.5}, config, env)
    assert resolved.timeout == 1.5
    assert resolved.max_retries == 2
    assert resolved.retry_delay == 0.25
    assert resolved.max_concurrency == 100


def test_environment_strings_are_parsed() -> None:
    """Environment values become the field's type."""
    env = {
        "PYNECTOR_TIMEOUT": " 2.5 ",
        "PYNECTOR_MAX_CONCURRENCY": "8",
        "PYNECTOR_ENABLE_TELEMETRY": "off",
        "PYNECTOR_TRANSPORT_TYPE": "memory",
    }
    assert ClientConfig(
        transport_type="memory", timeout=2.5, max_concurrency=8, enable_telemetry=False
    ) == resolve_config({}, None, env)


def test_environment_reaches_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """PYNECTOR_* variables configure a client built without arguments."""
    monkeypatch.setenv("PYNECTOR_TRANSPORT_TYPE", "memory")
    monkeypatch.setenv("PYNECTOR_TIMEOUT", "3")
    client = pynector.Pynector(handler=echo)
    assert client.config.transport_type == "memory"
    assert client.config.timeout == 3.0


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PYNECTOR_TIMEOUT": "soon"}, "PYNECTOR_TIMEOUT='soon'"),
        ({"PYNECTOR_MAX_CONCURRENCY": "1.5"}, "PYNECTOR_MAX_CONCURRENCY"),
        ({"PYNECTOR_MAX_CONCURRENCY": "0"}, "max_concurrency must be an integer >= 1"),
        ({"PYNECTOR_TIMEOUT": "-1"}, "timeout must be a finite number of seconds > 0"),
        ({"PYNECTOR_TIMEOUT": "nan"}, "timeout must be a finite number"),
        ({"PYNECTOR_ENABLE_TELEMETRY": "maybe"}, "PYNECTOR_ENABLE_TELEMETRY"),
    ],
)
def test_bad_environment_values_are_reported(env: dict[str, str], needle: str) -> None:
    """A bad environment value names the variable or the rule it breaks."""
    with pytest.raises(ConfigurationError) as info:
        resolve_config({}, None, env)
    assert needle in str(info.value)


bad_timeouts = st.one_of(
    st.floats(max_value=0.0),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.integers(max_value=0),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
bad_counts = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none().map(lambda _: object()),
)


@given(bad_timeouts)
def test_bad_timeouts_are_rejected_at_construction(value: object) -> None:
    """Negative, zero, NaN, infinite, bool or non-numeric timeouts raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match="timeout"):
        pynector.Pynector(transport_type="memory", handler=echo, config={"timeout": value})


@given(bad_counts)
def test_bad_concurrency_is_rejected_at_construction(value: object) -> None:
    """max_concurrency must be a positive int, never a bool or a float."""
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        pynector.Pynector(transport_type="memory", handler=echo, config={"max_concurrency": value})


@given(bad_timeouts)
async def test_bad_timeouts_are_rejected_when_the_call_is_made(value: object) -> None:
    """Per-call timeouts are validated before anything is sent."""
    calls: list[object] = []
    client = pynector.Pynector(transport_type="memory", handler=calls.append)
    with pytest.raises(ConfigurationError, match="timeout"):
        await client.request(b"x", timeout=value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout"):
        await client.batch_request([(b"x", {})], timeout=value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout"):
        await client.batch_request([(b"x", {"timeout": value})])
    assert calls == []
    await client.aclose()


@given(bad_counts)
async def test_bad_concurrency_is_rejected_when_the_call_is_made(value: object) -> None:
    """batch_request validates max_concurrency before starting any work."""
    calls: list[object] = []
    async with pynector.Pynector(transport_type="memory", handler=calls.append) as client:
        with pytest.raises(ConfigurationError, match="max_concurrency"):
            await client.batch_request([(b"x", {})], max_concurrency=value)  # type: ignore[arg-type]
    assert calls == []


def test_unknown_config_key_is_rejected() -> None:
    """A typo in config is reported with the known keys."""
    with pytest.raises(ConfigurationError, match=r"unknown config key.*'timout'.*timeout"):
        pynector.Pynector(transport_type="memory", handler=echo, config={"timout": 1})


def test_unknown_transport_type_names_the_registered_ones() -> None:
    """An unknown transport type lists what is registered."""
    with pytest.raises(ConfigurationError, match=r"unknown transport type 'carrier-pigeon'.*'memory'"):
        pynector.Pynector(transport_type="carrier-pigeon")


@pytest.mark.parametrize("value", [-1, True, 1.5])
def test_bad_retry_settings_are_rejected(value: object) -> None:
    """max_retries must be an int >= 0."""
    with pytest.raises(ConfigurationError, match="max_retries"):
        pynector.Pynector(transport_type="memory", handler=echo, config={"max_retries": value})


def test_config_must_be_a_mapping() -> None:
    """A non-mapping config is a configuration error, not an AttributeError."""
    with pytest.raises(ConfigurationError, match="config must be a mapping"):
        pynector.Pynector(transport_type="memory", handler=echo, config=[("timeout", 1)])  # type: ignore[arg-type]
