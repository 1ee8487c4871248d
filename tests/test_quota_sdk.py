"""Quotas on the SDK transport: one key per provider and model, retry-after-ms, token estimates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import trio
from helpers.fake_llm_api import OPENAI, FakeLLMAPI, Reply, Request, sdk_client

from pynector import Quota, RetryPolicy
from pynector._quota import estimate_tokens

pytest.importorskip("openai")


async def test_a_429_with_retry_after_ms_pauses_the_model_key(autojump_clock: trio.abc.Clock) -> None:
    """OpenAI's 429 with retry-after-ms pauses (provider, model); every later call waits it out."""

    def script(request: Request) -> Reply | None:
        if len(api.requests) == 1:
            return Reply(status=429, headers={"retry-after-ms": "1500"})
        return None

    api = FakeLLMAPI(OPENAI, script)
    async with trio.open_nursery() as nursery:
        await nursery.start(api.serve)
        async with sdk_client(api, model="gpt-test", rate_limit="auto") as client:
            replies = await client.batch_request(
                [(f"prompt {i}", {}) for i in range(6)], max_concurrency=1, retry=RetryPolicy(max_retries=2)
            )
            (key,) = client.statistics().quota
        nursery.cancel_scope.cancel()
    assert [f"echo: prompt {i}" for i in range(6)] == replies
    assert ("openai", "gpt-test") == key.key
    assert 1 == key.pauses
    refused_at = api.requests[0].time
    assert all(r.time >= refused_at + 1.5 for r in api.requests[1:])


def test_the_token_estimate_is_prompt_characters_over_four_plus_max_tokens() -> None:
    """A prompt's estimate reads its text and max_tokens from the call, the options or the defaults."""

    transport = SimpleNamespace(provider="openai", defaults={"model": "m", "max_tokens": 100})
    assert 400 / 4 + 100 == estimate_tokens(transport, "x" * 400, {})
    call = {"messages": [{"role": "user", "content": "y" * 40}], "max_tokens": 7}
    assert 40 / 4 + 7 == estimate_tokens(transport, call, {})
    assert 0 + 3 == estimate_tokens(transport, {"messages": []}, {"max_tokens": 3})
    blocks = {"messages": [{"role": "user", "content": [{"type": "text", "text": "z" * 8}]}]}
    assert 8 / 4 + 100 == estimate_tokens(transport, blocks, {})


async def test_sdk_usage_settles_the_token_charge(autojump_clock: trio.abc.Clock) -> None:
    """The charge (estimate) is settled with the usage the reply reports: tokens left stay near full."""
    api = FakeLLMAPI(OPENAI)
    quota = Quota(tokens_per_minute=60_000, headroom=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(api.serve)
        async with sdk_client(api, model="gpt-test", max_tokens=500, rate_limit=quota) as client:
            await client.request("hello there")
            (key,) = client.statistics().quota
        nursery.cancel_scope.cancel()
    assert 1000.0 == key.token_rate
    # charged 11 / 4 + 500 tokens, settled with the fake's count (a handful): almost all given back
    assert key.tokens_left is not None
    assert key.tokens_left > 990
