"""The README's "Large and endless batches" snippet runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_large_batches_snippet_runs() -> None:
    """The section's Python block runs offline to completion."""
    text = README.read_text()
    section = text.split("## Large and endless batches", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert 1 == len(blocks)
    done = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60)
    assert "" == done.stderr
    assert 0 == done.returncode
