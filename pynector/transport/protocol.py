"""The transport protocol at the path of the original design: ``pynector.transport.protocol``.

The original design's ``TransportProtocol`` is the ``connect``/``disconnect``/``send``/``receive``
shape. A class written to it still works with :class:`pynector.Pynector` (its exchanges run one at a
time, see :class:`pynector.transport.Transport` for why), so ``TransportProtocol`` names that shape
here. New transports implement :class:`~pynector.transport.Transport` (an atomic ``exchange``).
"""

from ._base import SeedTransport as TransportProtocol
from ._base import Transport as Transport

__all__ = ["Transport", "TransportProtocol"]
