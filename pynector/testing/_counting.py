"""Connection counting shared by the loopback servers."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio


@dataclass(kw_only=True, eq=False)
class ConnectionCounter:
    """Counts connections accepted and closed, and lets a test wait until none is open.

    Attributes:
        connections_accepted: connections accepted so far.
        connections_closed: connections the server has finished with (closed or reset).
    """

    connections_accepted: int = 0
    connections_closed: int = 0
    _changed: trio.Event = field(default_factory=trio.Event, repr=False)

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return self.connections_accepted - self.connections_closed

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_all_closed(self) -> None:
        """Block until every accepted connection has been closed (wrap it in a trio timeout).

        A client that released its sockets lets this return promptly: the way tests check that nothing
        leaked a connection.
        """
        while self.open_connections:
            await self._changed.wait()
