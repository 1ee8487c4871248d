"""The example application's own test suite (examples/app) passes, run as its users would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

APP = Path(__file__).resolve().parent.parent / "examples" / "app"


def test_example_app_suite_passes(pytester: pytest.Pytester) -> None:
    """pytest on examples/app/test_app.py (a trio_mode project) passes every test."""
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    for name in ("weather.py", "test_app.py"):
        pytester.path.joinpath(name).write_text(APP.joinpath(name).read_text())
    result = pytester.runpytest("-p", "no:cacheprovider", "test_app.py")
    result.assert_outcomes(passed=6)
