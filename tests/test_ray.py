"""pynector inside Ray Data, on a local Ray instance: every item exactly once, errors as columns.

Needs the ``ray`` extra (``make test-ray`` installs it and runs this file); skipped with a reason
otherwise, unless ``PYNECTOR_REQUIRE_RAY=1`` (set by ``make test-ray``) turns the skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from helpers.processes import served_script

import pynector

if os.environ.get("PYNECTOR_REQUIRE_RAY") == "1":
    import ray
else:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (make test-ray installs it)")

from pynector.ray import RequestMapper, map_requests

# Ray Data warns about its own deprecated settings from inside ray (not from our calls).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SERVER = """
import sys, trio
from pynector.testing import HTTPResponse, serve_http
def handler(request, conn):
    n = int(request.query["n"])
    if n % 1000 == 999:
        return HTTPResponse.json({"n": n}, status=500)
    return HTTPResponse.json({"n": n})
async def main():
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, handler)
        print(server.port, flush=True)
trio.run(main)
"""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A loopback HTTP server in its own process (the actors are processes too)."""
    with served_script(SERVER) as base:
        yield base


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance with more logical CPUs than actors (reading needs slots too)."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        yield
    finally:
        ray.shutdown()


def make_client_factory(base: str) -> object:
    def factory() -> pynector.Pynector:
        return pynector.Pynector(transport_type="http", base_url=base, raise_for_status=True)

    return factory


@pytest.mark.slow
def test_twenty_thousand_items_over_actors_exactly_once(base_url: str, local_ray: None) -> None:
    """20,000 requests through 2 actors: one output row per input row, errors as columns."""
    items = [{"id": n, "request": {"url": f"/item?n={n}"}} for n in range(20_000)]
    dataset = map_requests(
        ray.data.from_items(items),
        make_client_factory(base_url),  # type: ignore[arg-type]
        actors=2,
        batch_size=500,
        max_concurrency=32,
    )
    rows = dataset.take_all()
    ids = [row["id"] for row in rows]
    assert 20_000 == len(ids)
    assert set(range(20_000)) == set(ids)
    failed = [row for row in rows if not row["ok"]]
    assert {n for n in range(20_000) if n % 1000 == 999} == {row["id"] for row in failed}
    assert {"HTTPServerError"} == {row["error_type"] for row in failed}
    assert all(500 == row["status"] for row in failed)
    ok = next(row for row in rows if row["id"] == 7)
    assert (True, 200, '{"n": 7}') == (ok["ok"], ok["status"], ok["body"])


def test_mapper_keeps_one_client_and_loop_across_batches(base_url: str) -> None:
    """The callable class reuses its loop and client for every batch, and closes them on close()."""
    import pandas

    mapper = RequestMapper(make_client_factory(base_url), max_concurrency=4)  # type: ignore[arg-type]
    try:
        first = mapper(pandas.DataFrame({"request": [{"url": "/item?n=1"}, {"url": "/item?n=999"}]}))
        client, token = mapper._client, mapper._token
        second = mapper(pandas.DataFrame({"request": [{"url": "/item?n=2"}]}))
        assert client is mapper._client
        assert token is mapper._token
        assert client is not None
        assert not client.closed
    finally:
        mapper.close()
    assert [True, False] == list(first["ok"])
    assert ["HTTPServerError"] == [e for e in first["error_type"] if isinstance(e, str)]
    assert [200] == list(second["status"])
    assert not mapper._thread.is_alive()
    assert client.closed


def test_bad_settings_are_configuration_errors() -> None:
    """A client factory that is not callable, or bad actor counts, are ConfigurationErrors."""
    with pytest.raises(pynector.ConfigurationError, match="client"):
        RequestMapper(42)  # type: ignore[arg-type]
    with pytest.raises(pynector.ConfigurationError, match="actors"):
        map_requests(None, lambda: pynector.Pynector(transport_type="memory", handler=str), actors=0)
