"""What a running consumer tells its user: a live bar in a terminal, periodic lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

log = logging.getLogger("offsetflow")


def format_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _eta(remaining: int, rate: float) -> str:
    return format_duration(remaining / rate) if rate > 0 and remaining > 0 else "-"


class ProgressReporter:
    """Counts records and rows; shows rows/s, lag and ETA. ``interactive`` defaults to stderr being a TTY."""

    def __init__(self, what: str, interactive: bool | None = None, log_every: float = 10.0) -> None:
        self.what = what
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.log_every = log_every
        self.records = 0
        self.rows = 0
        self.failed = 0
        self.lag = 0
        self._started = time.monotonic()
        self._last_log = self._started
        self._window: list[tuple[float, int]] = [(self._started, 0)]
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressReporter:
        if self.interactive:
            self._progress = Progress(
                TextColumn(f"[bold]{self.what}[/bold]"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} records"),
                TextColumn("{task.fields[rate]:,.0f} rows/s  lag {task.fields[lag]}  ETA {task.fields[eta]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.what, total=0, rate=0.0, lag="-", eta="-")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def rate(self) -> float:
        """Rows per second over the last ~30 s, so the ETA follows the current pace."""
        now = time.monotonic()
        self._window = [(t, n) for t, n in self._window if now - t <= 30] or [(now, self.rows)]
        t0, n0 = self._window[0]
        return (self.rows - n0) / (now - t0) if now > t0 else 0.0

    def update(self, records: int, rows: int, failed: int, lag: int) -> None:
        """``lag`` is that of the partitions this consumer owns; negative when it owns none (then it says so
        rather than "lag 0", which would read as "done")."""
        self.records += records
        self.rows += rows
        self.failed += failed
        self.lag = max(0, lag)
        now = time.monotonic()
        self._window.append((now, self.rows))
        rate = self.rate()
        eta = _eta(self.lag, rate * (self.records / self.rows) if self.rows else 0.0) if lag >= 0 else "-"
        shown = f"{lag:,}" if lag >= 0 else "- (no partitions assigned)"
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=self.records, total=self.records + self.lag, rate=rate, lag=shown, eta=eta
            )
        elif now - self._last_log >= self.log_every:
            self._last_log = now
            log.info(
                "%s: %d records, %d rows, %d dead letters, %.0f rows/s, lag %s, ETA %s",
                self.what,
                self.records,
                self.rows,
                self.failed,
                rate,
                shown,
                eta,
            )

    def say(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False)
        else:
            log.info("%s", message)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started
