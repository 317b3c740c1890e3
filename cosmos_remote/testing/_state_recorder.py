"""Sampling the task states of one DAG run of an :func:`~cosmos_remote.testing.airflow_cluster` in the background."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa

from cosmos_remote.testing._process import EmulatorError

__all__ = ["StateRecorder", "StateSamplingError"]


class StateSamplingError(EmulatorError):
    """Reading the task states failed."""


class StateRecorder:
    """Samples the task states of one DAG run in a background thread, from creation until :meth:`stop`; the time
    between two samples counts for the state each task had at the first of them.

    Attributes:
        seconds: ``{task_id: {state: seconds}}`` spent in each state while recording (``"None"``: not scheduled).
        peak: ``{state: n}``, the most tasks seen in ``state`` in one sample.
        peak_deferred: The most tasks ``deferred`` at the same moment.
        peak_running: The most tasks ``running`` (each holding a worker slot) at the same moment.
        samples: How many samples were taken.
    """

    def __init__(self, query: Callable[[], dict[str, str | None]], interval: float) -> None:
        self.seconds: dict[str, dict[str, float]] = {}
        self.peak: dict[str, int] = {}
        self.samples = self.peak_deferred = self.peak_running = 0
        self._query, self._interval = query, interval
        self._stop, self._error = threading.Event(), ""
        self._thread = threading.Thread(target=self._run, name="airflow-state-recorder", daemon=True)
        self._thread.start()

    def seconds_in(self, state: str) -> dict[str, float]:
        """``{task_id: seconds}`` each task spent in ``state`` (0 if never seen in it)."""
        return {task: spent.get(state, 0.0) for task, spent in self.seconds.items()}

    def _run(self) -> None:
        previous: tuple[float, dict[str, str | None]] = (0.0, {})
        while True:
            stopping = self._stop.is_set()
            try:
                states = self._query()
            except sa.exc.OperationalError:  # "database is locked" while a component writes: sample again
                self._stop.wait(0.02)
                continue
            except Exception as exc:  # reported by stop()
                self._error = f"{type(exc).__name__}: {exc}"
                return
            now = time.monotonic()
            for task, state in previous[1].items():
                spent = self.seconds.setdefault(task, {})
                spent[str(state)] = spent.get(str(state), 0.0) + now - previous[0]
            for state, count in Counter(str(s) for s in states.values()).items():
                self.peak[state] = max(self.peak.get(state, 0), count)
            self.peak_deferred, self.peak_running = self.peak.get("deferred", 0), self.peak.get("running", 0)
            self.samples, previous = self.samples + 1, (now, states)
            if stopping:
                return
            self._stop.wait(self._interval)

    def stop(self) -> StateRecorder:
        """Take a last sample, stop the thread and return ``self``; raise if sampling failed."""
        self._stop.set()
        self._thread.join()
        if self._error:
            raise StateSamplingError(f"sampling task states from the metadata DB failed: {self._error}")
        return self

    def __enter__(self) -> StateRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
