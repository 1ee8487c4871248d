"""The demo that `make demo` runs: the quick start, with a summary."""

from __future__ import annotations

import trio
from quickstart import main

if __name__ == "__main__":
    trio.run(main)
