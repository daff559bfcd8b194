"""Backtests and sweeps (DESIGN.md section 5): numba kernel, metrics, sweeps, walk-forward.

config (BacktestConfig, BacktestError) -> data (Candles from SQLite, CSV, the simulator) ->
run (one backtest: the strategy's batch codes -> kernel, whose account is in book and whose
per-bar statistics are in stats -> metrics) -> sweep / walkforward (many, locally with joblib
or on Dask, indicators reused across a worker's combinations) -> store (every run saved) ->
command (``desk backtest``, ``desk sweep``) and job (a run in a worker process, for the UI's
backtest mode). names and formatting are the light parts the command line and the UI import
without the library; reference holds the plain-Python loop the kernel is tested against.
"""
