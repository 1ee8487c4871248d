"""Tools for handling exceptions the same way everywhere: shared by the client, the batch engine and
the transports (which sit below the client and must not import it).

- :func:`iter_chain`: the one walk over an exception's causes (``__cause__``, else ``__context__``)
  and, for exception groups, their members; every "find the root cause" or "is there an SSL error
  in there" question is a loop over it;
- :func:`map_exceptions`: a context manager that turns foreign exceptions into pynector errors by a
  table (``{ssl.SSLError: TLSError, OSError: ConnectError}``), the original kept as ``__cause__``,
  instead of a hand-written ``except`` ladder at every boundary (httpcore's ``map_exceptions``);
- :func:`collapse_group`: the one exception to re-raise from a nursery's ExceptionGroup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

import trio

__all__ = ["collapse_group", "iter_chain", "map_exceptions"]


def iter_chain(
    exc: BaseException, members: Literal["all", "first", "none"] = "all"
) -> Iterator[BaseException]:
    """Yield *exc*, then what caused it (``__cause__``, else ``__context__``), and so on, depth first,
    each exception once (chains can loop).

    An exception group's members are walked too, after the group's own cause: all of them
    (``members="all"``), the first only (``"first"``: trio's happy eyeballs puts one failed attempt
    per address in a group, and the first says enough), or none.
    """
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if members != "none" and isinstance(current, BaseExceptionGroup):
            group = current.exceptions if members == "all" else current.exceptions[:1]
            stack.extend(reversed(group))
        following = current.__cause__ or current.__context__
        if following is not None:
            stack.append(following)


@contextmanager
def map_exceptions(
    table: Mapping[type[Exception], Callable[[Exception], Exception]],
) -> Iterator[None]:
    """Re-raise an exception of the block as ``table[cls](exc)``, from the original, for the first
    entry (in the table's order) whose class it is an instance of; anything else passes unchanged.

    ``table`` values are pynector error classes or small factories building the message
    (``lambda exc: TLSError(f"TLS handshake with {where} failed: {describe_exception(exc)}")``).
    Put specific classes before general ones. A factory may return the exception itself to let it
    pass unchanged. ``trio.Cancelled`` and ``KeyboardInterrupt`` must not
    appear in it: they always pass.
    """
    try:
        yield
    except Exception as exc:
        for cls, build in table.items():
            if isinstance(exc, cls):
                mapped = build(exc)
                if mapped is exc:  # already the right error (a pynector error passing through)
                    raise
                raise mapped from exc
        raise


def collapse_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Pick the one exception to re-raise from a nursery's ExceptionGroup.

    Workers never let an ``Exception`` escape, so a group holds ``Cancelled``, at most a few
    ``BaseException`` such as ``KeyboardInterrupt``, and (for a stream) what the consumer's block
    raised; the first non-``Cancelled`` one wins, otherwise a ``Cancelled`` (its cancel scope catches
    it as usual).
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]
