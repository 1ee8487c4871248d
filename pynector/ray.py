"""Run pynector inside Ray Data: a batch of requests per block, one client per actor.

``pip install 'pynector-trio[ray]'``, then::

    import ray
    from pynector.ray import map_requests

    results = map_requests(
        ray.data.from_items([{"id": n, "request": {"url": f"/items/{n}"}} for n in range(20_000)]),
        client=lambda: pynector.Pynector(transport_type="http", base_url="http://127.0.0.1:8080"),
        actors=4,
    )

Why actors with a persistent loop. The naive adapter calls ``trio.run`` in a plain ``map_batches``
function: every block then pays for a new event loop, a new client and new connections (no keep-alive
across blocks, no shared rate limit, TLS handshakes again), and a function task has nowhere to keep a
client. :class:`RequestMapper` is a callable class, so Ray runs it in long-lived actors: each actor
starts one trio loop in a thread of its own and one client inside it when it is created; every block
is handed to that loop with ``trio.from_thread.run`` and runs through
:meth:`pynector.Pynector.stream_batch` (bounded concurrency, the client's retries and quotas), and the
client is closed when the actor goes away. A client built with a shared quota (a Redis-backed rate
limit) makes the whole cluster respect one limit.

Exactly once in the output. A request that fails does not fail the block: its row carries the error
(``ok`` false, ``error_type``, ``error_message``), so Ray never retries a block because one request
failed, and the output has exactly one row per input row. When Ray does re-run a block (an actor died),
the output of the lost attempt is discarded by Ray, so rows are still not duplicated; the requests of
that block are sent again, as with any crash (make them idempotent where that matters).

This module imports ``ray`` only when :func:`map_requests` is called, and uses only pynector's public
API.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import trio

from . import ConfigurationError, HTTPStatusError, Pynector

__all__ = ["RequestMapper", "map_requests"]

#: The columns every output row gets (besides the input's).
RESULT_COLUMNS = ("ok", "status", "body", "error_type", "error_message")


def _body(response: Any) -> str | None:
    content = getattr(response, "content", None)
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    if response is None:
        return None
    try:
        return json.dumps(response)
    except (TypeError, ValueError):
        return str(response)


def _columns(result: Any) -> tuple[bool, int | None, str | None, str | None, str | None]:
    if isinstance(result, BaseException):
        response = result.response if isinstance(result, HTTPStatusError) else None
        status = result.status_code if isinstance(result, HTTPStatusError) else None
        return False, status, _body(response), type(result).__name__, str(result)
    status = getattr(result, "status_code", None)
    return True, status if isinstance(status, int) else None, _body(result), None, None


class RequestMapper:
    """A Ray Data callable class: ``dataset.map_batches(RequestMapper, fn_constructor_kwargs=...)``.

    Each actor keeps one trio loop (in a thread) and one client; ``__call__`` runs a pandas batch's
    requests through :meth:`pynector.Pynector.stream_batch` on that loop and returns the batch with
    the result columns ``ok``, ``status``, ``body``, ``error_type`` and ``error_message`` added.

    Args:
        client: a function that makes the client, called once in the actor's loop.
        request_column: the column holding each row's request (the data given to
            :meth:`pynector.Pynector.request`).
        options_column: an optional column of per-request option mappings.
        **batch_options: passed to ``stream_batch`` (``max_concurrency``, ``timeout``, ``retry``...).

    Raises:
        pynector.ConfigurationError: *client* is not callable, or did not make a client.
    """

    def __init__(
        self,
        client: Callable[[], Pynector],
        *,
        request_column: str = "request",
        options_column: str | None = None,
        **batch_options: Any,
    ) -> None:
        if not callable(client):
            raise ConfigurationError(f"client must be a function that makes a Pynector, got {client!r}")
        self._make_client = client
        self._request_column = request_column
        self._options_column = options_column
        self._batch_options = batch_options
        self._client: Pynector | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._serve,), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise ConfigurationError(f"the client could not be made: {self._failure}") from self._failure

    async def _serve(self) -> None:
        """The actor's loop: open the client, wait until :meth:`close`, close the client."""
        try:
            client = self._make_client()
            if not isinstance(client, Pynector):
                raise TypeError(f"client() returned {type(client).__name__}, not a Pynector")
            self._client = client
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
        except Exception as exc:
            self._failure = exc
            self._ready.set()
            return
        async with client:
            self._ready.set()
            await self._stop.wait()

    async def _run(self, requests: list[Any], options: list[Mapping[str, Any]]) -> list[Any]:
        assert self._client is not None
        results: list[Any] = [None] * len(requests)
        pairs = zip(requests, options, strict=True)
        async with self._client.stream_batch(pairs, **self._batch_options) as stream:
            async for index, result in stream:
                results[index] = result
        return results

    def __call__(self, batch: Any) -> Any:
        """Run the requests of *batch* (a pandas DataFrame) and return it with the result columns added.

        Blocks until every request of the batch has a result (a response or an error).
        """
        requests = list(batch[self._request_column])
        options: list[Mapping[str, Any]] = (
            [dict(o) if isinstance(o, Mapping) else {} for o in batch[self._options_column]]
            if self._options_column is not None
            else [{} for _ in requests]
        )
        results = trio.from_thread.run(self._run, requests, options, trio_token=self._token)
        rows = [_columns(result) for result in results]
        out = batch.copy()
        for position, name in enumerate(RESULT_COLUMNS):
            out[name] = [row[position] for row in rows]
        return out

    def close(self) -> None:
        """Close the client and stop the actor's loop (blocks until they are done)."""
        if self._stop is not None and self._token is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # an interpreter going away: nothing left to close cleanly
            self.close()


def map_requests(
    dataset: Any,
    client: Callable[[], Pynector],
    *,
    actors: int = 2,
    batch_size: int = 1000,
    request_column: str = "request",
    options_column: str | None = None,
    **batch_options: Any,
) -> Any:
    """Run the requests of a Ray dataset's *request_column* on *actors* actors; return the dataset
    with the result columns (see :class:`RequestMapper`).

    Lazy, as Ray Data is: nothing runs until the result is consumed (``take_all``, ``write_*``...).
    Give Ray more logical CPUs than *actors* (``ray.init(num_cpus=actors + 2)``): reading the input
    needs CPU slots too, and with none left the pipeline waits forever.

    Raises:
        pynector.ConfigurationError: ``ray`` is not installed, or *actors* / *batch_size* is not a
            positive integer.
    """
    try:
        import ray.data  # noqa: F401 - only to fail early with a clear message
    except ImportError as exc:
        raise ConfigurationError("pynector.ray needs Ray Data: pip install 'pynector-trio[ray]'") from exc
    for name, value in (("actors", actors), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} must be a whole number >= 1, got {value!r}")
    return dataset.map_batches(
        RequestMapper,
        fn_constructor_kwargs={
            "client": client,
            "request_column": request_column,
            "options_column": options_column,
            **batch_options,
        },
        batch_format="pandas",
        batch_size=batch_size,
        concurrency=actors,
    )
