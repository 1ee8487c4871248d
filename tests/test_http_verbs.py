"""HTTP verbs on the client, request fields as keyword options, and the typed usage file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

TYPING_DIR = Path(__file__).resolve().parent / "typing"


async def echo(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Echo method, target, headers and body back as JSON."""
    return HTTPResponse.json(
        {
            "method": request.method,
            "target": request.target,
            "headers": request.headers,
            "body": request.body.decode("latin-1"),
        }
    )


@pytest.mark.parametrize("verb", ["get", "post", "put", "patch", "delete", "options"])
async def test_every_verb_sends_its_method_and_fields(http_engine: str, verb: str) -> None:
    """Each verb sends its method with params, headers and a JSON body, and returns a Response."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await getattr(client, verb)(
            "/items", params={"q": "1"}, headers={"X-Test": "yes"}, json={"a": 1}
        )
    assert isinstance(response, pynector.Response)
    echoed = response.json()
    assert verb.upper() == echoed["method"]
    assert "/items?q=1" == echoed["target"]
    assert ["x-test", "yes"] in echoed["headers"]
    assert '{"a":1}' == echoed["body"].replace(" ", "")


async def test_head_returns_headers_without_body(http_engine: str) -> None:
    """client.head gets the status and headers, and an empty body."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.head("/x")
    assert 200 == response.status_code
    assert b"" == response.content


async def test_verb_options_reach_the_transport(http_engine: str) -> None:
    """raise_for_status=False on a verb returns a 404 instead of raising it."""

    async def missing(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(404, body="nope")

    async with (
        open_http_server(missing) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.get("/x", raise_for_status=False)
        with pytest.raises(pynector.NotFoundError):
            await client.get("/x")
    assert 404 == response.status_code


async def test_verb_on_a_non_http_transport_is_a_configuration_error() -> None:
    """A verb on a client whose transport does not answer with a Response says it needs HTTP."""

    async def handler(data: Any, **options: Any) -> Any:
        return data

    async with pynector.Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(pynector.ConfigurationError, match="needs an HTTP transport"):
            await client.get("/x")


async def test_request_fields_as_keyword_options(http_engine: str) -> None:
    """client.request(url, headers=..., params=...) is the dict form with those fields."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request("/x", headers={"X-Kw": "1"}, params={"p": "2"})
    echoed = response.json()
    assert "/x?p=2" == echoed["target"]
    assert ["x-kw", "1"] in echoed["headers"]


async def test_unknown_option_lists_the_accepted_ones(http_engine: str) -> None:
    """An unknown request option fails naming it and every accepted name."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.ConfigurationError) as info:
            await client.request("/x", header={"X": "1"})
    message = str(info.value)
    assert "unknown HTTP request option(s): header;" in message
    for name in ("follow_redirects", "raise_for_status", "timeout", "headers", "params", "json"):
        assert name in message


async def test_batch_of_bare_urls(http_engine: str) -> None:
    """A batch takes bare request dicts and URL strings next to (data, options) pairs."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        results = await client.batch_request(["/a", {"url": "/b", "method": "POST"}, ({"url": "/c"}, {})])
    assert [("GET", "/a"), ("POST", "/b"), ("GET", "/c")] == [
        (r.json()["method"], r.json()["target"]) for r in results
    ]


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_typed_usage_passes_mypy_strict_and_a_misspelling_fails(tmp_path: Path) -> None:
    """The verbs are typed: the usage file passes mypy --strict, a misspelled attribute fails it."""
    source = (TYPING_DIR / "check_http_types.py").read_text()
    good = _mypy(TYPING_DIR / "check_http_types.py")
    assert 0 == good.returncode, good.stdout
    bad_file = tmp_path / "check_misspelled.py"
    bad_file.write_text(source.replace("response.status_code", "response.status_cod", 1))
    bad = _mypy(bad_file)
    assert 1 == bad.returncode, bad.stdout
    assert 'has no attribute "status_cod"' in bad.stdout
