"""The exception toolkit: one walk over cause chains and groups, one table-driven mapping."""

from __future__ import annotations

import itertools
import ssl

import pytest
import trio
import trio.lowlevel

import pynector
from pynector._exctools import collapse_group, iter_chain, map_exceptions


def chained(*excs: BaseException) -> BaseException:
    """Link *excs* so that each is the __cause__ of the one before it; return the first."""
    for outer, inner in itertools.pairwise(excs):
        outer.__cause__ = inner
    return excs[0]


def test_iter_chain_follows_causes_then_contexts_once() -> None:
    """Causes are followed (contexts when there is no cause), and a loop ends the walk."""
    a, b, c = ValueError("a"), OSError("b"), KeyError("c")
    chained(a, b)
    b.__context__ = c
    c.__cause__ = a  # a loop
    assert [a, b, c] == list(iter_chain(a))


def test_iter_chain_opens_groups_all_or_first_or_none() -> None:
    """Group members are walked: every one, the first only, or none."""
    first, second = OSError("first"), OSError("second")
    group = ExceptionGroup("attempts", [first, second])
    top = chained(pynector.ConnectError("connect failed"), group)
    assert [top, group, first, second] == list(iter_chain(top))
    assert [top, group, first] == list(iter_chain(top, "first"))
    assert [top, group] == list(iter_chain(top, "none"))


def test_map_exceptions_uses_the_first_matching_entry_and_keeps_the_cause() -> None:
    """An SSL error matches its own entry before OSError's, and the original is the __cause__."""
    table = {ssl.SSLError: pynector.TLSError, OSError: pynector.ConnectError}
    original = ssl.SSLError("bad certificate")
    with pytest.raises(pynector.TLSError) as info, map_exceptions(table):
        raise original
    assert original is info.value.__cause__


def test_map_exceptions_passes_other_exceptions_and_returned_originals() -> None:
    """Unlisted exceptions pass as they are; a factory returning the exception lets it pass too."""
    with pytest.raises(KeyError), map_exceptions({OSError: pynector.ConnectError}):
        raise KeyError("k")
    error = pynector.ReadError("already mapped")
    with pytest.raises(pynector.ReadError) as info, map_exceptions({Exception: lambda exc: exc}):
        raise error
    assert error is info.value
    assert None is info.value.__cause__


async def test_map_exceptions_never_touches_cancellation() -> None:
    """trio.Cancelled is a BaseException: it leaves the block untouched even under an Exception entry."""
    with trio.CancelScope() as scope, map_exceptions({Exception: pynector.TransportError}):
        scope.cancel()
        await trio.lowlevel.checkpoint()
    assert scope.cancelled_caught


def test_collapse_group_prefers_a_real_error_over_cancellation() -> None:
    """A nursery's group collapses to its first non-Cancelled leaf."""
    leaf = KeyboardInterrupt()
    group = BaseExceptionGroup("nursery", [BaseExceptionGroup("inner", [leaf])])
    assert leaf is collapse_group(group)
