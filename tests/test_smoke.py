import pynector


async def test_memory_round_trip() -> None:
    """A request through the memory transport returns the handler's response."""
    async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: d * 2) as client:
        assert await client.request(21) == 42
