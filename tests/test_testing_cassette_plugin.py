"""The pynector_cassette fixture, tested as users run it: pytester suites recorded, then replayed.

The suites use a callable transport whose function answers ``"live: <prompt>"`` and raises when the
``OFFLINE`` environment variable is set: a replayed run sets it, so only the cassette can answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.pytester import INI, run

pytest_plugins = ["pytester"]

PROLOGUE = """
import os
import pytest
import pynector
from pynector.transport import CallableTransport


async def answer(prompt, **options):
    if os.environ.get("OFFLINE"):
        raise AssertionError(f"the service was called for {prompt!r} while offline")
    return f"live: {prompt}"


async def ask(cassette, *prompts):
    async with cassette.wrap(CallableTransport(answer)) as transport:
        async with pynector.Pynector(transport=transport) as client:
            return [await client.request(prompt) for prompt in prompts]
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester directory configured like a user's trio project, with no record mode in the env."""
    monkeypatch.delenv("PYNECTOR_RECORD_MODE", raising=False)
    monkeypatch.delenv("OFFLINE", raising=False)
    pytester.makeini(INI)
    return pytester


def asking(*prompts: str) -> str:
    """A test module whose test_weather asks for *prompts* through the cassette."""
    return (
        PROLOGUE
        + f"async def test_weather(pynector_cassette):\n    await ask(pynector_cassette, *{prompts!r})\n"
    )


def record_then_go_offline(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *prompts: str) -> None:
    """Record a run of test_weather asking for *prompts*, then go offline: later runs only replay."""
    run(suite, asking(*prompts)).assert_outcomes(passed=1)
    monkeypatch.setenv("OFFLINE", "1")


def cassette_file(suite: pytest.Pytester, test: str = "test_weather") -> Path:
    """Where the fixture keeps *test*'s cassette by default."""
    return suite.path / "cassettes" / "test_user" / f"{test}.jsonl"


def bodies(path: Path) -> list[object]:
    """The request bodies recorded in a cassette file."""
    return [json.loads(line)["request"]["body"] for line in path.read_text().splitlines()[1:]]


def test_first_run_records_and_later_runs_replay_offline(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """record_mode once: the first run writes cassettes/<module>/<test>.jsonl, the next replays it."""
    source = (
        PROLOGUE
        + """
async def test_weather(pynector_cassette):
    assert ["live: paris", "live: oslo"] == await ask(pynector_cassette, "paris", "oslo")
"""
    )
    run(suite, source).assert_outcomes(passed=1)
    assert ["paris", "oslo"] == bodies(cassette_file(suite))

    monkeypatch.setenv("OFFLINE", "1")
    run(suite, source).assert_outcomes(passed=1)


def test_an_unmatched_request_fails_with_the_closest_recorded_ones(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the cassette does not know fails the test, listing the recorded requests near it."""
    record_then_go_offline(suite, monkeypatch, "paris")
    result = run(suite, asking("lima"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*UnmatchedRequestError: no recorded exchange of cassette *test_weather.jsonl matches "lima"*',
            "*closest recorded exchanges:",
            '*#1 "paris" (differs in body; unused)',
        ]
    )


def test_a_swallowed_unmatched_request_still_fails_at_teardown(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Application code that catches the error does not hide it: teardown reports it."""
    record_then_go_offline(suite, monkeypatch, "paris")
    result = run(
        suite,
        PROLOGUE
        + """
async def test_weather(pynector_cassette):
    await ask(pynector_cassette, "paris")
    try:
        await ask(pynector_cassette, "lima")
    except pynector.PynectorError:
        pass  # the application's fallback
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*pynector_cassette: 1 request(s) matched no recorded exchange*"])


def test_recorded_exchanges_never_replayed_fail_at_teardown_unless_allowed(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict by default: a stale recorded exchange fails the test; allow_unused=True opts out."""
    record_then_go_offline(suite, monkeypatch, "a", "b")
    result = run(suite, asking("a"))
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*pynector_cassette: 1 recorded exchange(s) of cassette *were never replayed*", '*#2 "b"']
    )
    relaxed = run(
        suite,
        PROLOGUE
        + """
@pytest.mark.pynector_cassette(allow_unused=True)
async def test_weather(pynector_cassette):
    await ask(pynector_cassette, "a")
""",
    )
    relaxed.assert_outcomes(passed=1)


def test_mode_none_without_a_cassette_fails_at_setup(suite: pytest.Pytester) -> None:
    """--pynector-record-mode=none refuses to run a test whose cassette was never recorded."""
    result = run(suite, asking("a"), "--pynector-record-mode=none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_weather.jsonl does not exist and record_mode is 'none'*"])


def test_env_variable_and_option_choose_the_mode_and_the_marker_wins(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PYNECTOR_RECORD_MODE=all re-records; the option overrides the env; a marker overrides both."""
    first = asking("a")
    run(suite, first).assert_outcomes(passed=1)
    second = asking("b")
    monkeypatch.setenv("PYNECTOR_RECORD_MODE", "all")
    run(suite, second).assert_outcomes(passed=1)
    assert ["b"] == bodies(cassette_file(suite))

    run(suite, first, "--pynector-record-mode=new_episodes").assert_outcomes(passed=1, errors=1)
    assert ["b", "a"] == bodies(cassette_file(suite))  # "b" was not replayed: the strict check

    monkeypatch.setenv("OFFLINE", "1")
    pinned = (
        PROLOGUE
        + """
@pytest.mark.pynector_cassette(record_mode="none")
async def test_weather(pynector_cassette):
    assert ["live: b", "live: a"] == await ask(pynector_cassette, "b", "a")
"""
    )
    run(suite, pinned, "--pynector-record-mode=all").assert_outcomes(passed=1)


def test_a_failed_test_writes_no_cassette(suite: pytest.Pytester) -> None:
    """A half-recorded cassette would be replayed next time: a failing test records nothing."""
    result = run(
        suite,
        PROLOGUE
        + """
async def test_weather(pynector_cassette):
    await ask(pynector_cassette, "a")
    assert False, "the test's own failure"
""",
    )
    result.assert_outcomes(failed=1)
    assert not cassette_file(suite).exists()


def test_marker_path_and_options(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The marker's path (relative to the test module) and Cassette options are used."""
    source = (
        PROLOGUE
        + """
@pytest.mark.pynector_cassette("tapes/shared.jsonl", order="any")
async def test_weather(pynector_cassette):
    assert "any" == pynector_cassette.order
    await ask(pynector_cassette, "a", "b")
"""
    )
    run(suite, source).assert_outcomes(passed=1)
    assert ["a", "b"] == bodies(suite.path / "tapes" / "shared.jsonl")


def test_marker_and_option_are_documented(suite: pytest.Pytester) -> None:
    """pytest --markers and --help list the marker and the option."""
    markers = suite.runpytest("--markers", "-p", "no:cacheprovider")
    markers.stdout.fnmatch_lines(["*pynector_cassette(path=None, **options)*"])
    helptext = suite.runpytest("--help", "-p", "no:cacheprovider")
    helptext.stdout.fnmatch_lines(["*--pynector-record-mode*"])
