"""Content codings beyond gzip and deflate: ``br`` and ``zstd``, decoded when their packages are installed.

A response is decoded by the shared layer (:class:`~pynector.http._model.BodyReader`) with bounded
decoders: each produces pieces of at most ``DECODE_CHUNK`` bytes and keeps the rest of its input for
the next call, so the size cap is checked after every piece and a bomb is refused early. gzip and
deflate come from :mod:`zlib`. Two more codings are decoded when a package with the same bounded
interface is installed (the ``brotli`` and ``zstd`` extras, ``pip install 'pynector-trio[brotli,zstd]'``):

- ``br``: the ``brotli`` package, 1.2 or later (``Decompressor.process(data, output_buffer_limit=n)``);
- ``zstd``: the standard library's :mod:`compression.zstd` (Python 3.14+), else the ``backports.zstd``
  package, its backport (``ZstdDecompressor.decompress(data, max_length)``). The ``zstandard`` package
  is not used: its streaming decompressor returns all output of a call at once, unbounded.

``Accept-Encoding`` advertises exactly what can be decoded (:attr:`Codings.accept_encoding`). A
response in a coding that cannot be decoded (one not advertised, such as ``br`` without its package)
is refused with a :class:`pynector.ProtocolError` naming the coding when its body is read, rather
than handed over as bytes nobody can read.

:data:`INSTALLED` is found once at import; :meth:`Codings.find` looks again, and its *blocked*
parameter leaves packages out, which is how tests see the "not installed" behaviour.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["INSTALLED", "Codings", "Decoder", "DecodeError"]


class DecodeError(Exception):
    """Raised by a decoder for data that is not valid in its coding (the shared layer maps it)."""


class Decoder(Protocol):
    """A bounded streaming decoder: every piece it yields is at most ``chunk`` bytes."""

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode *data*, yielding pieces as they come (lazily: the caller checks its cap in between)."""
        ...

    def flush(self) -> Iterator[bytes]:
        """The input ended: yield what is left, or raise :class:`DecodeError` if it was truncated."""
        ...


class _Brotli:
    """``br`` with the ``brotli`` package: output bounded by ``output_buffer_limit``."""

    def __init__(self, module: Any, chunk: int) -> None:
        self._module = module
        self._obj = module.Decompressor()
        self._chunk = chunk

    def feed(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        try:
            if data:
                if obj.is_finished():
                    raise DecodeError("invalid br data: bytes after the end of the stream")
                out = obj.process(data, output_buffer_limit=self._chunk)
                if out:
                    yield out
            while not obj.can_accept_more_data():
                out = obj.process(b"", output_buffer_limit=self._chunk)
                if not out:
                    return
                yield out
        except self._module.error as exc:
            raise DecodeError(f"invalid br data: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if not self._obj.is_finished():
            raise DecodeError("invalid br data: the stream is truncated")


class _Zstd:
    """``zstd`` with :mod:`compression.zstd` (or its backport): output bounded by ``max_length``.

    A body may hold several frames one after another; each starts a new decompressor.
    """

    def __init__(self, module: Any, chunk: int) -> None:
        self._module = module
        self._obj = module.ZstdDecompressor()
        self._chunk = chunk

    def feed(self, data: bytes) -> Iterator[bytes]:
        module = self._module
        try:
            while True:
                obj = self._obj
                if obj.eof:
                    data = obj.unused_data + data
                    if not data:
                        return
                    obj = self._obj = module.ZstdDecompressor()
                if not data and obj.needs_input:
                    return
                out = obj.decompress(data, self._chunk)
                data = b""
                if out:
                    yield out
        except module.ZstdError as exc:
            raise DecodeError(f"invalid zstd data: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if not self._obj.eof:
            raise DecodeError("invalid zstd data: the stream is truncated")


def _brotli(blocked: Collection[str]) -> Callable[[int], Decoder] | None:
    if "brotli" in blocked:
        return None
    try:
        module = importlib.import_module("brotli")
    except ImportError:
        return None
    if not hasattr(module, "Decompressor") or not hasattr(module.Decompressor, "can_accept_more_data"):
        return None  # brotli < 1.2 cannot bound its output
    return lambda chunk: _Brotli(module, chunk)


def _zstd(blocked: Collection[str]) -> Callable[[int], Decoder] | None:
    for name in ("compression.zstd", "backports.zstd"):
        if name in blocked:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return lambda chunk: _Zstd(module, chunk)
    return None


#: Codings decoded with :mod:`zlib` (always available) and the extras that provide the others.
_BUILTIN = ("gzip", "deflate")
_EXTRAS = {"br": "brotli", "zstd": "zstd"}


@dataclass(frozen=True)
class Codings:
    """The optional codings that can be decoded here, and the ``Accept-Encoding`` value saying so.

    Attributes:
        decoders: coding name -> factory of a bounded decoder (taking the largest piece size).
        accept_encoding: ``"gzip, deflate"`` plus ``br`` and ``zstd`` when they can be decoded.
    """

    decoders: dict[str, Callable[[int], Decoder]] = field(default_factory=dict)
    accept_encoding: str = ", ".join(_BUILTIN)

    @classmethod
    def find(cls, blocked: Collection[str] = ()) -> Codings:
        """Look for the optional decoders' packages, leaving out the module names in *blocked*.

        Never raises: a package that is missing (or too old to bound its output) leaves its coding out.
        """
        decoders: dict[str, Callable[[int], Decoder]] = {}
        for name, finder in (("br", _brotli), ("zstd", _zstd)):
            factory = finder(blocked)
            if factory is not None:
                decoders[name] = factory
        return cls(decoders, ", ".join([*_BUILTIN, *decoders]))

    def unsupported(self, name: str) -> str:
        """Why a body in coding *name* cannot be decoded (for the error message)."""
        extra = _EXTRAS.get(name)
        if extra is not None:
            return (
                f"the response is encoded with {name!r}, which needs the {extra} extra to decode "
                f"(pip install 'pynector-trio[{extra}]'; Accept-Encoding offers it only then)"
            )
        return f"the response is encoded with {name!r}, which pynector cannot decode (nor offers to)"


#: What this installation decodes (found once, at import).
INSTALLED = Codings.find()
