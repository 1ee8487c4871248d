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
    "HTTPRequest",
    "HTTPServerError",
    "HTTPStatusError",
    "Job",
    "JobItem",
    "JobOutputError",
    "JobResult",
    "JobStatistics",
    "JsonlCheckpoint",
    "MessageError",
    "NotFoundError",
    "PoolTimeout",
    "ProtocolError",
    "Pynector",
    "PynectorError",
    "Quota",
    "QuotaKeyStatistics",
    "QuotaStoreError",
    "RateLimitError",
    "ReadError",
    "RedirectError",
    "RequestTimeoutError",
    "Response",
    "RetryBudget",
    "RetryBudgetStatistics",
    "RetryDetails",
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
    submodules = {"transport", "http", "message", "testing", "framing", "sse", "ray"}
    submodules |= set(ORIGINAL_DESIGN_MODULES)
    # (pytest's assertion rewriting of the pytest11 plugin's package adds non-identifier names)
    public = {name for name in vars(pynector) if name.isidentifier() and not name.startswith("_")}
    assert set() == public - set(pynector.__all__) - submodules


#: The import paths of the original design (the modules and the names code written against it uses).
ORIGINAL_DESIGN_MODULES = {
    "client": ["Pynector"],
    "errors": ["ConfigurationError", "PynectorError", "TimeoutError", "TransportError"],
    "config": ["get_env_config", "merge_configs"],
    "telemetry": ["configure_telemetry", "get_telemetry"],
}


def test_original_design_import_paths_work() -> None:
    """Code written against the original design imports the same objects pynector exports."""
    import importlib

    import pynector.transport.factory
    import pynector.transport.protocol

    for module_name, names in ORIGINAL_DESIGN_MODULES.items():
        module = importlib.import_module(f"pynector.{module_name}")
        for name in names:
            assert name in module.__all__, f"pynector.{module_name}.{name}"
            if name in pynector.__all__:
                assert getattr(pynector, name) is getattr(module, name), name
    errors = importlib.import_module("pynector.errors")
    assert sorted(n for n in pynector.__all__ if n.endswith("Error")) == sorted(
        n for n in errors.__all__ if n.endswith("Error")
    )
    assert pynector.transport.Transport is pynector.transport.protocol.Transport
    assert isinstance(pynector.transport.protocol.TransportProtocol, type)
    factory = pynector.transport.factory
    assert pynector.transport.get_transport_factory_registry is factory.get_transport_factory_registry
    registry = factory.get_transport_factory_registry()
    assert registry.names() == registry.get_registered_names()
    assert {"http", "memory", "tcp"} <= set(registry.get_registered_names())


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


#: The reviewed surface of pynector.transport: the contract, the registry, the transports users build
#: and the SDK reply and stream-event vocabulary the README documents. Adapters (SerializedTransport)
#: stay private.
EXPECTED_TRANSPORT_ALL = [
    "CallableTransport",
    "Embedding",
    "Finish",
    "FramedMemoryTransport",
    "MemoryTransport",
    "OtherEvent",
    "SDKTransport",
    "StreamEvent",
    "StreamTransport",
    "TCPTransport",
    "TextDelta",
    "TextReply",
    "ToolCall",
    "ToolCallDelta",
    "TracedTransport",
    "Transport",
    "TransportFactory",
    "TransportFactoryRegistry",
    "UnixTransport",
    "Usage",
    "UsageUpdate",
    "get_transport_factory_registry",
    "sum_usage",
]


def test_transport_surface_is_the_reviewed_list() -> None:
    """pynector.transport exports exactly the reviewed names, and nothing public is left out."""
    assert EXPECTED_TRANSPORT_ALL == pynector.transport.__all__
    public = {n for n in vars(pynector.transport) if n.isidentifier() and not n.startswith("_")}
    assert set() == public - set(EXPECTED_TRANSPORT_ALL) - {"protocol", "factory"}


def test_every_public_subpackage_shows_its_public_path() -> None:
    """Classes and functions re-exported by a public package report that package as their module."""
    import importlib
    import inspect

    for package in ("pynector", "pynector.transport", "pynector.http", "pynector.testing"):
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                # its own package, or the public subpackage it lives in (pynector.Response is
                # pynector.http.Response): never a private module
                home = obj.__module__
                public = not any(part.startswith("_") for part in home.split("."))
                assert package == home or public, f"{package}.{name}"


async def test_open_tcp_and_unix_servers_serve_for_one_block(tmp_path: object) -> None:
    """open_tcp_server / open_unix_server, the open_* twins of serve_tcp / serve_unix, answer a client."""
    from pathlib import Path

    from pynector.testing import open_tcp_server, open_unix_server

    def handler(payload: bytes) -> bytes:
        return payload.upper()

    async with (
        open_tcp_server(handler) as server,
        pynector.Pynector(transport_type="tcp", host="127.0.0.1", port=server.port) as client,
    ):
        assert b"HI" == await client.request(b"hi")
    assert isinstance(tmp_path, Path)
    path = tmp_path / "s.sock"
    async with (
        open_unix_server(handler, path=path) as server,
        pynector.Pynector(transport_type="unix", path=str(path)) as client,
    ):
        assert b"HI" == await client.request(b"hi")
    assert not path.exists()


def test_public_submodules_export_what_they_list() -> None:
    """pynector.transport, .http, .message, .framing and .testing: every listed name exists, once."""
    import importlib

    for name in ("transport", "http", "message", "framing", "testing", "sse"):
        module = importlib.import_module(f"pynector.{name}")
        listed = module.__all__
        assert len(set(listed)) == len(listed), name
        missing = [item for item in listed if not hasattr(module, item)]
        assert [] == missing, name


EXPECTED_TESTING_ALL = [
    "CapturedLogs",
    "Cassette",
    "CassetteError",
    "CassetteTransport",
    "HTTPRequest",
    "HTTPResponse",
    "HTTPServer",
    "MockTransport",
    "QuotaService",
    "RawResponse",
    "RecordedCall",
    "Recorder",
    "Route",
    "SSEDelay",
    "SSEDrop",
    "SSEStep",
    "ServerConnection",
    "StreamAction",
    "StreamServer",
    "UnexpectedRequestError",
    "UnmatchedRequestError",
    "capture_logs",
    "capture_spans",
    "close_connection",
    "no_retry_wait",
    "open_http_server",
    "open_tcp_server",
    "open_unix_server",
    "reset_connection",
    "scrub_json_fields",
    "send_raw",
    "serve_http",
    "serve_tcp",
    "serve_unix",
]


def test_testing_surface_is_the_reviewed_list() -> None:
    """pynector.testing's __all__ is the reviewed list; changing it means changing this test."""
    import pynector.testing

    assert EXPECTED_TESTING_ALL == pynector.testing.__all__


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
