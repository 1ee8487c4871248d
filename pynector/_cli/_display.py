"""Statistics, the progress bar and log output of the ``pynector`` command.

Terminal. A progress bar (``rich``, from the optional ``cli`` extra, imported only when a bar is shown)
is drawn on stderr only when stderr is a terminal and stdout is not that terminal too (records
printed to the same terminal would tear it). loguru records are routed through the bar's console so
they print above it; stdout carries nothing but JSON Lines.

"""

from __future__ import annotations

import sys
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, Protocol

import trio
from loguru import logger


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Stats:
    """Counters for the progress bar and the summary (O(1) memory unless ``keep_elapsed``)."""

    def __init__(self, *, keep_elapsed: bool = False) -> None:
        self.started = trio.current_time()
        self.done = 0
        self.failed = 0
        self.attempts = 0
        self.retried = 0
        self.recovered = 0
        self.outcomes: Counter[str] = Counter()
        self.elapsed: list[float] | None = [] if keep_elapsed else None

    def add(self, record: Mapping[str, Any]) -> None:
        self.done += 1
        if not record["ok"]:
            self.failed += 1
        self.attempts += record["attempts"]
        if record["attempts"] > 1:
            self.retried += 1
            if record["ok"]:
                self.recovered += 1
        error = record.get("error")
        status = record["status"]
        if error is not None and (status is None or error["type"] == "BatchCancelledError"):
            self.outcomes[error["type"]] += 1
        else:
            self.outcomes[str(status)] += 1
        if self.elapsed is not None and record["elapsed"] is not None:
            self.elapsed.append(record["elapsed"])

    @property
    def duration(self) -> float:
        return trio.current_time() - self.started

    def summary_line(self, skipped: int, already_done: int = 0, other_shards: int = 0) -> str:
        seconds = self.duration
        rate = self.done / seconds if seconds > 0 else 0.0
        text = (
            f"{_plural(self.done, 'request')} in {seconds:.2f} s ({rate:.0f}/s): "
            f"{self.done - self.failed} ok, {self.failed} failed, {self.retried} retried"
        )
        if skipped:
            text += f", {skipped} invalid lines skipped"
        if already_done:
            text += f", {already_done} already done (skipped by --resume)"
        if other_shards:
            text += f", {other_shards} left to other shards"
        return text


class _Display(Protocol):
    def start(self, total: int | None) -> None: ...

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None: ...

    def log(self, message: str) -> None: ...

    def stop(self) -> None: ...


class _PlainDisplay:
    """No bar: log records go straight to stderr."""

    def start(self, total: int | None) -> None:
        pass

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None:
        pass

    def log(self, message: str) -> None:
        sys.stderr.write(message)
        sys.stderr.flush()

    def stop(self) -> None:
        pass


class _RichDisplay:
    """A rich progress bar on stderr: done, failed, rate (over the last seconds) and ETA."""

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

        self.console = Console(file=sys.stderr)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("[green]{task.completed}[/] done"),
            TextColumn("[red]{task.fields[failed]}[/] failed"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, failed=0, rate="-")
        self._samples: deque[tuple[float, int]] = deque(maxlen=30)
        self._running = False

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start()
        self._running = True

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None:
        """Redraw with *stats*; the rate is over the last 3 s, or over the whole run when *final*."""
        now = trio.current_time()
        self._samples.append((now, stats.done))
        first_time, first_done = (stats.started, 0) if final else self._samples[0]
        rate = (stats.done - first_done) / (now - first_time) if now > first_time else 0.0
        self._progress.update(
            self._task, completed=stats.done, total=total, failed=stats.failed, rate=f"{rate:,.0f}"
        )
        self._progress.refresh()

    def log(self, message: str) -> None:
        from rich.text import Text

        if self._running:
            self.console.print(Text(message.rstrip("\n")), highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(message)

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._progress.refresh()
            self._progress.stop()


def _open_display(show_bar: bool, description: str) -> _Display:
    if show_bar:
        try:
            return _RichDisplay(description)
        except ImportError:
            pass  # the optional "cli" extra is not installed: no bar
    return _PlainDisplay()


def _configure_logging(level: str, display: _Display) -> None:
    """Route loguru records (ours and the library's) to stderr through the display.

    The library never adds a sink; the command, being an application, does: it removes loguru's
    default sink and enables the ``pynector`` loggers at *level*.
    """
    logger.remove()
    logger.enable("pynector")
    logger.add(display.log, level=level, format=_log_format, colorize=False, filter=_not_said_better)


def _not_said_better(record: Mapping[str, Any]) -> bool:
    """Leave out the library's "retries given up" event: the command says it itself, naming the item."""
    return bool(record["message"] != "pynector retries given up")


def _log_format(record: Mapping[str, Any]) -> str:
    """loguru format: time, level, message, then the structured fields the library bound, if any."""
    fields = " {extra}" if record["extra"] else ""
    return "{time:HH:mm:ss} {level: <7} {message}" + fields + "\n{exception}"
