"""A small application built on pynector: a client for a weather service.

It is written the way an application would be: functions that take an open :class:`pynector.Pynector`
client, so production code passes a client for the real service (an HTTP transport: the result is a
``pynector.http.Response``) and tests pass one wired to a :class:`pynector.testing.MockTransport`
that answers with the JSON document itself (``test_app.py``), or to a cassette of the real service's
recorded answers (``test_app_cassette.py``). The service answers
``GET /v1/forecast/<city>`` with a JSON document such as ``{"city": "paris", "temperature_c": 21.5}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pynector

#: Seconds one attempt may take.
REQUEST_TIMEOUT = 5.0
#: Seconds a whole batch of cities may take.
BATCH_TIMEOUT = 10.0


@dataclass(frozen=True)
class Forecast:
    """The current forecast for one city."""

    city: str
    temperature_c: float


def forecast_request(city: str) -> dict[str, str]:
    """The request for *city*'s forecast."""
    return {"method": "GET", "url": f"/v1/forecast/{city}"}


def parse_forecast(city: str, document: Any) -> Forecast:
    """Turn the service's JSON document (or an HTTP response carrying it) into a :class:`Forecast`.

    Raises:
        pynector.DeserializationError: the document does not describe *city*'s forecast.
    """
    if callable(getattr(document, "json", None)):  # an HTTP response: its body is the document
        document = document.json()
    try:
        if document["city"] != city:
            raise ValueError(f"asked for {city!r}, got {document['city']!r}")
        return Forecast(city, float(document["temperature_c"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise pynector.DeserializationError(f"bad forecast document for {city!r}: {exc}") from exc


async def current_forecast(client: pynector.Pynector, city: str) -> Forecast:
    """Fetch one city's forecast, retrying transient failures (resets, 429/503 with Retry-After).

    Raises:
        pynector.PynectorError: the last failure once three retries are used up.
    """
    document = await client.request_with_retry(
        forecast_request(city), max_retries=3, retry_delay=0.5, timeout=REQUEST_TIMEOUT
    )
    return parse_forecast(city, document)


async def forecasts(client: pynector.Pynector, cities: Sequence[str]) -> dict[str, Forecast | None]:
    """Fetch many forecasts at once (8 in flight, 10 s for the lot); a city that failed maps to None."""
    results = await client.batch_request(
        [(forecast_request(city), {"timeout": REQUEST_TIMEOUT}) for city in cities],
        max_concurrency=8,
        timeout=BATCH_TIMEOUT,
    )
    found: dict[str, Forecast | None] = {}
    for city, result in zip(cities, results, strict=True):
        found[city] = None if isinstance(result, Exception) else parse_forecast(city, result)
    return found


async def warmest(client: pynector.Pynector, cities: Sequence[str]) -> Forecast | None:
    """The warmest of *cities* among those whose forecast could be fetched, or None."""
    known = [f for f in (await forecasts(client, cities)).values() if f is not None]
    return max(known, key=lambda f: f.temperature_c, default=None)
