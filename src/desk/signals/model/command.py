"""``desk train``: train the LSTM-attention model, evaluate it against baselines, save it.

Wire it into ``desk.cli`` with::

    train = sub.add_parser("train", help="train the LSTM-attention model")
    add_train_arguments(train)          # ... and in main(): return run_train(args)

Data: ``--csv FILE``, ``--db FILE`` (desk's SQLite, table ``candles``) or ``--sim HOURS`` (the
simulator's market generated offline), see :mod:`.data`; ``--from`` / ``--to`` pick the bars
of a CSV or the database (with ``--sim``, ``--from`` is where the generated market starts).
``--config FILE`` is a YAML file with any of the sections ``features``, ``labels``, ``model``,
``train`` (the fields of :class:`~.features.FeatureConfig`, :class:`~.labels.LabelConfig`,
:class:`~.config.ModelConfig`, :class:`~.config.TrainConfig`); unknown keys are refused with
their path. ``--epochs``, ``--seed`` and ``--horizon`` override the file.

Output: progress on stderr (a progress bar on a terminal), then the evaluation table and the
checkpoint's path on stdout, or with ``--json`` the evaluation as one JSON object on stdout.
``--walk-forward K`` trains and tests K successive folds (:func:`~.dataset.walk_forward`),
reports each, and saves the last fold's model (the one trained on the most data).

Exit status: 0 done; 2 bad arguments, config or data; 130 interrupted (Ctrl-C): the best
weights so far are still saved when at least one epoch finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import msgspec

from desk.signals.model.config import TrainSpec
from desk.signals.model.data import DataError, MarketSeries, parse_time

__all__ = ["add_train_arguments", "load_spec", "run_train"]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``desk train`` (dests chosen not to clash with desk's global options)."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--csv", metavar="FILE", help="candles from a CSV of OHLCV")
    src.add_argument("--db", metavar="FILE", help="candles from desk's SQLite database")
    src.add_argument("--data", metavar="DIR", help="bars rebuilt from a recording (trades)")
    src.add_argument(
        "--sim", dest="sim_hours", type=float, metavar="HOURS",
        help="generate HOURS of the simulator's market offline",
    )  # fmt: skip
    parser.add_argument(
        "--config", "--spec", dest="model_config", metavar="FILE",
        help="the training spec: YAML with features/labels/model/train sections",
    )  # fmt: skip
    parser.add_argument(
        "--symbol", dest="symbols", action="append", metavar="SYMBOL",
        help="symbol to train on (repeat for several); default BTC-USDT for --sim",
    )  # fmt: skip
    parser.add_argument("--timeframe", default="1m", help="bar timeframe (default 1m)")
    parser.add_argument("--venue", default="okx", help="venue of the SQLite candles (okx)")
    parser.add_argument("--from", dest="start", metavar="TIME", help="first bar (ISO or epoch)")
    parser.add_argument("--to", dest="end", metavar="TIME", help="last bar (ISO or epoch)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (overrides the config)")
    parser.add_argument("--seed", type=int, help="seed of weights and shuffling (and --sim)")
    parser.add_argument("--threads", type=int, help="CPU threads torch trains with (default 1)")
    parser.add_argument("--horizon", type=int, help="label horizon in bars (overrides)")
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto"
    )
    parser.add_argument("--out", metavar="DIR", help="checkpoint directory (default models/…)")
    parser.add_argument("--json", action="store_true", help="the evaluation as JSON on stdout")
    parser.add_argument(
        "--walk-forward", dest="walk_forward", type=int, metavar="K",
        help="evaluate on K successive train/test folds",
    )  # fmt: skip
    parser.add_argument(
        "--sim-rate", dest="sim_rate", type=float, default=200.0, metavar="STEPS",
        help="simulator market steps per simulated second (default 200)",
    )  # fmt: skip


def load_spec(path: str | None) -> TrainSpec:
    """The ``--config`` file as a TrainSpec (defaults when None); ValueError naming the key."""
    if path is None:
        return TrainSpec()
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        return msgspec.convert(raw, TrainSpec)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _spec(args: argparse.Namespace) -> TrainSpec:
    spec = load_spec(args.model_config)
    train, labels, model = spec.train, spec.labels, spec.model
    if args.epochs is not None:
        train = msgspec.structs.replace(train, epochs=args.epochs)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        train = msgspec.structs.replace(train, threads=args.threads)
    if args.seed is not None:
        train = msgspec.structs.replace(train, seed=args.seed)
        model = msgspec.structs.replace(model, seed=args.seed)
    if args.horizon is not None:
        labels = msgspec.structs.replace(labels, horizon=args.horizon)
    spec = TrainSpec(features=spec.features, labels=labels, model=model, train=train)
    return msgspec.convert(msgspec.to_builtins(spec), TrainSpec)  # re-check the overrides


def _load_series(args: argparse.Namespace, err: TextIO) -> list[MarketSeries]:
    from desk.signals.model import data

    start = None if args.start is None else parse_time(args.start)
    end = None if args.end is None else parse_time(args.end)
    if args.csv:
        name = args.symbols[0] if args.symbols else ""
        return [data.load_csv(args.csv, name, args.timeframe).between(start, end)]
    if args.db:
        if not args.symbols:
            raise DataError("--db needs --symbol")
        return [
            data.load_sqlite(
                args.db, s, args.timeframe, venue=args.venue, start_ns=start, end_ns=end
            )
            for s in args.symbols
        ]
    if getattr(args, "data", None):
        from desk.signals.model.recording_data import load_recording

        if not args.symbols:
            raise DataError("--data needs --symbol")
        return [
            load_recording(args.data, s, args.timeframe, start_ns=start, end_ns=end)
            for s in args.symbols
        ]
    if args.sim_hours is not None:
        shown = [0]

        def progress(done: int, total: int) -> None:
            tenth = done * 10 // total
            if tenth > shown[0]:
                shown[0] = tenth
                print(f"simulating: {done}/{total} bars", file=err, flush=True)

        return data.generate_sim(
            args.sim_hours, args.symbols or ["BTC-USDT"], args.timeframe,
            seed=7 if args.seed is None else args.seed, steps_per_second=args.sim_rate,
            start_ns=data.SIM_START_NS if start is None else start, progress=progress,
        )  # fmt: skip
    raise DataError("no data: give --csv FILE, --db FILE, --data DIR or --sim HOURS")


def run_train(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``desk train`` with parsed ``args``; the exit status (module docstring)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        spec = _spec(args)
        from desk.signals.model import dataset as ds
        from desk.signals.model.train import resolve_device

        device = resolve_device(args.device)
        series = _load_series(args, err)
        prepared = ds.prepare(series, spec.features, spec.labels, spec.model.context)
        if args.walk_forward is not None:
            folds = ds.walk_forward(prepared, args.walk_forward, spec.train.val_fraction)
        else:
            folds = [ds.split(prepared, spec.train.val_fraction, spec.train.test_fraction)]
        datasets = [ds.materialise(prepared, parts) for parts in folds]
    except KeyboardInterrupt:
        print("desk train: interrupted while preparing the data: nothing written", file=err)
        return 130
    except (DataError, ValueError, OSError) as exc:
        print(f"desk train: {exc}", file=err)
        return 2
    from desk.signals.model.runner import train_and_save

    out_dir = args.out or _default_out(series, args.timeframe)
    try:
        report = train_and_save(datasets, spec, device, Path(out_dir), err)
    except KeyboardInterrupt:
        print("desk train: interrupted before an epoch finished: nothing written", file=err)
        return 130
    if args.json:
        out.write(msgspec.json.encode(report.summary()).decode() + "\n")
    else:
        out.write(report.text() + "\n")
    out.flush()
    return 130 if report.interrupted else 0


def _default_out(series: list[MarketSeries], timeframe: str) -> str:
    symbols = "+".join(s.symbol for s in series) or "model"
    return str(Path("models") / f"lstm-{symbols}-{timeframe}")


def main(argv: list[str] | None = None) -> int:
    """``python -m desk.signals.model.command``: ``desk train`` until cli.py wires it."""
    parser = argparse.ArgumentParser(prog="desk train", description=__doc__.split("\n")[0])
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
