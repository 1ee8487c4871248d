"""The client at the path of the original design: ``from pynector.client import Pynector``.

:class:`Pynector` lives in a private module and is exported by :mod:`pynector` itself; this module keeps
code written against the original design importing. ``pynector.client.Pynector is pynector.Pynector``.
"""

from ._client import Pynector as Pynector

__all__ = ["Pynector"]
