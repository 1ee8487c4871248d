"""Guards the public surface: what `pynector` exports, and that it is all importable."""

from __future__ import annotations

import pynector

EXPECTED_ALL = [
    "BatchCancelledError",
    "BatchInputError",
    "BatchResults",
    "ClientClosedError",
    "ClientConfig",
    "ClientStatistics",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DeserializationError",
    "ForbiddenError",
    "HTTPClientError",
    "HTTPServerError",
    "HTTPStatusError",
    "MessageError",
    "NotFoundError",
    "PoolTimeout",
    "ProtocolError",
    "Pynector",
    "PynectorError",
    "RateLimitError",
    "ReadError",
    "RedirectError",
    "RequestTimeoutError",
    "RetryBudget",
    "RetryBudgetStatistics",
    "RetryPolicy",
    "SerializationError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnauthorizedError",
    "WriteError",
    "__version__",
    "configure_telemetry",
    "transport",
]


def test_all_is_exactly_the_public_surface() -> None:
    """__all__ is the reviewed list (sorted); changing the public surface means changing this test."""
    assert pynector.__all__ == EXPECTED_ALL
    for name in pynector.__all__:
        assert hasattr(pynector, name), name


def test_nothing_public_is_left_out_of_all() -> None:
    """Every public attribute of the package is either in __all__ or a public submodule."""
    submodules = {"transport", "http", "message", "testing", "framing", "sse"}
    # (pytest's assertion rewriting of the pytest11 plugin's package adds non-identifier names)
    public = {name for name in vars(pynector) if name.isidentifier() and not name.startswith("_")}
    assert set() == public - set(pynector.__all__) - submodules


def test_core_names_are_exported() -> None:
    """The names of the original design stay available."""
    for name in (
        "Pynector",
        "PynectorError",
        "TransportError",
        "ConfigurationError",
        "TimeoutError",
        "RetryBudget",
        "RetryBudgetStatistics",
        "RetryPolicy",
    ):
        assert name in pynector.__all__
    for name in (
        "Transport",
        "TransportFactory",
        "TransportFactoryRegistry",
        "get_transport_factory_registry",
    ):
        assert name in pynector.transport.__all__


def test_public_classes_show_their_public_module() -> None:
    """Tracebacks and reprs show pynector.X, not the private module."""
    assert pynector.Pynector.__module__ == "pynector"
    assert pynector.TimeoutError.__module__ == "pynector"


def test_import_is_light() -> None:
    """`import pynector` loads no optional or heavy package: SDKs, the OTel SDK, httpx, test tools."""
    import subprocess
    import sys

    heavy = ["openai", "anthropic", "opentelemetry.sdk", "httpx", "pytest", "trio.testing", "rich"]
    code = f"import sys, pynector; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()


def test_public_submodules_export_what_they_list() -> None:
    """pynector.transport, .http, .message, .framing and .testing: every listed name exists, once."""
    import importlib

    for name in ("transport", "http", "message", "framing", "testing", "sse"):
        module = importlib.import_module(f"pynector.{name}")
        listed = module.__all__
        assert len(set(listed)) == len(listed), name
        missing = [item for item in listed if not hasattr(module, item)]
        assert [] == missing, name


def test_testing_exports_the_cassette_names() -> None:
    """pynector.testing lists the cassette API, shown under its public path."""
    import pynector.testing

    for name in ("Cassette", "CassetteError", "CassetteTransport", "UnmatchedRequestError"):
        assert name in pynector.testing.__all__
        assert "pynector.testing" == getattr(pynector.testing, name).__module__
    assert "scrub_json_fields" in pynector.testing.__all__
    assert issubclass(pynector.testing.UnmatchedRequestError, pynector.testing.CassetteError)
    assert issubclass(pynector.testing.CassetteError, pynector.PynectorError)
    assert not issubclass(pynector.testing.CassetteError, pynector.TransportError)  # never retried
