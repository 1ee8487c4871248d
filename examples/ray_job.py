"""1,000 HTTP requests on two Ray actors, each with one trio loop and one pynector client.

Needs the ``ray`` extra (``pip install 'pynector-trio[ray]'``). A loopback server runs in its own
process (the actors are processes too, so it cannot live in this one's trio loop); every row of the
result carries the request's outcome as columns.
"""

from __future__ import annotations

import subprocess
import sys

import ray

import pynector
from pynector.ray import map_requests

SERVER = """
import trio
from pynector.testing import HTTPResponse, serve_http
async def main():
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            serve_http, lambda request, conn: HTTPResponse.json({"path": request.path})
        )
        print(server.url, flush=True)
trio.run(main)
"""


class ClientFactory:
    """Makes each actor's client (a class, not a lambda, so that Ray can ship it to the actors)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __call__(self) -> pynector.Pynector:
        return pynector.Pynector(transport_type="http", base_url=self.base_url)


def main() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        server_url = server.stdout.readline().strip()
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
        try:
            dataset = map_requests(
                ray.data.from_items([{"id": n, "request": {"url": f"/items/{n}"}} for n in range(1000)]),
                client=ClientFactory(server_url),
                actors=2,
            )
            rows = dataset.take_all()
        finally:
            ray.shutdown()
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    ok = sum(1 for row in rows if row["ok"])
    print(f"{len(rows)} rows, {ok} ok, ids {min(r['id'] for r in rows)}..{max(r['id'] for r in rows)}")


if __name__ == "__main__":
    main()
