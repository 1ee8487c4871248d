"""Real servers (nginx, redis-server, memcached) started as child processes for the interop tests.

Each server gets free loopback ports, a scratch directory and a config kept next to this file; it runs in
the foreground and is stopped with a signal. A missing binary skips the tests that need it (with the
reason), or fails them when ``PYNECTOR_REQUIRE_INTEROP=1`` (CI sets it, so a server that could not be
installed is a failure there, not a silent skip).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from helpers.processes import find_binary

import pynector

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
_START_TIMEOUT = 15.0
_START_ATTEMPTS = 3


def free_ports(count: int) -> list[int]:
    """*count* distinct loopback ports that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the test process dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@contextlib.contextmanager
def run_server(
    name: str, make_command: Callable[[list[int]], Sequence[str]], port_count: int, log: Path
) -> Iterator[list[int]]:
    """Run ``make_command(ports)`` until every port accepts connections; yield the ports; stop it.

    A port taken between choosing it and the server binding it makes the server exit: that is retried
    with new ports. The server's own output goes to *log* and is quoted when it cannot start.
    """
    for _attempt in range(_START_ATTEMPTS):
        ports = free_ports(port_count)
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(make_command(ports)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # safe here: no other thread runs at fixture set-up
            )
        deadline = time.monotonic() + _START_TIMEOUT
        # Wall-clock polling: a real process starts in real time (synchronous session fixture).
        while process.poll() is None and time.monotonic() < deadline:
            if all(_listening(port) for port in ports):
                break
            time.sleep(0.05)
        if process.poll() is None and all(_listening(port) for port in ports):
            break
        _stop(process)
    else:
        output = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{name} did not start after {_START_ATTEMPTS} attempts; its output:\n{output}")
    try:
        yield ports
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class NginxServer:
    """nginx with three loopback origins (tests/interop/nginx.conf says what each location does).

    Attributes:
        url: ``http://127.0.0.1:PORT``, the main origin (static files, gzip, 204, redirects, drip,
            upload).
        other_url: the second origin (redirect target, upload sink).
        tls_url: ``https://127.0.0.1:PORT`` with a certificate for 127.0.0.1 and localhost from ``ca``.
        root: the directory served (see ``STATIC_FILES``).
        ca: the throwaway CA that signed the TLS certificate.
    """

    url: str
    other_url: str
    tls_url: str
    root: Path
    ca: trustme.CA

    def trusting_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the throwaway CA (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        self.ca.configure_trust(context)
        return context


#: Files the nginx fixture serves: a small text, a compressible text, and a binary file.
STATIC_FILES: dict[str, bytes] = {
    "hello.txt": b"hello from nginx\n",
    "big.txt": b"".join(b"line %06d of a compressible text file\n" % n for n in range(20_000)),
    "data.bin": bytes(range(256)) * 256,
}


@contextlib.contextmanager
def nginx(run: Path) -> Iterator[NginxServer]:
    """Start nginx on three free ports in *run* (a scratch directory); stop it on exit."""
    binary = find_binary("nginx", "nginx")
    root = run / "root"
    root.mkdir()
    for name, content in STATIC_FILES.items():
        (root / name).write_bytes(content)
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    cert.private_key_pem.write_to_path(str(run / "server-key.pem"))
    with (run / "server-chain.pem").open("wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    template = (HERE / "nginx.conf").read_text()

    def command(ports: list[int]) -> list[str]:
        port, other_port, tls_port = ports
        config = (
            template.replace("{{RUN}}", str(run))
            .replace("{{ROOT}}", str(root))
            .replace("{{PORT}}", str(port))
            .replace("{{OTHER_PORT}}", str(other_port))
            .replace("{{TLS_PORT}}", str(tls_port))
        )
        (run / "nginx.conf").write_text(config)
        return [binary, "-e", str(run / "error.log"), "-p", str(run), "-c", str(run / "nginx.conf")]

    with run_server("nginx", command, 3, run / "nginx.out") as (port, other_port, tls_port):
        yield NginxServer(
            url=f"http://{HOST}:{port}",
            other_url=f"http://{HOST}:{other_port}",
            tls_url=f"https://{HOST}:{tls_port}",
            root=root,
            ca=ca,
        )


@dataclass(frozen=True)
class TcpServer:
    """A line-protocol server on loopback (redis-server or memcached).

    Attributes:
        host: ``127.0.0.1``.
        port: its port.
        url: ``redis://127.0.0.1:PORT/0`` for redis, ``memcached://127.0.0.1:PORT`` for memcached.
    """

    host: str
    port: int
    url: str


def line_client(server: TcpServer, **options: object) -> pynector.Pynector:
    """A client of the "tcp" transport with line framing to *server* (10 s timeout)."""
    return pynector.Pynector(
        transport_type="tcp",
        host=server.host,
        port=server.port,
        framing="line",
        config={"timeout": 10},
        **options,
    )


@contextlib.contextmanager
def redis(run: Path) -> Iterator[TcpServer]:
    """Start redis-server (config: tests/interop/redis.conf) on a free port; stop it on exit."""
    binary = find_binary("redis-server", "redis-server")
    config = HERE / "redis.conf"

    def command(ports: list[int]) -> list[str]:
        return [binary, str(config), "--port", str(ports[0]), "--dir", str(run)]

    with run_server("redis-server", command, 1, run / "redis.out") as (port,):
        yield TcpServer(host=HOST, port=port, url=f"redis://{HOST}:{port}/0")


@contextlib.contextmanager
def memcached(run: Path) -> Iterator[TcpServer]:
    """Start memcached (TCP only, 64 MiB) on a free port; stop it on exit."""
    binary = find_binary("memcached", "memcached")
    # memcached refuses to run as root unless told which user to be.
    user = ["-u", "root"] if os.geteuid() == 0 else []

    def command(ports: list[int]) -> list[str]:
        return [binary, "-l", HOST, "-p", str(ports[0]), "-U", "0", "-m", "64", *user]

    with run_server("memcached", command, 1, run / "memcached.out") as (port,):
        yield TcpServer(host=HOST, port=port, url=f"memcached://{HOST}:{port}")
