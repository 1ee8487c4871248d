"""``python -m pynector``: the ``pynector`` command (see ``pynector batch --help``)."""

from ._cli import main

raise SystemExit(main())
