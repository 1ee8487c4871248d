"""Tools for handling exceptions the same way everywhere: shared by the client, the batch engine and
the transports (which sit below the client and must not import it).
"""

from __future__ import annotations

import trio

__all__ = ["collapse_group"]


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
