"""The interop fixtures' rules for a missing server binary (these tests need no server)."""

from __future__ import annotations

import interop_servers
import pytest
from helpers import processes


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every binary lookup finds nothing, as on a machine without the servers."""
    monkeypatch.setattr(processes.shutil, "which", lambda name, path=None: None)


@pytest.mark.usefixtures("no_binaries")
def test_a_missing_server_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PYNECTOR_REQUIRE_INTEROP the test is skipped, naming the binary and its package."""
    monkeypatch.delenv(processes.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        processes.find_binary("redis-server", "redis-server")
    assert "redis-server is not installed (Debian package redis-server)" in str(info.value)
    assert "make test-interop" in str(info.value)


@pytest.mark.usefixtures("no_binaries")
def test_a_missing_server_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """With PYNECTOR_REQUIRE_INTEROP=1 a missing binary fails the test instead of skipping it."""
    monkeypatch.setenv(processes.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception) as info:
        processes.find_binary("nginx", "nginx")
    assert "nginx is not installed" in str(info.value)
    assert "PYNECTOR_REQUIRE_INTEROP=1 requires it" in str(info.value)


def test_free_ports_are_distinct_and_bindable() -> None:
    """The ports handed to a server are distinct and free to listen on."""
    import socket

    ports = interop_servers.free_ports(3)
    assert 3 == len(set(ports))
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((interop_servers.HOST, port))
