"""Helpers for tests that run small user test suites with pytester."""

from __future__ import annotations

import textwrap

import pytest

INI = """
[pytest]
trio_mode = true
filterwarnings = error
"""


def run(suite: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    """Write *source* as a test module and run pytest on it in-process."""
    suite.makepyfile(test_user=textwrap.dedent(source))
    return suite.runpytest("-p", "no:cacheprovider", *args)
