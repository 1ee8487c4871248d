"""Interop tests: pynector against real servers that nobody on this project wrote.

`make test-interop` installs the servers from the Debian packages when they are missing (as root) and
runs this directory; plain `pytest` runs it too whenever the binaries exist. Each server is started once
per test session on free loopback ports, with the configs kept here (nginx.conf, redis.conf), and
stopped at the end of the session, whatever happened. Without a binary the tests that need it are
skipped with the reason; with ``PYNECTOR_REQUIRE_INTEROP=1`` (set by CI) they fail instead.

Every test in this directory is marked ``interop`` (``-m interop`` selects them, ``-m "not interop"``
leaves them out). Put new real-server tests here; these session fixtures serve them:

- ``nginx_server``: an :class:`interop_servers.NginxServer` (``url``, ``other_url``, ``tls_url``,
  ``root``, ``ca``, ``trusting_context()``).
- ``redis_server``: an :class:`interop_servers.TcpServer` for redis-server (``host``, ``port``, ``url``).
- ``redis_url``: ``"redis://127.0.0.1:PORT/0"``, for clients that take a URL. The server is shared by
  the whole session: use keys of your own (``redis_key`` gives a fresh prefix), never ``FLUSHALL``.
- ``redis_key``: a key prefix unique to the test (``"test:<uuid>:"``).
- ``memcached_server``: an :class:`interop_servers.TcpServer` for memcached (``host``, ``port``, ``url``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import interop_servers
import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory ``interop``, and run them after all the others.

    They are the slowest tests and the 50 MiB uploads raise the test process's peak memory, which a
    child process started with ``subprocess`` inherits as its own starting peak on Linux (so a test
    that measures a child's peak memory would measure ours).
    """
    ours = [item for item in items if _HERE in item.path.resolve().parents]
    for item in ours:
        item.add_marker(pytest.mark.interop)
    if ours:
        chosen = set(ours)
        items[:] = [item for item in items if item not in chosen] + ours


@pytest.fixture(scope="session")
def nginx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[interop_servers.NginxServer]:
    """nginx on three loopback origins (plain, second origin, TLS), for the whole session."""
    with interop_servers.nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[interop_servers.TcpServer]:
    """redis-server on a loopback port, for the whole session."""
    with interop_servers.redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: interop_servers.TcpServer) -> str:
    """The session's redis-server as ``redis://127.0.0.1:PORT/0``."""
    return redis_server.url


@pytest.fixture
def redis_key() -> str:
    """A redis key prefix that no other test uses."""
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture(scope="session")
def memcached_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[interop_servers.TcpServer]:
    """memcached on a loopback port, for the whole session."""
    with interop_servers.memcached(tmp_path_factory.mktemp("memcached")) as server:
        yield server


@pytest.fixture
def static_files() -> dict[str, bytes]:
    """The files nginx serves from its root, by name."""
    return dict(interop_servers.STATIC_FILES)
