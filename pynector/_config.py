"""Client configuration: precedence, parsing and validation.

Precedence, highest first: an explicit argument to ``Pynector(...)``, the ``config={...}`` mapping,
``PYNECTOR_<KEY>`` environment variables (``PYNECTOR_TIMEOUT=2.5``), then the defaults below.
Environment strings are parsed to the field's type. Every value is validated when the client is
constructed (and per-call values when the call is made), so a bad value raises
:class:`~pynector.ConfigurationError` with the key and the reason, never a late ``TypeError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ._errors import ConfigurationError

__all__ = ["ClientConfig", "resolve_config", "validate_concurrency", "validate_rate", "validate_timeout"]

ENV_PREFIX = "PYNECTOR_"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The resolved settings of one client.

    Attributes:
        transport_type: registry name of the transport to create (``"http"``).
        timeout: total seconds one exchange may take, or ``None`` for no client-side bound.
        max_concurrency: default bound on exchanges in flight in one batch (100).
        max_retries: default retries after the first attempt in ``request_with_retry`` (3).
        retry_delay: default first backoff delay in seconds (1.0).
        enable_telemetry: whether spans and log events are produced (True).
        max_per_second: client-wide rate limit on exchanges (every request, batch item and retry
            attempt), or ``None`` for none (the default). Waiting for a slot counts against the
            request's ``timeout``.
        burst: how many exchanges may start at once under ``max_per_second`` (1).
    """

    transport_type: str = "http"
    timeout: float | None = None
    max_concurrency: int = 100
    max_retries: int = 3
    retry_delay: float = 1.0
    enable_telemetry: bool = True
    max_per_second: float | None = None
    burst: int = 1


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_timeout(value: object, name: str = "timeout") -> float | None:
    """Return *value* as a float of seconds, or ``None``.

    Raises:
        pynector.ConfigurationError: unless *value* is ``None`` or a finite number > 0.
    """
    if value is None:
        return None
    if not _is_number(value):
        raise ConfigurationError(
            f"{name} must be a number of seconds or None, got {type(value).__name__} {value!r}"
        )
    seconds = float(value)  # type: ignore[arg-type]
    if math.isnan(seconds) or math.isinf(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return seconds


def validate_delay(value: object, name: str) -> float:
    """Return *value* as a float >= 0.

    Raises:
        pynector.ConfigurationError: unless *value* is a finite number >= 0.
    """
    if not _is_number(value):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def validate_count(value: object, name: str, minimum: int) -> int:
    """Return *value* as an int >= *minimum*.

    Raises:
        pynector.ConfigurationError: for bools, non-integers and values below *minimum*.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def validate_concurrency(value: object, name: str = "max_concurrency") -> int:
    """Return *value* as a positive int (see :func:`validate_count`)."""
    return validate_count(value, name, 1)


def validate_rate(value: object, name: str = "max_per_second") -> float | None:
    """Return *value* as a rate in calls per second, or ``None`` (no limit).

    Raises:
        pynector.ConfigurationError: unless *value* is ``None`` or a finite number > 0.
    """
    if value is None:
        return None
    rate = validate_delay(value, name)
    if rate <= 0:
        raise ConfigurationError(f"{name} must be a finite number > 0, got {value!r}")
    return rate


def _validate_transport_type(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"transport_type must be a non-empty string, got {value!r}")
    return value


def _validate_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


_VALIDATORS: dict[str, Callable[[object], Any]] = {
    "transport_type": _validate_transport_type,
    "timeout": validate_timeout,
    "max_concurrency": validate_concurrency,
    "max_retries": lambda v: validate_count(v, "max_retries", 0),
    "retry_delay": lambda v: validate_delay(v, "retry_delay"),
    "enable_telemetry": lambda v: _validate_bool(v, "enable_telemetry"),
    "max_per_second": validate_rate,
    "burst": lambda v: validate_count(v, "burst", 1),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_env(key: str, text: str) -> object:
    """Parse the environment string for *key* to the field's type (validation comes after)."""
    var = ENV_PREFIX + key.upper()
    stripped = text.strip()
    try:
        if key == "transport_type":
            return stripped
        if key == "enable_telemetry":
            lowered = stripped.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if key in {"timeout", "max_per_second"} and stripped.lower() in {"", "none"}:
            return None
        if key in {"max_concurrency", "max_retries", "burst"}:
            return int(stripped)
        return float(stripped)
    except ValueError:
        raise ConfigurationError(f"environment variable {var}={text!r} is not a valid {key}") from None


def resolve_config(
    explicit: Mapping[str, object],
    config: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Merge explicit arguments, a config mapping, the environment and the defaults.

    Args:
        explicit: arguments the caller actually passed (``None`` values mean "not passed").
        config: the ``config=`` mapping; unknown keys are rejected.
        environ: the environment (defaults to ``os.environ``).

    Raises:
        pynector.ConfigurationError: for an unknown config key or any invalid value.
    """
    env = os.environ if environ is None else environ
    if config is not None and not isinstance(config, Mapping):
        raise ConfigurationError(f"config must be a mapping, got {type(config).__name__}")
    known = [f.name for f in fields(ClientConfig)]
    unknown = sorted(set(config or ()) - set(known))
    if unknown:
        raise ConfigurationError(
            f"unknown config key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(known)}"
        )
    values: dict[str, Any] = {}
    for key in known:
        if explicit.get(key) is not None:
            raw: object = explicit[key]
        elif config is not None and key in config:
            raw = config[key]
        elif ENV_PREFIX + key.upper() in env:
            raw = _parse_env(key, env[ENV_PREFIX + key.upper()])
        else:
            continue
        values[key] = _VALIDATORS[key](raw)
    return ClientConfig(**values)
