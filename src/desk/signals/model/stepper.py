"""One bar at a time: the trained network as a numba kernel that steps the LSTM once per bar.

:class:`StepModel` holds the network's weights as float32 arrays (taken from its
``state_dict``); :class:`SeriesState` holds one series' LSTM state (h, c per layer) and a ring of
its last ``window`` top-layer hidden states with their attention keys (K h_t, computed once
when the state enters the ring). :meth:`StepModel.step` folds one normalised feature row into a
state and returns the head's output, doing per bar what :class:`~.network.LstmAttention` does
over a whole sequence: the same LSTM cell (PyTorch's gate order i, f, g, o), the same additive
attention over the last ``window`` states queried by the newest, the same head. A series
stepped from its first bar agrees with the network run over all its bars (a test holds them
together, to float32 rounding), at a small fixed cost per bar instead of a window's worth.

The kernel is compiled with numba on first use (cached on disk), releases the GIL, and calls
no BLAS: the loops are written out, accumulating like an axpy so they vectorise.
:meth:`StepModel.full_window` runs the same kernel over a window of rows from a fresh state,
the re-run the stepping avoids (the benchmark compares the two, and eager torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

F32 = np.float32
Array = npt.NDArray[np.float32]

__all__ = ["SeriesState", "StepModel"]


@dataclass(eq=False)
class SeriesState:
    """The carried state of one series: LSTM h and c, the ring of the last hidden states."""

    h: Array  # (layers, hidden)
    c: Array
    ring: Array  # (window, hidden), slot = bar index % window
    keys: Array  # (window, attention): K h_t of each ring slot
    bars: int = 0
    last_end_ns: int = field(default=-1)


@dataclass(frozen=True, eq=False)
class StepModel:
    """The network's weights laid out for the kernel (build with :meth:`from_network`)."""

    wx: Array  # (layers, max(features, hidden), 4 hidden): input weights, transposed
    wh: Array  # (layers, hidden, 4 hidden): recurrent weights, transposed
    b: Array  # (layers, 4 hidden): b_ih + b_hh
    kt: Array  # (hidden, attention)
    qt: Array  # (hidden, attention)
    qb: Array  # (attention,)
    v: Array  # (attention,)
    w1t: Array  # (2 hidden, head)
    b1: Array
    w2t: Array  # (head, outputs)
    b2: Array
    n_features: int
    window: int

    @classmethod
    def from_network(cls, network: Any) -> StepModel:
        """From an :class:`~.network.LstmAttention` (its weights are copied to the CPU)."""
        sd = {k: v.detach().to("cpu").numpy().astype(F32) for k, v in network.state_dict().items()}
        cfg = network.config
        layers, hidden, nf = cfg.layers, cfg.hidden, network.n_features
        wx = np.zeros((layers, max(nf, hidden), 4 * hidden), F32)
        wh = np.zeros((layers, hidden, 4 * hidden), F32)
        b = np.zeros((layers, 4 * hidden), F32)
        for layer in range(layers):
            w_ih = sd[f"lstm.weight_ih_l{layer}"]
            wx[layer, : w_ih.shape[1]] = w_ih.T
            wh[layer] = sd[f"lstm.weight_hh_l{layer}"].T
            b[layer] = sd[f"lstm.bias_ih_l{layer}"] + sd[f"lstm.bias_hh_l{layer}"]

        def c(a: np.ndarray) -> Array:
            return np.ascontiguousarray(a, dtype=F32)

        return cls(
            wx=wx, wh=wh, b=b,
            kt=c(sd["attention.key.weight"].T), qt=c(sd["attention.query.weight"].T),
            qb=c(sd["attention.query.bias"]), v=c(sd["attention.score.weight"][0]),
            w1t=c(sd["head.0.weight"].T), b1=c(sd["head.0.bias"]),
            w2t=c(sd["head.2.weight"].T), b2=c(sd["head.2.bias"]),
            n_features=nf, window=cfg.window,
        )  # fmt: skip

    @property
    def layers(self) -> int:
        return int(self.wh.shape[0])

    @property
    def hidden(self) -> int:
        return int(self.wh.shape[1])

    @property
    def outputs(self) -> int:
        return int(self.b2.shape[0])

    def new_state(self) -> SeriesState:
        a = self.kt.shape[1]
        return SeriesState(
            h=np.zeros((self.layers, self.hidden), F32),
            c=np.zeros((self.layers, self.hidden), F32),
            ring=np.zeros((self.window, self.hidden), F32),
            keys=np.zeros((self.window, a), F32),
        )

    def step(self, state: SeriesState, row: Array) -> Array:
        """Fold one normalised float32 row into ``state``; the head's output (logits [, reg])."""
        slot = state.bars % self.window
        state.bars += 1
        return _step(
            row, self.n_features, self.wx, self.wh, self.b, self.kt, self.qt, self.qb, self.v,
            self.w1t, self.b1, self.w2t, self.b2,
            state.h, state.c, state.ring, state.keys, slot, min(state.bars, self.window),
        )  # fmt: skip

    def full_window(self, rows: Array) -> Array:
        """The output after stepping a fresh state through ``rows`` (bars, features)."""
        state = self.new_state()
        out = np.empty(self.outputs, F32)
        for row in rows:
            out = self.step(state, row)
        return out


@njit(cache=True, nogil=True, error_model="numpy")
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, nogil=True, error_model="numpy")
def _step(x, nf, wx, wh, b, kt, qt, qb, v, w1t, b1, w2t, b2, h, c, ring, keys, slot, n):
    """One bar through the LSTM layers, the attention over the ring and the head."""
    layers, hidden = h.shape[0], h.shape[1]
    gates = np.empty(4 * hidden, np.float32)
    inp = x
    n_in = nf
    for layer in range(layers):
        gates[:] = b[layer]
        for j in range(n_in):
            xj = inp[j]
            for k in range(4 * hidden):
                gates[k] += wx[layer, j, k] * xj
        for j in range(hidden):
            hj = h[layer, j]
            for k in range(4 * hidden):
                gates[k] += wh[layer, j, k] * hj
        for k in range(hidden):
            i = _sigmoid(gates[k])
            f = _sigmoid(gates[hidden + k])
            g = math.tanh(gates[2 * hidden + k])
            o = _sigmoid(gates[3 * hidden + k])
            c[layer, k] = f * c[layer, k] + i * g
            h[layer, k] = o * math.tanh(c[layer, k])
        inp = h[layer]
        n_in = hidden
    top = h[layers - 1]
    size = kt.shape[1]
    ring[slot, :] = top
    keys[slot, :] = 0.0
    query = qb.copy()
    for j in range(hidden):
        for a in range(size):
            keys[slot, a] += kt[j, a] * top[j]
            query[a] += qt[j, a] * top[j]
    energy = np.empty(n, np.float32)
    peak = -np.inf
    for t in range(n):
        e = 0.0
        for a in range(size):
            e += v[a] * math.tanh(keys[t, a] + query[a])
        energy[t] = e
        peak = max(peak, e)
    total = 0.0
    for t in range(n):
        energy[t] = math.exp(energy[t] - peak)
        total += energy[t]
    z = np.zeros(2 * hidden, np.float32)
    for t in range(n):
        alpha = energy[t] / total
        for j in range(hidden):
            z[j] += alpha * ring[t, j]
    z[hidden:] = top
    hid = b1.copy()
    for j in range(2 * hidden):
        for k in range(hid.shape[0]):
            hid[k] += w1t[j, k] * z[j]
    out = b2.copy()
    for j in range(hid.shape[0]):
        r = max(hid[j], 0.0)
        for k in range(out.shape[0]):
            out[k] += w2t[j, k] * r
    return out
