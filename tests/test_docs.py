"""The manual's ```python code blocks (docs/**/*.md) run as written, offline.

Like README's snippets (tests/test_readme.py): other fences (```sh, ```py excerpts) are not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [
    (f"{page.relative_to(DOCS)}#{number}", code)
    for page in sorted(DOCS.rglob("*.md"))
    for number, code in enumerate(re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M))
]


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_docs_code_block_runs(code: str) -> None:
    """Each code block of the manual runs to completion in a fresh interpreter, offline."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
