"""Tests of weather.py against the weather service's real answers, recorded once in cassettes.

``test_app.py`` scripts a mock; these tests replay what the real service answered. The
``pynector_cassette`` fixture (pynector's pytest plugin) keeps one cassette per test, in
``cassettes/test_app_cassette/<test>.jsonl`` next to this file: plain JSON Lines, one exchange per
line, with timing, and credentials (the ``Authorization`` header below) replaced by ``REDACTED``.

Record mode ``once`` (the default) replays a cassette that exists and never touches the network, so
CI runs these tests offline in milliseconds. To record them again against the service::

    WEATHER_URL=https://weather.example.com WEATHER_TOKEN=... pytest test_app_cassette.py \\
        --pynector-record-mode=all

(The committed cassettes were recorded against a local stand-in of the service; being text, their
origin was then edited to the service's.)
"""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing
from weather import Forecast, current_forecast, forecasts

import pynector
from pynector.transport import get_transport_factory_registry

WEATHER_URL = os.environ.get("WEATHER_URL", "https://weather.example.com")
WEATHER_TOKEN = os.environ.get("WEATHER_TOKEN", "not-needed-on-replay")


@pytest.fixture
async def weather(pynector_cassette):
    """A client for the weather service whose HTTP transport is wrapped in the test's cassette."""
    http = get_transport_factory_registry().create_transport(
        "http", base_url=WEATHER_URL, headers={"Authorization": f"Bearer {WEATHER_TOKEN}"}
    )
    async with pynector_cassette.wrap(http) as transport, pynector.Pynector(transport=transport) as client:
        yield client


async def test_current_forecast(weather):
    """The service's document for Paris is parsed from its recorded response."""
    assert Forecast("paris", 21.5) == await current_forecast(weather, "paris")


async def test_a_busy_server_is_retried(weather, pynector_no_retry_wait):
    """The recorded 503 (with Retry-After) is raised again on replay, so the retry path runs too."""
    assert Forecast("oslo", -3.0) == await current_forecast(weather, "oslo")
    assert [30.0] == pynector_no_retry_wait  # the recorded Retry-After, honoured


@pytest.fixture
def replay_clock(pynector_cassette):
    """pytest-trio's autojump clock when the cassette replays: recorded latency passes instantly.

    While recording, the real clock: the service's latency is real time, which an autojump clock
    would skip over (firing timeouts early).
    """
    return None if pynector_cassette.recording else trio.testing.MockClock(autojump_threshold=0)


@pytest.mark.pynector_cassette(order="any")  # a batch's requests start in any order
async def test_batch_with_a_missing_city(weather, replay_clock):
    """The batch replays on trio's clock: the slow city's recorded 1.5 s pass instantly."""
    start = trio.current_time()
    found = await forecasts(weather, ["paris", "cairo", "atlantis"])
    assert {"paris": Forecast("paris", 21.5), "cairo": Forecast("cairo", 35.0), "atlantis": None} == found
    assert 1.5 <= trio.current_time() - start < 2
