"""Configuration helpers at the path of the original design: ``pynector.config``.

The client resolves its own settings (explicit argument, then ``config={...}``, then ``PYNECTOR_<KEY>``
environment variables, then defaults; see :class:`pynector.ClientConfig`). These two helpers are the
original design's building blocks for applications that assemble configuration themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._config import ENV_PREFIX
from ._config import ClientConfig as ClientConfig

__all__ = ["ClientConfig", "get_env_config", "merge_configs"]


def get_env_config(key: str, default: Any = None) -> Any:
    """Return the environment variable ``PYNECTOR_<KEY>`` (*key* upper-cased), or *default*.

    The value is returned as the string found in the environment, unparsed: ``PYNECTOR_TIMEOUT=2.5``
    gives ``"2.5"``. The client parses and validates the same variables itself.

    Args:
        key: the configuration key, without the prefix (``"timeout"``).
        default: what to return when the variable is not set.

    Returns:
        The variable's value, or *default*. Never blocks, never raises.
    """
    return os.environ.get(ENV_PREFIX + key.upper(), default)


def merge_configs(base: Mapping[str, Any], override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return a new dict: *base* with *override*'s keys laid over it, nested dicts merged key by key.

    Where both sides hold a mapping under the same key, the two are merged recursively; otherwise the
    override's value wins. Neither input is changed, and every nested mapping of the result is a new
    dict, so changing the result never reaches back into *base* or *override*.

    Args:
        base: the lower-precedence settings.
        override: the higher-precedence settings, or ``None`` (a copy of *base* is returned).

    Returns:
        The merged configuration. Never raises for mappings of any shape.
    """
    result = {key: _copied(value) for key, value in base.items()}
    for key, value in (override or {}).items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            result[key] = merge_configs(current, value)
        else:
            result[key] = _copied(value)
    return result


def _copied(value: Any) -> Any:
    """A fresh dict for a mapping (recursively), the value itself otherwise."""
    if isinstance(value, Mapping):
        return {key: _copied(item) for key, item in value.items()}
    return value
