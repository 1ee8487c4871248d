"""Typed use of the HTTP verbs, checked with ``mypy --strict`` by tests/test_http_verbs.py."""

from __future__ import annotations

from typing import assert_type

import httpx

import pynector


async def main(url: str) -> None:
    async with pynector.Pynector(base_url=url) as client:
        response = await client.get("/", params={"q": "1"}, headers={"Accept": "text/plain"})
        assert_type(response, pynector.Response)
        assert_type(response.status_code, int)
        assert_type(response.text, str)
        assert_type(response.headers, httpx.Headers)
        created = await client.post("/items", json={"name": "x"}, timeout=5)
        assert_type(created.content, bytes)
        for verb in (client.put, client.patch, client.delete, client.head, client.options):
            assert_type(await verb("/items/1"), pynector.Response)
        request: pynector.HTTPRequest = {"method": "GET", "url": "/", "headers": {"X": "1"}}
        print(await client.request(request))
