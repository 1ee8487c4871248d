"""Jobs: every item exactly once in the output, across crashes, torn files, full disks and shards."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio
from helpers.processes import logging_server, run_then_kill
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pynector
from pynector import Job, JobItem, JobOutputError, JsonlCheckpoint, Pynector
from pynector._job import parse_shard, shard_of


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every line of *path* as JSON (each must be a complete record)."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def memory_client(seen: list[Any] | None = None) -> Pynector:
    """A client whose handler doubles numbers and logs what it was asked."""

    def handler(data: Any, **options: Any) -> Any:
        if seen is not None:
            seen.append(data)
        if data == "boom":
            raise pynector.ConnectError("no route")
        return {"double": data * 2}

    return Pynector(transport_type="memory", handler=handler)


async def test_job_writes_one_record_per_item_before_yielding_it(tmp_path: Path) -> None:
    """Each result is yielded only after its record is in the file; ids and indexes lead each record."""
    out = tmp_path / "out.jsonl"
    items = [JobItem(f"id-{n}", n) for n in range(20)] + [("bad", "boom")]
    async with memory_client() as client:
        job = Job(client, items, checkpoint=out, max_concurrency=4)
        async with job.run() as results:
            async for done in results:
                on_disk = {r["index"] for r in read_records(out)}
                assert done.index in on_disk
    records = read_records(out)
    assert sorted(r["index"] for r in records) == list(range(21))
    by_id = {r["id"]: r for r in records}
    assert {"ok": True, "result": {"double": 14}} == {k: by_id["id-7"][k] for k in ("ok", "result")}
    assert "ConnectError" == by_id["bad"]["error"]["type"]
    assert all(line.startswith(b'{"id":') for line in out.read_bytes().splitlines())
    stats = job.statistics()
    assert (0, 21, 1) == (stats.skipped, stats.written, stats.failed)


async def test_resume_skips_recorded_items_and_sends_the_rest_once(tmp_path: Path) -> None:
    """A run stopped half-way, then resumed: every item once in the output, none sent after its record."""
    out = tmp_path / "out.jsonl"
    seen: list[Any] = []
    items = [(None, n) for n in range(100)]
    async with memory_client(seen) as client:
        job = Job(client, items, checkpoint=out, max_concurrency=8)
        async with job.run() as results:
            async for _ in results:
                if job.statistics().written == 37:
                    break
        first = read_records(out)
        assert 37 == len(first)
        recorded = {r["index"] for r in first}
        seen.clear()
        stats = await Job(client, items, checkpoint=out, max_concurrency=8).run_all()
    assert 37 == stats.skipped
    assert 63 == stats.written
    assert not recorded & set(seen)
    assert list(range(100)) == sorted(r["index"] for r in read_records(out))


async def test_resume_by_id_survives_a_reordered_input(tmp_path: Path) -> None:
    """Items with ids are matched by id, so a shuffled input resumes correctly."""
    out = tmp_path / "out.jsonl"
    items = [JobItem({"k": n}, n) for n in range(30)]
    async with memory_client() as client:
        await Job(client, items[:10], checkpoint=out).run_all()
        seen: list[Any] = []
        async with memory_client(seen) as client2:
            stats = await Job(client2, list(reversed(items)), checkpoint=out).run_all()
    assert 10 == stats.skipped
    assert set(range(10, 30)) == set(seen)
    assert sorted(n for n in range(30)) == sorted(r["id"]["k"] for r in read_records(out))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0, max_value=1))
def test_power_cut_at_any_byte_then_resume_gives_each_item_once(tmp_path: Path, cut: float) -> None:
    """Truncating the output at a random byte (a power cut) and resuming ends with each item exactly once."""
    out = tmp_path / f"cut-{cut}.jsonl"
    items = [(f"x{n}", n) for n in range(40)]

    async def run() -> tuple[int, int]:
        async with memory_client() as client:
            await Job(client, items, checkpoint=out).run_all()
            size = out.stat().st_size
            os.truncate(out, int(size * cut))
            stats = await Job(client, items, checkpoint=out).run_all()
        return stats.skipped, stats.written

    skipped, written = trio.run(run)
    records = read_records(out)
    assert 40 == skipped + written
    assert sorted(f"x{n}" for n in range(40)) == sorted(r["id"] for r in records)
    out.unlink()


async def test_fresh_checkpoint_truncates_and_resume_false_resends(tmp_path: Path) -> None:
    """``resume=False`` starts the file afresh."""
    out = tmp_path / "out.jsonl"
    async with memory_client() as client:
        await Job(client, [(None, 1), (None, 2)], checkpoint=out).run_all()
        stats = await Job(client, [(None, 1)], checkpoint=JsonlCheckpoint(out, resume=False)).run_all()
    assert 1 == stats.written
    assert [0] == [r["index"] for r in read_records(out)]


async def test_a_foreign_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    """A checkpoint line this module did not write stops the resume with JobOutputError naming the line."""
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"index":0,"ok":true}\n{"hello": 1}\n')
    async with memory_client() as client:
        with pytest.raises(JobOutputError, match="line 2"):
            await Job(client, [(None, 1)], checkpoint=out).run_all()
    assert b'{"index":0,"ok":true}\n{"hello": 1}\n' == out.read_bytes()


@pytest.mark.parametrize("policy", ["never", "interval", "always"])
async def test_every_fsync_policy_writes_the_same_records(tmp_path: Path, policy: Any) -> None:
    """The fsync policy changes durability against power cuts, never what is written."""
    out = tmp_path / "out.jsonl"
    checkpoint = JsonlCheckpoint(out, fsync=policy, fsync_interval=0.01)
    async with memory_client() as client:
        await Job(client, [(n, n) for n in range(25)], checkpoint=checkpoint, max_concurrency=5).run_all()
    assert list(range(25)) == sorted(r["id"] for r in read_records(out))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"fsync": "sometimes"}, "fsync"), ({"fsync_interval": 0}, "fsync_interval")],
)
def test_bad_checkpoint_settings_name_the_field(tmp_path: Path, kwargs: Any, field: str) -> None:
    """Invalid checkpoint settings raise ConfigurationError naming the setting."""
    with pytest.raises(pynector.ConfigurationError, match=field):
        JsonlCheckpoint(tmp_path / "x", **kwargs)


def test_a_write_that_fails_half_way_leaves_only_complete_records(tmp_path: Path) -> None:
    """A file-size limit hit in the middle of a record (as a full disk would) leaves no torn line."""
    out = tmp_path / "out.jsonl"
    script = textwrap.dedent(
        f"""
        import resource, signal, sys, trio, pynector
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        async def main():
            async with pynector.Pynector(transport_type="memory", handler=lambda d, **o: "y" * 37) as c:
                await pynector.Job(c, [(n, n) for n in range(200)], checkpoint={str(out)!r}).run_all()
        try:
            trio.run(main)
        except pynector.JobOutputError as exc:
            print(type(exc.__cause__).__name__, file=sys.stderr)
            sys.exit(7)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert 7 == result.returncode, result.stderr
    assert "OSError" in result.stderr
    records = read_records(out)
    assert 0 < len(records) < 200
    assert out.stat().st_size <= 1000


def test_shards_are_disjoint_and_cover_the_input() -> None:
    """shard_of splits ids and indexes into n disjoint parts whose union is everything."""
    keys: list[Any] = list(range(1000)) + [f"s{n}" for n in range(1000)] + [{"a": n} for n in range(50)]
    parts = [[k for k in keys if shard_of(k, 4) == s] for s in range(4)]
    assert len(keys) == sum(len(p) for p in parts)
    assert all(len(p) > 100 for p in parts)
    assert (2, 4) == parse_shard("3/4")
    for bad in ("0/4", "5/4", "x", "1/0", "2"):
        with pytest.raises(pynector.ConfigurationError, match="shard"):
            parse_shard(bad)


async def test_four_shards_run_concurrently_cover_the_input_once(tmp_path: Path) -> None:
    """Four shard jobs of one 10,000-item input: the union of their outputs is the input, no overlap."""
    items = [(None if n % 3 else f"id{n}", n) for n in range(10_000)]
    outs = [tmp_path / f"part{k}.jsonl" for k in range(4)]
    async with memory_client() as client, trio.open_nursery() as nursery:
        for k in range(4):
            job = Job(client, items, checkpoint=outs[k], shard=(k, 4), max_concurrency=16)
            nursery.start_soon(job.run_all)
    indexes = [r["index"] for out in outs for r in read_records(out)]
    assert list(range(10_000)) == sorted(indexes)


async def test_async_input_and_ordered_results(tmp_path: Path) -> None:
    """An async iterable input works, and ordered=True yields in input order."""

    async def produce() -> Any:
        for n in range(50):
            await trio.lowlevel.checkpoint()
            yield JobItem(None, n)

    out = tmp_path / "out.jsonl"
    async with memory_client() as client:
        job = Job(client, produce(), checkpoint=out, ordered=True, max_concurrency=7)
        async with job.run() as results:
            assert list(range(50)) == [done.index async for done in results]


async def test_bad_items_and_shards_are_configuration_errors(tmp_path: Path) -> None:
    """An item that is not a JobItem or tuple, or a bad shard, is a ConfigurationError naming it."""
    async with memory_client() as client:
        with pytest.raises(pynector.ConfigurationError, match="shard"):
            Job(client, [], checkpoint=tmp_path / "a", shard=(4, 4))
        with pytest.raises(pynector.ConfigurationError, match="job item 1"):
            await Job(client, [(1, 1), 5], checkpoint=tmp_path / "b").run_all()


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_exactly_once(tmp_path: Path) -> None:
    """A 20,000-item job over loopback HTTP killed 5 times, then resumed: one record per item, and no
    item is requested after its record was written."""
    out = tmp_path / "out.jsonl"
    log = tmp_path / "requests.log"
    job_script = textwrap.dedent(
        """
        import sys, trio, pynector
        async def main():
            items = [(f"i{n}", {"url": f"/x?i={n}"}) for n in range(20_000)]
            async with pynector.Pynector(transport_type="http", base_url=sys.argv[2]) as client:
                job = pynector.Job(client, items, checkpoint=sys.argv[1], max_concurrency=32)
                stats = await job.run_all()
            print(stats.skipped, stats.written)
        trio.run(main)
        """
    )
    with logging_server(log) as base:
        rng = random.Random(1234)
        kills = 0
        for _ in range(5):
            recorded = {r["id"] for r in read_records(out)} if out.exists() else set()
            log.write_text("")
            kills += run_then_kill([sys.executable, "-c", job_script, str(out), base], rng, (0.6, 1.5))
            requested = {f"i{line}" for line in log.read_text().split()}
            assert not recorded & requested
        assert kills >= 3  # most runs really were killed in the middle
        recorded = {r["id"] for r in read_records(out)}
        assert 0 < len(recorded) <= 20_000
        log.write_text("")
        final = subprocess.run(
            [sys.executable, "-c", job_script, str(out), base], capture_output=True, text=True, timeout=120
        )
        assert 0 == final.returncode, final.stderr
        assert not recorded & {f"i{line}" for line in log.read_text().split()}
    ids = [r["id"] for r in read_records(out)]
    assert 20_000 == len(ids)
    assert 20_000 == len(set(ids))
