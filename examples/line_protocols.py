"""Line protocols real servers speak, offline: redis's RESP and memcached-style requests of two lines.

A tiny in-process stand-in for redis (pynector.testing.serve_tcp with a RESP framing) answers GET,
SET, MGET, INCR and HGETALL; the client sends commands as lists and gets Python values back (bulk
strings as bytes, null as None, arrays as lists, errors as RespError values). Against a real
redis-server, only host and port change. Run it: ``python examples/line_protocols.py``.
"""

from __future__ import annotations

from typing import Any

import trio

import pynector
from pynector.framing import RespError, RespFraming, encode_resp_value
from pynector.testing import serve_tcp

#: The fake server's null reply (a serve_tcp handler returning None closes the connection instead).
NIL = object()


class RespServerFraming(RespFraming):
    """The server's side of RESP: commands in (arrays of bulk strings), replies out."""

    def encode(self, payload: Any) -> bytes:
        if isinstance(payload, list):
            payload = [None if item is NIL else item for item in payload]
        return encode_resp_value(None if payload is NIL else payload)


def fake_redis() -> Any:
    """A handler playing a few redis commands on a dict."""
    strings: dict[bytes, bytes] = {}
    hashes: dict[bytes, dict[bytes, bytes]] = {}

    def handle(command: list[bytes]) -> Any:
        name, *args = command
        match name.upper(), args:
            case b"SET", [key, value]:
                strings[key] = value
                return "OK"
            case b"GET", [key]:
                return strings.get(key, NIL)
            case b"MGET", keys:
                return [strings.get(key, NIL) for key in keys]
            case b"INCR", [key]:
                strings[key] = b"%d" % (int(strings.get(key, b"0")) + 1)
                return int(strings[key])
            case b"HSET", [key, *pairs]:
                fields = hashes.setdefault(key, {})
                fields.update(zip(pairs[::2], pairs[1::2], strict=True))
                return len(pairs) // 2
            case b"HGETALL", [key]:
                return [part for item in hashes.get(key, {}).items() for part in item]
        return RespError(f"ERR unknown command '{name.decode()}'")

    return handle


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_tcp(fake_redis(), framing=RespServerFraming(), task_status=task_status)
        )
        async with pynector.Pynector(
            transport_type="tcp", host=server.host, port=server.port, framing="resp"
        ) as client:
            print(await client.request(["SET", "greeting", "hello\r\nworld"]))  # OK
            print(await client.request(["GET", "greeting"]))  # b'hello\r\nworld': CRLF inside is fine
            print(await client.request(["MGET", "greeting", "missing"]))  # [b'hello\r\nworld', None]
            counts = await client.batch_request([(["INCR", "hits"], {}) for _ in range(100)])
            print(max(counts))  # 100: every INCR got its own reply
            await client.request(["HSET", "user:1", "name", "Ada", "lang", "en"])
            print(await client.request(["HGETALL", "user:1"]))  # [b'name', b'Ada', b'lang', b'en']
            error = await client.request(["FLY"])
            print(type(error).__name__, error)  # RespError ERR unknown command 'FLY'
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
