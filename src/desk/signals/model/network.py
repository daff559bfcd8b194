"""The network: a stacked LSTM, additive attention over its last hidden states, a small head.

For a sequence of feature rows x_1 .. x_T (normalised, see :mod:`.dataset`):

1. an LSTM of ``layers`` layers and ``hidden`` units runs over all T rows from a zero state;
   h_t is the top layer's hidden state at step t;
2. additive attention (Bahdanau et al., 2015) over the last ``window`` states, queried by the
   newest: e_t = v . tanh(K h_t + Q h_T + b), alpha = softmax(e), context = sum alpha_t h_t;
3. the head: Linear(2 * hidden -> head), ReLU, Linear(head -> 3 [+ 1]) on [context, h_T]: the
   logits of down / flat / up, and with ``regression`` one more output, the forward return in
   units of the training target's standard deviation.

Training feeds sequences of ``burn_in + window`` rows (``ModelConfig.context``), so the LSTM
state at the window's start is past its zero-state transient; the live worker
(:mod:`.inference`) instead carries the state from the first bar it sees, and agrees exactly
with this network run over the same whole sequence.

The sizes are a :class:`~.config.ModelConfig`. Deterministic under a seed: :func:`build_model`
draws the initial weights from ``seed`` without touching the global random state.
"""

from __future__ import annotations

import torch
from torch import nn

from desk.signals.model.config import ModelConfig

N_CLASSES = 3

__all__ = ["N_CLASSES", "AdditiveAttention", "LstmAttention", "build_model"]


class AdditiveAttention(nn.Module):
    """e_t = v . tanh(K h_t + Q q + b); returns (sum softmax(e)_t h_t, the weights)."""

    def __init__(self, hidden: int, size: int) -> None:
        super().__init__()
        self.key = nn.Linear(hidden, size, bias=False)
        self.query = nn.Linear(hidden, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, states: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, ...]:
        energy = torch.tanh(self.key(states) + self.query(query).unsqueeze(1))
        alpha = torch.softmax(self.score(energy).squeeze(-1), dim=1)
        return torch.bmm(alpha.unsqueeze(1), states).squeeze(1), alpha


class LstmAttention(nn.Module):
    """(batch, time, features) -> (batch, 3 [+ 1]): class logits [and the regression output]."""

    def __init__(self, config: ModelConfig, n_features: int, regression: bool = False) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.config = config
        self.n_features = n_features
        self.regression = regression
        self.out_size = N_CLASSES + int(regression)
        self.lstm = nn.LSTM(
            n_features,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.attention = AdditiveAttention(config.hidden, config.attention)
        self.head = nn.Sequential(
            nn.Linear(2 * config.hidden, config.head),
            nn.ReLU(),
            nn.Linear(config.head, self.out_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(x)
        last = states[:, -1]
        context, _ = self.attention(states[:, -self.config.window :], last)
        return self.head(torch.cat([context, last], dim=1))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (batch, 3)."""
        return torch.softmax(self.forward(x)[:, :N_CLASSES], dim=1)


def build_model(config: ModelConfig, n_features: int, regression: bool = False) -> LstmAttention:
    """A freshly initialised network, its weights drawn from ``config.seed`` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return LstmAttention(config, n_features, regression)
