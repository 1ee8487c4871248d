"""Tests of weather.py, written the way an application's own test suite uses pynector's plugin.

The fixtures come from pynector's pytest plugin (installed with pynector, nothing to configure):
``pynector_mock`` is a MockTransport, ``pynector_client`` a client wired to it, and
``pynector_no_retry_wait`` makes retries instant. ``autojump_clock`` comes from pytest-trio; the
project's pytest configuration sets ``trio_mode = true``.
"""

from __future__ import annotations

import pytest
import trio
from weather import Forecast, current_forecast, forecasts, warmest

import pynector


async def test_current_forecast(pynector_mock, pynector_client):
    """The forecast document is fetched and parsed."""
    pynector_mock.route("GET", "/v1/forecast/paris").respond({"city": "paris", "temperature_c": 21.5})

    assert Forecast("paris", 21.5) == await current_forecast(pynector_client, "paris")
    pynector_mock.assert_all_routes_used()


async def test_a_busy_server_is_retried(pynector_mock, pynector_client, pynector_no_retry_wait):
    """A 503 with Retry-After and a reset are retried, honouring Retry-After, without waiting."""
    route = (
        pynector_mock.route("GET", "/v1/forecast/oslo")
        .fail_status(503, retry_after=30)
        .fail_reset()
        .respond({"city": "oslo", "temperature_c": -3})
    )

    assert Forecast("oslo", -3.0) == await current_forecast(pynector_client, "oslo")
    route.assert_called(times=3)
    assert 30.0 == pynector_no_retry_wait[0]  # the server's Retry-After, not the backoff


async def test_gives_up_after_three_retries(pynector_mock, pynector_client, pynector_no_retry_wait):
    """A service that refuses every connection fails after 1 + 3 attempts."""
    pynector_mock.route("GET", "/v1/forecast/rome").fail_connect()

    with pytest.raises(pynector.ConnectError) as info:
        await current_forecast(pynector_client, "rome")
    assert 4 == info.value.attempts


async def test_a_bad_document_is_a_deserialization_error(pynector_mock, pynector_client):
    """A document for another city is rejected."""
    pynector_mock.route("GET", "/v1/forecast/lima").respond({"city": "quito", "temperature_c": 14})

    with pytest.raises(pynector.DeserializationError, match="asked for 'lima'"):
        await current_forecast(pynector_client, "lima")


async def test_batch_keeps_cities_apart(pynector_mock, pynector_client, autojump_clock):
    """Slow, failing and hanging cities do not disturb the others; the batch takes its timeout."""
    pynector_mock.route("GET", "/v1/forecast/paris").respond(
        {"city": "paris", "temperature_c": 21.5}, delay=2
    )
    pynector_mock.route("GET", "/v1/forecast/oslo").fail_status(404)
    pynector_mock.route("GET", "/v1/forecast/cairo").respond({"city": "cairo", "temperature_c": 35})
    pynector_mock.route("GET", "/v1/forecast/atlantis").hang()
    start = trio.current_time()

    found = await forecasts(pynector_client, ["paris", "oslo", "cairo", "atlantis"])

    assert {
        "paris": Forecast("paris", 21.5),
        "oslo": None,
        "cairo": Forecast("cairo", 35.0),
        "atlantis": None,
    } == found
    assert 5.0 == trio.current_time() - start  # the hanging city hit its 5 s request timeout
    pynector_mock.assert_called(times=4)


async def test_warmest(pynector_mock, pynector_client):
    """The warmest city among those that answered."""
    for city, temperature in [("paris", 21.5), ("cairo", 35)]:
        pynector_mock.route("GET", f"/v1/forecast/{city}").respond(
            {"city": city, "temperature_c": temperature}
        )
    pynector_mock.route("GET", "/v1/forecast/oslo").fail_timeout()

    assert Forecast("cairo", 35.0) == await warmest(pynector_client, ["paris", "oslo", "cairo"])
