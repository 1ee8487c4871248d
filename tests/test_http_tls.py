"""TLS with trustme: untrusted and mismatched certificates are refused with a readable reason."""

from __future__ import annotations

import pytest
import trustme
from helpers.http_faults import assert_mapped, fault_scenario
from helpers.tls import client_context, server_context

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def hello(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    return HTTPResponse(200, body=b"secure hello")


async def test_trusted_certificate_positive_control(http_engine: str, ca: trustme.CA) -> None:
    """A certificate from a trusted CA for 127.0.0.1 is accepted."""
    async with (
        open_http_server(hello, ssl_context=server_context(ca, "127.0.0.1")) as server,
        pynector.Pynector(
            transport_type=http_engine, base_url=server.url, verify=client_context(ca)
        ) as client,
    ):
        response = await client.request("/")
    assert b"secure hello" == response.content
    assert server.url.startswith("https://")


async def test_untrusted_certificate_is_refused(http_engine: str, ca: trustme.CA) -> None:
    """A certificate from an unknown CA (self-signed chain) raises TLSError with the reason, once."""
    async with (
        open_http_server(hello, ssl_context=server_context(ca, "127.0.0.1")) as tls_server,
        fault_scenario(hello, http_engine) as (_, client),
    ):
        with pytest.raises(pynector.TLSError) as info:
            await client.request_with_retry(f"{tls_server.url}/", retry=pynector.RetryPolicy(initial_delay=0))
    assert_mapped(info.value, pynector.TLSError, "certificate")
    assert ("self-signed" in str(info.value)) or ("issuer" in str(info.value))
    assert 1 == info.value.attempts
    assert info.value.request_sent is False
    assert 0 == len(tls_server.requests)


async def test_host_mismatch_is_refused(http_engine: str, ca: trustme.CA) -> None:
    """A trusted certificate for another name raises TLSError naming the mismatch."""
    async with (
        open_http_server(hello, ssl_context=server_context(ca, "example.org")) as tls_server,
        fault_scenario(hello, http_engine, verify=client_context(ca)) as (_, client),
    ):
        with pytest.raises(pynector.TLSError) as info:
            await client.request(f"{tls_server.url}/")
    assert_mapped(info.value, pynector.TLSError, "mismatch")


async def test_verify_false_is_an_explicit_opt_out(http_engine: str, ca: trustme.CA) -> None:
    """verify=False accepts an untrusted certificate (never a silent fallback)."""
    async with (
        open_http_server(hello, ssl_context=server_context(ca, "127.0.0.1")) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, verify=False) as client,
    ):
        assert 200 == (await client.request("/")).status_code
