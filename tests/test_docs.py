"""The manual's ```python code blocks (docs/**/*.md) run as written, offline, and the typed ones pass
``mypy --strict`` - the same mechanism as README's (tests/helpers/snippets.py).

A failure names the page and the block's number on it (``guides/http.md#0``).
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.snippets import ROOT, check_typed_block, is_typed, loopback_server, python_blocks, run_block

import pynector
from pynector._cli._args import build_parser
from pynector.http import HttpxEngine, NativeEngine

DOCS = ROOT / "docs"
BLOCKS = [
    (f"{page.relative_to(DOCS)}#{number}", code)
    for page in sorted(DOCS.rglob("*.md"))
    for number, code in enumerate(python_blocks(page))
]
TYPED = [(name, code) for name, code in BLOCKS if is_typed(code)]


@pytest.fixture(scope="module")
def loopback_url() -> Iterator[str]:
    with loopback_server() as url:
        yield url


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_docs_code_block_runs(code: str, loopback_url: str) -> None:
    """Each code block of the manual runs to completion in a fresh interpreter, offline."""
    run_block(code, loopback_url)


@pytest.mark.parametrize("code", [code for _, code in TYPED], ids=[name for name, _ in TYPED])
def test_docs_typed_block_passes_mypy_strict(code: str, tmp_path: Path) -> None:
    """An annotated block of the manual passes mypy --strict (a misspelled attribute would fail)."""
    check_typed_block(code, tmp_path)


def test_manual_has_a_typed_http_quick_start() -> None:
    """The HTTP guide opens with a typed block that GETs a URL with a verb."""
    assert any("client.get(" in code for name, code in TYPED if name.startswith("guides/http.md"))


def _visible_options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _visible_options(sub)
        elif (
            action.option_strings
            and action.help != argparse.SUPPRESS
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            yield tuple(action.option_strings)


def test_every_command_line_option_is_listed_in_the_cli_guide() -> None:
    """Each option the command line accepts (of every subcommand, hidden ones aside) is in the guide."""
    page = (DOCS / "guides" / "cli.md").read_text()
    options = set(_visible_options(build_parser()))
    assert options
    missing = [names for names in sorted(options) if not any(f"`{name}" in page for name in names)]
    assert not missing, f"options missing from docs/guides/cli.md: {missing}"


OPTION_PAGES = [
    ("retries.md", pynector.RetryPolicy),
    ("retries.md", pynector.RetryBudget),
    ("quotas.md", pynector.Quota),
    ("client.md", pynector.Pynector),
    ("jobs.md", pynector.Job),
    ("jobs.md", pynector.JsonlCheckpoint),
    ("http.md", NativeEngine),
    ("http.md", HttpxEngine),
]


@pytest.mark.parametrize(("page", "target"), OPTION_PAGES, ids=[f"{p}:{t.__name__}" for p, t in OPTION_PAGES])
def test_every_option_is_in_its_guide(page: str, target: type) -> None:
    """Each named parameter of a public constructor appears, in backquotes, on its guide page."""
    text = (DOCS / "guides" / page).read_text()
    names = [
        parameter.name
        for parameter in inspect.signature(target).parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    assert names
    missing = [name for name in names if not re.search(rf"`[^`]*\b{name}\b[^`]*`", text)]
    assert not missing, f"options of {target.__name__} missing from docs/guides/{page}: {missing}"
