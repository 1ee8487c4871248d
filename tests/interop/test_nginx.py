"""Both HTTP engines against a real nginx: files, encodings, framing, redirects, keep-alive, TLS, uploads."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
import trio
from interop_servers import NginxServer

import pynector

MIB = 1024 * 1024
SECRETS = {"Authorization": "Bearer s3cr3t-t0ken", "Cookie": "session=s3cr3t", "X-API-Key": "k3y-s3cr3t"}


#: The Content-Type nginx.conf maps each file extension to.
_TYPES = {"txt": "text/plain", "bin": "application/octet-stream"}


def _client(engine: str, base_url: str, **options: object) -> pynector.Pynector:
    options.setdefault("timeout", 30)
    return pynector.Pynector(transport_type=engine, base_url=base_url, **options)


async def test_static_files_arrive_byte_for_byte(
    nginx_server: NginxServer, http_engine: str, static_files: dict[str, bytes]
) -> None:
    """Every file nginx serves arrives whole, with its length and type, on one reused client."""
    async with _client(http_engine, nginx_server.url) as client:
        for _round in range(3):
            for name, content in static_files.items():
                response = await client.request(
                    {"url": f"/{name}", "headers": {"Accept-Encoding": "identity"}}
                )
                assert 200 == response.status_code
                assert content == response.content
                assert str(len(content)) == response.headers["content-length"]
                assert _TYPES[name.rpartition(".")[2]] == response.headers["content-type"]
        missing = await client.request({"url": "/missing.txt"}, raise_for_status=False)
        assert 404 == missing.status_code


async def test_gzip_is_decoded_from_a_chunked_body(
    nginx_server: NginxServer, http_engine: str, static_files: dict[str, bytes]
) -> None:
    """A text compressed on the fly comes chunked and gzipped, and decodes to the file's bytes."""
    async with _client(http_engine, nginx_server.url) as client:
        response = await client.request({"url": "/big.txt"})
        assert "gzip" == response.headers["content-encoding"]
        assert "chunked" == response.headers["transfer-encoding"]
        assert "content-length" not in response.headers
        assert static_files["big.txt"] == response.content
        async with client.stream({"url": "/big.txt"}) as streamed:
            chunks = [chunk async for chunk in streamed.aiter_bytes()]
        assert static_files["big.txt"] == b"".join(chunks)
        # The connection survives the chunked body: the next request gets its own answer.
        assert b"hello from nginx\n" == (await client.request({"url": "/hello.txt"})).content


async def test_head_204_and_304_have_no_body_and_keep_the_connection_in_step(
    nginx_server: NginxServer, http_engine: str, static_files: dict[str, bytes]
) -> None:
    """HEAD, 204 and 304 answers carry no body, and each next request gets its own response."""
    hello = static_files["hello.txt"]
    async with _client(http_engine, nginx_server.url, max_connections=1) as client:
        for _round in range(3):
            head = await client.request(
                {"method": "HEAD", "url": "/hello.txt", "headers": {"Accept-Encoding": "identity"}}
            )
            assert (200, b"") == (head.status_code, head.content)
            assert str(len(hello)) == head.headers["content-length"]

            empty = await client.request({"url": "/no-content"})
            assert (204, b"") == (empty.status_code, empty.content)

            first = await client.request({"url": "/hello.txt"})
            assert hello == first.content
            etag = first.headers["etag"]
            cached = await client.request({"url": "/hello.txt", "headers": {"If-None-Match": etag}})
            assert (304, b"") == (cached.status_code, cached.content)
            since = await client.request(
                {"url": "/hello.txt", "headers": {"If-Modified-Since": first.headers["last-modified"]}}
            )
            assert (304, b"") == (since.status_code, since.content)


async def test_redirect_to_another_origin_strips_credentials(
    nginx_server: NginxServer, http_engine: str
) -> None:
    """Authorization, Cookie and API-key headers follow a same-origin redirect and never another origin."""
    async with _client(http_engine, nginx_server.url, follow_redirects=True, headers=SECRETS) as client:
        same = await client.request({"url": "/redirect/same"})
        assert {
            "origin": "main",
            "authorization": SECRETS["Authorization"],
            "cookie": SECRETS["Cookie"],
            "x_api_key": SECRETS["X-API-Key"],
        } == same.json()
        assert [302] == [r.status_code for r in same.history]

        other = await client.request({"url": "/redirect/other"})
        assert {"origin": "other", "authorization": "", "cookie": "", "x_api_key": ""} == other.json()
        assert f"{nginx_server.other_url}/headers" == str(other.url)

    async with _client(http_engine, nginx_server.url, headers=SECRETS) as client:
        not_followed = await client.request({"url": "/redirect/other"})
        assert (302, f"{nginx_server.other_url}/headers") == (
            not_followed.status_code,
            not_followed.headers["location"],
        )


# The keep-alive soak: nginx closes a connection after 100 requests (`keepalive_requests 100`) and an
# idle one after one second (`keepalive_timeout 1s`). Bursts of requests separated by pauses straddling
# that second make the client reuse connections at the moment nginx closes them; an idempotent request
# caught by that race must be resent, never reported as a failure.
_SOAK_BURST = 630
_SOAK_PAUSES = (0.96, 1.0, 1.02, 0.98, 1.04, 1.0, 0.99)  # seconds; 8 bursts, 5,040 requests


@pytest.mark.parametrize("engine", ["http", "httpx"])
async def test_keepalive_soak_has_no_failures(nginx_server: NginxServer, engine: str) -> None:
    """5,040 GETs in bursts with one-second pauses against nginx's keep-alive limits: zero failures."""
    failures: list[BaseException] = []
    statuses: dict[int, int] = {}
    async with _client(engine, nginx_server.url, timeout=20) as client:
        for pause in (0.0, *_SOAK_PAUSES):  # the first burst starts at once
            # Real-time sleep: the race is with nginx's own one-second idle timer, on the wall clock.
            await trio.sleep(pause)
            results = await client.batch_request(
                [({"url": "/hello.txt"}, {}) for _ in range(_SOAK_BURST)], max_concurrency=8
            )
            for result in results:
                if isinstance(result, BaseException):
                    failures.append(result)
                else:
                    statuses[result.status_code] = statuses.get(result.status_code, 0) + 1
    assert [] == [repr(exc) for exc in failures]
    assert {200: _SOAK_BURST * (1 + len(_SOAK_PAUSES))} == statuses


async def _stream_to_end(client: pynector.Pynector, request: dict[str, object], timeout: float) -> int:
    """Stream *request*'s body to its end; return its length."""
    size = 0
    async with client.stream(request, timeout=timeout) as response:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
    return size


async def test_a_dripping_body_is_bounded_by_the_timeout(nginx_server: NginxServer, http_engine: str) -> None:
    """A body sent at 1 KiB/s fails with TimeoutError at the deadline, and the client still works."""
    async with _client(http_engine, nginx_server.url) as client:
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError):
            await client.request({"url": "/drip/data.bin"}, timeout=0.5)
        took = trio.current_time() - start
        assert 0.5 <= took < 3.0, took
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError):
            await _stream_to_end(client, {"url": "/drip/data.bin"}, timeout=0.5)
        took = trio.current_time() - start
        assert 0.5 <= took < 3.0, took
        assert b"hello from nginx\n" == (await client.request({"url": "/hello.txt"})).content


def _upload_body() -> bytes:
    """50 MiB that are not all alike (a body that lost or repeated a block would change its digest)."""
    block = hashlib.sha256(b"pynector").digest() * (MIB // 32)
    return b"".join(bytes([n]) + block[1:] for n in range(50))


async def test_a_50_mib_upload_arrives_whole(nginx_server: NginxServer, http_engine: str) -> None:
    """A 50 MiB POST, from bytes and as a stream of chunks, reaches nginx in full."""
    body = _upload_body()
    assert 50 * MIB == len(body)

    async def chunks() -> AsyncIterator[bytes]:
        view = memoryview(body)
        for start in range(0, len(body), MIB):
            yield bytes(view[start : start + MIB])

    async with _client(http_engine, nginx_server.url, timeout=60) as client:
        response = await client.request({"method": "POST", "url": "/upload", "content": body})
        assert (200, str(len(body))) == (response.status_code, response.text)
        streamed = await client.request({"method": "POST", "url": "/upload", "content": chunks()})
        assert (200, str(len(body))) == (streamed.status_code, streamed.text)


async def test_an_early_413_is_returned_while_the_body_uploads(
    nginx_server: NginxServer, http_engine: str
) -> None:
    """nginx refuses a 50 MiB body by its length before reading it: the 413 reaches the caller."""
    body = _upload_body()
    async with _client(http_engine, nginx_server.url, timeout=60) as client:
        for _round in range(2):
            response = await client.request(
                {"method": "POST", "url": "/upload-small", "content": body}, raise_for_status=False
            )
            assert 413 == response.status_code
            assert b"hello from nginx\n" == (await client.request({"url": "/hello.txt"})).content


async def test_tls_with_a_throwaway_ca(
    nginx_server: NginxServer, http_engine: str, static_files: dict[str, bytes]
) -> None:
    """HTTPS works with the CA trusted; a redirect to plain http is refused; no CA is a TLSError."""
    async with _client(http_engine, nginx_server.tls_url, verify=nginx_server.trusting_context()) as client:
        for name in ("hello.txt", "big.txt"):
            response = await client.request({"url": f"/{name}"})
            assert static_files[name] == response.content

    async with _client(
        http_engine, nginx_server.tls_url, verify=nginx_server.trusting_context(), follow_redirects=True
    ) as client:
        with pytest.raises(pynector.RedirectError):
            await client.request({"url": "/redirect/plain"})

    async with _client(http_engine, nginx_server.tls_url) as client:
        with pytest.raises(pynector.TLSError) as info:
            await client.request({"url": "/hello.txt"})
        assert "unable to get local issuer certificate" in str(info.value)
