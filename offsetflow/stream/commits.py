"""What a commit says besides its offset: when it happened and how fast the partition was moving.

Kafka keeps a free-text metadata string with every committed offset. The loop puts a small JSON object there,
so `offsetflow status` can show the last commit time, a recent rate and an ETA for any group, running or not,
without a side file. The offset stays the only checkpoint: the metadata is never read back to resume.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class CommitInfo:
    at_ms: int
    rate: float | None  # records per second over the last window, None before a second commit

    def encode(self) -> str:
        data: dict[str, object] = {"offsetflow": 1, "at": self.at_ms}
        if self.rate is not None:
            data["rate"] = round(self.rate, 3)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> CommitInfo | None:
        """None for commits made by other tools (their metadata is theirs)."""
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("offsetflow") != 1 or not isinstance(data.get("at"), int):
            return None
        rate = data.get("rate")
        return cls(data["at"], float(rate) if isinstance(rate, int | float) else None)


class RateWindow:
    """Records per second of one partition, from the offsets committed in the last ``seconds``."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._points: deque[tuple[float, int]] = deque()

    def add(self, offset: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if self._points and offset < self._points[-1][1]:
            self._points.clear()  # offsets moved back (a replay): the old points say nothing about now
        self._points.append((now, offset))
        while len(self._points) > 2 and now - self._points[1][0] >= self.seconds:
            self._points.popleft()
        (t0, o0), (t1, o1) = self._points[0], self._points[-1]
        return (o1 - o0) / (t1 - t0) if t1 > t0 else None
