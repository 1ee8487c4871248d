"""The quick start, with a summary (`make demo` runs the `pynector demo` command)."""

from __future__ import annotations

import trio
from quickstart import main

if __name__ == "__main__":
    trio.run(main)
