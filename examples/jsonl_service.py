"""A tiny JSON-lines service over TCP and a pynector client talking to it, in one process.

Run: ``python examples/jsonl_service.py``. Needs no network beyond loopback (127.0.0.1, a free port)
and stops by itself. The service answers ``{"op": "add", "a": 1, "b": 2}`` with ``{"result": 3}``;
the client sends one request, a batch of 100 through a pool of 8 connections, and one bad request.
"""

from __future__ import annotations

import json

import trio

import pynector
from pynector.testing import serve_tcp


async def calculator(line: bytes) -> bytes:
    """The service: one JSON object per line in, one per line out."""
    try:
        request = json.loads(line)
        if request["op"] == "add":
            await trio.sleep(0.001)  # pretend to work
            return json.dumps({"result": request["a"] + request["b"]}).encode()
        return json.dumps({"error": f"unknown op {request['op']!r}"}).encode()
    except (ValueError, KeyError, TypeError) as exc:
        return json.dumps({"error": f"bad request: {exc}"}).encode()


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_tcp, calculator)
        async with pynector.Pynector(
            transport_type="tcp", host=server.host, port=server.port, framing="line", max_connections=8
        ) as client:
            reply = await client.request(b'{"op": "add", "a": 1, "b": 2}', timeout=5)
            print("1 + 2 =", json.loads(reply)["result"])

            requests = [(json.dumps({"op": "add", "a": i, "b": i}).encode(), {}) for i in range(100)]
            replies = await client.batch_request(requests, max_concurrency=32, timeout=10)
            sums = [json.loads(r)["result"] for r in replies]
            print(f"batch of {len(sums)}: first {sums[:3]}, last {sums[-1]}")
            print(f"connections used by the batch: {server.connections_accepted}")

            print("bad request ->", json.loads(await client.request(b'{"op": "divide"}'))["error"])
            try:
                await client.request(b'{"op": "add",\n"a": 1}')
            except pynector.SerializationError as exc:
                print("refused before sending:", exc)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
