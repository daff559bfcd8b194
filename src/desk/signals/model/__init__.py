"""The LSTM-with-attention model: features, labels, training, evaluation, checkpoints, inference.

Modules (DESIGN.md section 5):

* :mod:`.features` - the feature rows, in batch (numba kernels) and streaming (O(1) updaters),
  with :mod:`.featuremath` (their per-value arithmetic) and :mod:`.feature_kernels` (numba);
* :mod:`.labels` - up / flat / down over ``horizon`` bars with a cost dead band;
* :mod:`.data` - candles from a CSV, the SQLite ``candles`` table or the simulator's market;
* :mod:`.dataset` - time-ordered, purged train / validation / test splits and normalisation;
* :mod:`.evaluate` - metrics and the honest baselines (majority, persistence, logistic);
* :mod:`.config` - ``ModelConfig``, ``TrainConfig`` and ``TrainSpec`` (the ``--config`` file);
* :mod:`.network` - the LSTM + additive attention network;
* :mod:`.train` - the training loop with early stopping and progress reporting;
* :mod:`.checkpoint` - weights (``state_dict``, ``weights_only`` loading) and the JSON card;
* :mod:`.runner` - a training run: train, evaluate against the baselines, save;
* :mod:`.stepper` - the network as a numba kernel stepping one bar at a time;
* :mod:`.inference` - the inference worker stepping the LSTM once per bar per series;
* :mod:`.command` - ``desk train``'s arguments and entry point;
* :mod:`.card` - the checkpoint's card read and checked without torch;
* :mod:`.drift` - each feature's training distribution as bins, and PSI drift of live rows;
* :mod:`.monitor` - a live model's health: live hit rate beside live baselines, Brier, drift,
  staleness, warnings;
* :mod:`.live` - the models a bot manager runs: one worker and monitor per checkpoint;
* :mod:`.live_config` - the ``models`` config section (the ``desk --sim`` demo model bot).

The ``lstm`` strategy (:mod:`desk.signals.strategies.lstm`) trades on the live models.

torch is imported by ``network``, ``train``, ``checkpoint``, ``runner`` and ``inference``
only; ``features``, ``labels``, ``data``, ``dataset``, ``evaluate``, ``config``, ``card``,
``drift``, ``monitor``, ``live``, ``live_config`` and ``command`` (which imports the rest when
it runs) import without it, as does this package (a test holds this), so ``desk``'s parser can
offer ``desk train``, and an engine can hold model bots, without loading torch until the first
model bot starts.
"""
