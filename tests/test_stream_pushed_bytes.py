"""The stream pool never hands bytes that arrived on an idle connection to the next request."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing

import pynector


async def pushing_server(
    pushed: trio.Event, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Answer each line ``X`` with ``reply-X``; after the first reply of all, push a line nobody asked for.

    Like redis ``MONITOR`` or pub/sub output, or a late second part of a reply: the pushed line lands
    on a connection the client has already parked as idle.
    """
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def serve(stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(4096)
                except trio.BrokenResourceError:  # the client reset the connection it discarded
                    return
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    await stream.send_all(b"reply-" + line + b"\n")
                    if not pushed.is_set():
                        # Wait until the client has parked the connection, then push.
                        await trio.testing.wait_all_tasks_blocked()
                        await stream.send_all(b"pushed\n")
                        pushed.set()

    async with trio.open_nursery() as nursery:
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(serve, listeners, handler_nursery=nursery)


async def test_line_pushed_on_idle_connection_is_not_the_next_reply() -> None:
    """A line the server pushes on an idle pooled connection is never returned as the next request's reply."""
    pushed = trio.Event()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(pushing_server, pushed))
        async with pynector.Pynector(transport_type="tcp", host="127.0.0.1", port=port) as client:
            assert b"reply-one" == await client.request(b"one")
            await pushed.wait()
            assert b"reply-two" == await client.request(b"two")
            assert b"reply-three" == await client.request(b"three")
        nursery.cancel_scope.cancel()
