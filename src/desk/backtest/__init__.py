"""Backtests and sweeps (DESIGN.md section 5): numba kernel, metrics, sweeps, walk-forward.

config (BacktestConfig, BacktestError) -> data (Candles from SQLite, CSV, the simulator) ->
run (one backtest: the strategy's batch signals -> kernel -> metrics) -> sweep / walkforward
(many, locally with joblib or on Dask) -> store (every run saved) -> command (``desk backtest``,
``desk sweep``). reference holds the plain-Python loop the kernel is tested against.
"""
