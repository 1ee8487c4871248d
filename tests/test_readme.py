"""The README's ```python snippets run as written, and the typed ones pass ``mypy --strict``.

The same mechanism as the manual's blocks (tests/test_docs.py, tests/helpers/snippets.py): other
fences are not run (```sh, and ```py for excerpts of the programs in examples/, which run in their own
tests); a snippet that fetches ``https://example.org/`` runs against a loopback server instead (its URL
is swapped in), so the suite stays offline; snippets whose functions are annotated (``-> None``) are
also type-checked, and a misspelled ``Response`` attribute in them must fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.snippets import ROOT, check_typed_block, is_typed, loopback_server, python_blocks, run_block

SNIPPETS = python_blocks(ROOT / "README.md")
TYPED = [code for code in SNIPPETS if is_typed(code)]


@pytest.fixture(scope="module")
def loopback_url() -> Iterator[str]:
    with loopback_server() as url:
        yield url


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(code: str, loopback_url: str) -> None:
    """Each snippet runs to completion in a fresh interpreter, offline."""
    run_block(code, loopback_url)


def test_readme_has_a_typed_http_quick_start() -> None:
    """README has a typed snippet that GETs a URL with a verb."""
    assert any("client.get(" in code for code in TYPED)


@pytest.mark.parametrize("code", TYPED, ids=[f"typed{i}" for i in range(len(TYPED))])
def test_typed_snippet_passes_mypy_strict(code: str, tmp_path: Path) -> None:
    """An annotated snippet passes mypy --strict; with a misspelled Response attribute it fails."""
    check_typed_block(code, tmp_path)


def test_readme_links_into_the_manual_resolve() -> None:
    """Every relative link of the README names a file of the repository (so it works on GitHub)."""
    links = re.findall(r"\]\(((?:docs|examples)/[^)#]*)", (ROOT / "README.md").read_text())
    assert links
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing
