"""Proxies: absolute-form http and CONNECT tunnels through a loopback proxy, environment variables,
NO_PROXY, trust_env=False, credentials never shown, pooled connections keyed by proxy and origin."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import pytest
import trustme
from helpers.proxy import open_proxy
from helpers.telemetry import everything_recorded

import pynector
from pynector.http._native import NativeEngine
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, capture_logs, open_http_server

CREDENTIALS = "alice:s3cr3t-pw"
BASIC = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no proxy variables set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def hello(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(200, body=f"hello {request.target} {request.header('proxy-authorization')}")


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "origin.test").configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_http_through_proxy_in_absolute_form_with_credentials(http_engine: str) -> None:
    """An http request goes to the proxy as `GET http://origin/path`, credentials as Proxy-Authorization."""
    async with (
        open_http_server(hello) as server,
        open_proxy(required_authorization=BASIC) as proxy,
        pynector.Pynector(transport_type=http_engine, proxy=proxy.url(CREDENTIALS)) as client,
    ):
        first = await client.get(f"{server.url}/a?x=1")
        second = await client.get(f"{server.url}/b")
    assert "hello /a?x=1 None" == first.text  # the origin never sees the proxy's credentials
    assert "hello /b None" == second.text
    assert f"GET {server.url}/a?x=1 HTTP/1.1" == proxy.seen[0][0]
    assert BASIC == proxy.seen[0][1]


async def test_https_through_a_connect_tunnel(http_engine: str) -> None:
    """An https request opens a CONNECT tunnel, then TLS with the origin through it."""
    ca = trustme.CA()
    async with (
        open_http_server(hello, ssl_context=server_context(ca)) as server,
        open_proxy(required_authorization=BASIC) as proxy,
        pynector.Pynector(
            transport_type=http_engine, proxy=proxy.url(CREDENTIALS), verify=trusting(ca)
        ) as client,
    ):
        response = await client.get(f"{server.url}/secure")
        again = await client.get(f"{server.url}/again")
    assert "hello /secure None" == response.text
    assert "hello /again None" == again.text
    port = server.url.rsplit(":", 1)[1]
    assert [(f"CONNECT 127.0.0.1:{port} HTTP/1.1", BASIC)] == proxy.seen  # one tunnel, reused


async def test_wrong_credentials_fail_without_showing_them() -> None:
    """A 407 from the proxy is a ConnectError naming the status; the credentials appear nowhere."""
    ca = trustme.CA()
    async with (
        open_http_server(hello, ssl_context=server_context(ca)) as server,
        open_proxy(required_authorization="Basic other") as proxy,
        pynector.Pynector(proxy=proxy.url(CREDENTIALS), verify=trusting(ca)) as client,
    ):
        with pytest.raises(pynector.ConnectError) as info:
            await client.get(f"{server.url}/")
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!r} {client.transport!r}"
    assert "407" in str(info.value)
    for secret in ("s3cr3t-pw", BASIC.split()[1], "alice"):
        assert secret not in text


async def test_environment_proxy_and_no_proxy() -> None:
    """HTTP_PROXY is honoured by default, NO_PROXY hosts are reached directly, trust_env=False ignores it."""
    async with open_http_server(hello) as server, open_proxy() as proxy:
        mp = pytest.MonkeyPatch()
        try:
            mp.setenv("HTTP_PROXY", proxy.url())
            async with pynector.Pynector() as client:
                await client.get(f"{server.url}/via-env")
            assert 1 == len(proxy.seen)
            async with pynector.Pynector(trust_env=False) as client:
                await client.get(f"{server.url}/direct")
            mp.setenv("NO_PROXY", "localhost,127.0.0.1")
            async with pynector.Pynector() as client:
                await client.get(f"{server.url}/bypassed")
            mp.setenv("NO_PROXY", "*")
            async with pynector.Pynector() as client:
                await client.get(f"{server.url}/everything-bypassed")
        finally:
            mp.undo()
    assert [f"GET {server.url}/via-env HTTP/1.1"] == [line for line, _ in proxy.seen]
    assert ["/via-env", "/direct", "/bypassed", "/everything-bypassed"] == [r.target for r in server.requests]


@pytest.mark.parametrize(
    ("no_proxy", "host", "bypassed"),
    [
        ("example.com", "example.com", True),
        ("example.com", "api.example.com", True),
        ("example.com", "notexample.com", False),
        (".example.com", "example.com", False),
        (".example.com", "api.example.com", True),
        ("http://example.com", "example.com", True),
        ("https://example.com", "example.com", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("", "example.com", False),
    ],
)
def test_no_proxy_rules_match_httpx(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, bypassed: bool
) -> None:
    """NO_PROXY entries: a domain covers its subdomains, a leading dot only subdomains, URLs their scheme."""
    monkeypatch.setenv("http_proxy", "proxy.internal:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    engine = NativeEngine()
    key = engine._pool_key(("http", host, 80))
    assert bypassed == (len(key) == 3)


def test_pool_keys_separate_proxied_and_direct_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections are pooled per origin and proxy: a proxied origin never shares a direct one's pool."""
    monkeypatch.setenv("HTTPS_PROXY", "http://u:p@proxy.internal:3128")
    engine = NativeEngine()
    proxied = engine._pool_key(("https", "a.test", 443))
    direct = engine._pool_key(("http", "a.test", 80))
    assert ("http", "a.test", 80) == direct
    assert ("https", "a.test", 443) == proxied[:3]
    assert "proxy.internal" in repr(proxied[3])
    assert "u:p" not in repr(proxied[3])


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("socks5://u:pw@127.0.0.1:1080", "SOCKS proxies"),
        ("https://u:pw@127.0.0.1:1080", "has scheme 'https'"),
        (42, "proxy must be a URL string"),
    ],
)
def test_unsupported_proxies_are_configuration_errors(proxy: object, message: str) -> None:
    """SOCKS and https proxies are refused on the native engine, saying what to use; no credentials shown."""
    with pytest.raises(pynector.ConfigurationError, match=message) as info:
        pynector.Pynector(proxy=proxy)
    assert "pw" not in str(info.value)


@pytest.mark.usefixtures("clean_telemetry_globals")
async def test_proxy_credentials_never_in_logs_or_spans(tracing: Any) -> None:
    """Through a proxy, on success and on a 407, no span or log record shows the proxy credentials."""
    provider, exporter = tracing
    ca = trustme.CA()
    async with (
        open_http_server(hello, ssl_context=server_context(ca)) as server,
        open_proxy(required_authorization=BASIC) as good,
        open_proxy(required_authorization="Basic other") as bad,
    ):
        with capture_logs("DEBUG") as records:
            async with pynector.Pynector(
                proxy=good.url(CREDENTIALS), verify=trusting(ca), tracer_provider=provider
            ) as client:
                assert 200 == (await client.get(f"{server.url}/")).status_code
            async with pynector.Pynector(
                proxy=bad.url(CREDENTIALS), verify=trusting(ca), tracer_provider=provider
            ) as client:
                with pytest.raises(pynector.ConnectError):
                    await client.get(f"{server.url}/")
    recorded = everything_recorded(exporter, records)
    assert exporter.get_finished_spans()
    assert records
    for secret in ("s3cr3t-pw", BASIC.split()[1]):
        assert secret not in recorded
