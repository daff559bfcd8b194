"""The inference worker: the model beside the event loop, never on it.

One dedicated thread (``torch.set_num_threads(1)`` in it; the step kernel itself is numba code
that releases the GIL) owns every series' LSTM state and steps it once per closed bar
(:mod:`.stepper`). Callers hand it a bar's raw feature row (:class:`~.features.FeatureStream`
makes them) and get a :class:`concurrent.futures.Future` back at once; on an asyncio loop,
:meth:`InferenceWorker.predict` awaits it without blocking the loop, and ``callback`` is called
in the worker thread as each prediction is made. Submitting never waits: the queue is bounded
and a full queue fails that future (the bar is not stepped, and ``dropped`` counts it).

Each prediction says how long it queued and how long inference took; the worker keeps the last
``stats_size`` of both and :meth:`InferenceWorker.stats` gives their p50 / p99, predictions per
second, late and dropped counts, for a health view. A prediction made after its ``deadline_ns``
(typically the close of the next bar, when the bar it was for has passed) is marked ``late``:
the bot path records it with that fate and does not trade it.

Bars of one series must come in order, each once: a bar whose end is not after the series' last
one fails its future and leaves the state untouched. A series is ``warm`` once it has seen
``burn_in + window`` bars (what the network saw in training); before that its predictions are
made but should not be traded. Inference runs on the CPU whatever device trained the model.
Work submitted before :meth:`InferenceWorker.start` waits for it; after
:meth:`InferenceWorker.stop` it fails at once.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from desk.signals.model.checkpoint import LoadedModel
from desk.signals.model.dataset import Normalizer
from desk.signals.model.network import N_CLASSES
from desk.signals.model.stepper import SeriesState, StepModel

__all__ = ["InferenceWorker", "Prediction", "WorkerStats"]


class Prediction(msgspec.Struct, frozen=True, kw_only=True):
    series: str
    bar_end_ns: int
    probs: tuple[float, float, float]  # down, flat, up
    direction: int  # the most probable class (labels.DOWN / FLAT / UP)
    confidence: float  # its probability
    forward_bps: float | None  # the regression output in bps, when the model has one
    warm: bool
    late: bool
    bars: int  # bars this series has seen, this one included
    queue_wait_ns: int
    infer_ns: int
    done_ns: int


class WorkerStats(msgspec.Struct, frozen=True, kw_only=True):
    predictions: int
    late: int
    dropped: int
    errors: int
    queued: int
    series: int
    per_second: float
    infer_p50_us: float | None
    infer_p99_us: float | None
    wait_p50_us: float | None
    wait_p99_us: float | None


@dataclass(frozen=True, eq=False)
class _Job:
    series: str
    bar_end_ns: int
    row: np.ndarray
    deadline_ns: int | None
    submitted_ns: int
    future: Future[Prediction]
    callback: Callable[[Prediction], None] | None


_STOP = object()


class InferenceWorker:
    """Steps a :class:`~.stepper.StepModel` per series in its own thread (module docstring)."""

    def __init__(
        self,
        model: StepModel,
        normalizer: Normalizer,
        *,
        burn_in: int = 0,
        target_scale: float | None = None,
        name: str = "model",
        queue_size: int = 10_000,
        stats_size: int = 4096,
        clock: Callable[[], int] = time.time_ns,
        slow_down_s: float = 0.0,
    ) -> None:
        """``target_scale``: bps per unit of the regression output (None: no regression).

        ``slow_down_s`` sleeps that long before each prediction: a forced-slow model for tests
        and demos of the ``late`` path.
        """
        if len(normalizer.mean) != model.n_features:
            raise ValueError(
                f"normalisation has {len(normalizer.mean)} features, model {model.n_features}"
            )
        self.model = model
        self.normalizer = normalizer
        self.name = name
        self.warm_bars = burn_in + model.window
        self.target_scale = target_scale if model.outputs > N_CLASSES else None
        self.clock = clock
        self.slow_down_s = slow_down_s
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._states: dict[str, SeriesState] = {}
        self._lock = threading.Lock()
        self._infer: deque[int] = deque(maxlen=stats_size)
        self._wait: deque[int] = deque(maxlen=stats_size)
        self._done: deque[int] = deque(maxlen=stats_size)
        self._counts = {"predictions": 0, "late": 0, "dropped": 0, "errors": 0}
        self._thread: threading.Thread | None = None
        self._stopped = False

    @classmethod
    def from_checkpoint(cls, loaded: LoadedModel, **options: Any) -> InferenceWorker:
        card = loaded.card
        scale = card.target_scale_bps if card.label.regression else None
        return cls(
            StepModel.from_network(loaded.network),
            loaded.normalizer,
            burn_in=card.model.burn_in,
            target_scale=scale,
            **options,
        )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (it compiles or loads the step kernel before taking work)."""
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"inference-{self.name}", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self, timeout: float | None = 5.0, *, discard: bool = False) -> None:
        """Finish the queued work (``discard``: fail it at once instead), then end the thread.

        Waits at most ``timeout`` for the thread (a daemon: one still busy ends on its own).
        """
        thread, self._thread = self._thread, None
        self._stopped = True
        while discard:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Job):
                job.future.set_exception(RuntimeError(f"inference worker {self.name} stopped"))
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def __enter__(self) -> InferenceWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- submitting -------------------------------------------------------------------------

    def submit(
        self,
        series: str,
        bar_end_ns: int,
        row: Any,
        *,
        deadline_ns: int | None = None,
        callback: Callable[[Prediction], None] | None = None,
    ) -> Future[Prediction]:
        """Queue one bar's raw feature row; returns at once with the prediction's future."""
        future: Future[Prediction] = Future()
        if self._stopped:
            future.set_exception(RuntimeError(f"inference worker {self.name} is stopped"))
            return future
        job = _Job(series, bar_end_ns, row, deadline_ns, self.clock(), future, callback)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self._counts["dropped"] += 1
            future.set_exception(RuntimeError(f"inference queue of {self.name} is full"))
        return future

    async def predict(
        self, series: str, bar_end_ns: int, row: Any, *, deadline_ns: int | None = None
    ) -> Prediction:
        """Await the prediction on an asyncio loop without blocking it."""
        future = self.submit(series, bar_end_ns, row, deadline_ns=deadline_ns)
        return await asyncio.wrap_future(future)

    def reset(self, series: str | None = None) -> None:
        """Forget one series' state (or all): runs in the worker, after what is queued."""
        self._queue.put(("reset", series))

    # -- the thread -------------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        import torch

        torch.set_num_threads(1)
        self.model.full_window(np.zeros((1, self.model.n_features), np.float32))  # load kernel
        ready.set()
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if isinstance(job, tuple):
                if job[1] is None:
                    self._states.clear()
                else:
                    self._states.pop(job[1], None)
                continue
            try:
                prediction = self._predict(job)
            except Exception as exc:
                with self._lock:
                    self._counts["errors"] += 1
                job.future.set_exception(exc)
                continue
            job.future.set_result(prediction)
            if job.callback is not None:
                try:
                    job.callback(prediction)
                except Exception:
                    with self._lock:
                        self._counts["errors"] += 1

    def _predict(self, job: _Job) -> Prediction:
        started = self.clock()
        row = np.asarray(job.row, dtype=np.float64)
        if row.shape != (self.model.n_features,) or not np.all(np.isfinite(row)):
            raise ValueError(
                f"a feature row must be {self.model.n_features} finite values, got {row!r}"
            )
        state = self._states.get(job.series)
        if state is None:
            state = self._states[job.series] = self.model.new_state()
        if job.bar_end_ns <= state.last_end_ns:
            raise ValueError(
                f"{job.series}: bar {job.bar_end_ns} is not after the last one "
                f"({state.last_end_ns}); bars must come in order, once each"
            )
        t0 = time.perf_counter_ns()
        if self.slow_down_s:
            time.sleep(self.slow_down_s)
        out = self.model.step(state, np.ascontiguousarray(self.normalizer.apply(row)))
        infer_ns = time.perf_counter_ns() - t0
        state.last_end_ns = job.bar_end_ns
        logits = out[:N_CLASSES].astype(np.float64)
        e = np.exp(logits - logits.max())
        probs = e / e.sum()
        direction = int(np.argmax(probs))
        done = self.clock()
        late = job.deadline_ns is not None and done > job.deadline_ns
        wait = max(0, started - job.submitted_ns)
        with self._lock:
            self._infer.append(infer_ns)
            self._wait.append(wait)
            self._done.append(done)
            self._counts["predictions"] += 1
            self._counts["late"] += int(late)
        return Prediction(
            series=job.series,
            bar_end_ns=job.bar_end_ns,
            probs=(float(probs[0]), float(probs[1]), float(probs[2])),
            direction=direction,
            confidence=float(probs[direction]),
            forward_bps=None
            if self.target_scale is None
            else float(out[N_CLASSES]) * self.target_scale,
            warm=state.bars >= self.warm_bars,
            late=late,
            bars=state.bars,
            queue_wait_ns=wait,
            infer_ns=infer_ns,
            done_ns=done,
        )

    # -- health -----------------------------------------------------------------------------

    def stats(self) -> WorkerStats:
        """Latency percentiles (µs) over the last predictions, and the counters."""
        with self._lock:
            infer, wait, done = list(self._infer), list(self._wait), list(self._done)
            counts = dict(self._counts)

        def pct(values: list[int], q: float) -> float | None:
            return float(np.percentile(values, q)) / 1e3 if values else None

        span = (done[-1] - done[0]) / 1e9 if len(done) > 1 else 0.0
        return WorkerStats(
            **counts,
            queued=self._queue.qsize(),
            series=len(self._states),
            per_second=(len(done) - 1) / span if span > 0 else 0.0,
            infer_p50_us=pct(infer, 50),
            infer_p99_us=pct(infer, 99),
            wait_p50_us=pct(wait, 50),
            wait_p99_us=pct(wait, 99),
        )
