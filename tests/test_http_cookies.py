"""The opt-in cookie jar: stdlib http.cookiejar rules (domain, path, secure, expiry), per-request
cookies, Response.cookies, and no cookie kept without the option."""

from __future__ import annotations

from http.cookiejar import CookieJar

import pytest

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def cookie_server(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """/set sets cookies; /redirect points elsewhere; anything else echoes the Cookie header."""
    if request.path == "/set":
        return HTTPResponse(
            200,
            [
                ("Set-Cookie", "session=abc; Path=/"),
                ("Set-Cookie", "scoped=1; Path=/private"),
                ("Set-Cookie", "secure=1; Path=/; Secure"),
                ("Set-Cookie", "gone=1; Path=/; Max-Age=0"),
                ("Set-Cookie", "other=1; Path=/; Domain=other.example"),
            ],
        )
    if request.path.startswith("/redirect"):
        return HTTPResponse(302, [("Location", request.query["to"])])
    return HTTPResponse(200, body=request.header("cookie") or "")


async def test_jar_keeps_and_sends_cookies_by_the_rules(http_engine: str) -> None:
    """Path, Secure, expiry and Domain rules decide which stored cookies go back."""
    async with (
        open_http_server(cookie_server) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, cookies=True) as client,
    ):
        setting = await client.get("/set")
        root = await client.get("/")
        private = await client.get("/private/page")
    assert {"session": "abc", "scoped": "1", "secure": "1", "gone": "1", "other": "1"} == setting.cookies
    assert "session=abc" == root.text  # not Secure over http, not expired, not another domain
    assert {"session=abc", "scoped=1"} == set(private.text.split("; "))


async def test_no_cookie_kept_without_the_option(http_engine: str) -> None:
    """By default a client is stateless: a cookie set by one response is not sent back."""
    async with (
        open_http_server(cookie_server) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        await client.get("/set")
        assert "" == (await client.get("/")).text


async def test_per_request_cookies_join_the_jar(http_engine: str) -> None:
    """A request's own cookies are sent with the jar's, for that request only."""
    async with (
        open_http_server(cookie_server) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, cookies={"pref": "dark"}) as c,
    ):
        both = await c.get("/", cookies={"once": "1"})
        after = await c.get("/")
    assert {"pref=dark", "once=1"} == set(both.text.split("; "))
    assert "pref=dark" == after.text


async def test_jar_cookies_do_not_follow_a_redirect_to_another_host() -> None:
    """A redirect to another host gets only the cookies the jar's domain rules allow there (none)."""
    async with open_http_server(cookie_server) as first, open_http_server(cookie_server) as second:
        other = second.url.replace("127.0.0.1", "localhost")
        async with pynector.Pynector(base_url=first.url, cookies=True, follow_redirects=True) as client:
            await client.get("/set")
            response = await client.get("/redirect", params={"to": f"{other}/echo"})
    assert "" == response.text
    assert [None] == [r.header("cookie") for r in second.requests]


async def test_users_cookiejar_is_used() -> None:
    """An http.cookiejar.CookieJar passed in receives the cookies (the caller can inspect it)."""
    jar = CookieJar()
    async with (
        open_http_server(cookie_server) as server,
        pynector.Pynector(base_url=server.url, cookies=jar) as client,
    ):
        await client.get("/set")
    assert {"session", "scoped", "secure"} <= {cookie.name for cookie in jar}


@pytest.mark.parametrize(("cookies", "message"), [("yes", "cookies must be"), ({"a": 1}, "string values")])
def test_invalid_cookies_option(cookies: object, message: str) -> None:
    """An invalid cookies option is a ConfigurationError naming it."""
    with pytest.raises(pynector.ConfigurationError, match=message):
        pynector.Pynector(base_url="http://127.0.0.1:1", cookies=cookies)
