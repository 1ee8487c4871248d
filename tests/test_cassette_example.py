"""examples/app/test_app_cassette.py: the example application's cassette tests replay offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

APP = Path(__file__).resolve().parent.parent / "examples" / "app"


def test_app_cassette_suite_replays_its_committed_cassettes(pytester: pytest.Pytester) -> None:
    """The committed cassettes answer every request (weather.example.com is never contacted), every
    recorded exchange is replayed, and nothing is written."""
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    for name in ("weather.py", "test_app_cassette.py"):
        shutil.copy(APP / name, pytester.path / name)
    shutil.copytree(APP / "cassettes", pytester.path / "cassettes")
    before = {p.name: p.read_text() for p in (pytester.path / "cassettes").rglob("*.jsonl")}

    result = pytester.runpytest("-p", "no:cacheprovider", "test_app_cassette.py")

    result.assert_outcomes(passed=3)
    assert 3 == len(before)
    assert before == {p.name: p.read_text() for p in (pytester.path / "cassettes").rglob("*.jsonl")}
    assert all("REDACTED" in text and "real-token" not in text for text in before.values())


def test_app_cassette_suite_refuses_an_unrecorded_city(pytester: pytest.Pytester) -> None:
    """A test asking for a city the cassette never saw fails with the closest recorded requests."""
    pytester.makeini("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    shutil.copy(APP / "weather.py", pytester.path / "weather.py")
    source = (
        (APP / "test_app_cassette.py")
        .read_text()
        .replace('current_forecast(weather, "paris")', 'current_forecast(weather, "lima")')
    )
    (pytester.path / "test_app_cassette.py").write_text(source)
    shutil.copytree(APP / "cassettes", pytester.path / "cassettes")

    result = pytester.runpytest("-p", "no:cacheprovider", "test_app_cassette.py", "-k", "current")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no recorded exchange of cassette*matches GET https://weather.example.com/v1/forecast/lima*",
            "*#1 GET https://weather.example.com/v1/forecast/paris (differs in url; unused)",
        ]
    )
