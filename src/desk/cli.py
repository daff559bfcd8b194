"""The ``desk`` command.

desk [--config PATH] [--sim]                  open the terminal desk
desk engine [--config PATH] [--sim] [--duration S]   run the engine headless
desk sim-server [--host H] [--port N] [--seed S] [--venues V]  run the exchange simulator
desk replay PATH [--from T] [--to T] [--speed 1|10|max] [--symbols S]   serve a recording as OKX
desk --replay PATH [--replay-speed max]       the desk on a recording (paper venue)
desk ui --attach redis://HOST:6379/0 [--prefix P]     a UI attached to a running engine
desk feed|bots|executor [--config PATH]       one role of a split desk (needs redis.enabled)
desk record [--config PATH]                   record market data from Redis to parquet (a role)
desk [-c FILE] data coverage [PATH] [--json]  what a recording holds, per venue/symbol/kind/day
desk check-config PATH                        validate a config file and exit
desk backtest --strategy S [--params ...] [--sim H | --data F.csv] [--json]   one backtest
desk backtest --list | --show ID              saved backtest runs
desk sweep --strategy S --grid fast=5:50:5 slow=20:200:10 [--backend loky|dask] [--json]
desk redis-acl [--config PATH] [--aclfile]    print least-privilege Redis users, one per role
desk gateway-schema [--markdown]              the gateway messages' JSON Schema (README)
desk [-c DESK.yaml] train [--sim H | --csv F | --db F] [--spec F] [--json]   train the LSTM model
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from desk.config import ConfigError, DeskConfig, load_config, with_replay, with_simulator
from desk.sim.replay.command import (
    RecordingError,
    add_replay_options,
    add_replay_parser,
    replay_setup,
)

log = logging.getLogger("desk")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desk", description="A trading desk in your terminal.")
    _add_config_args(parser)
    add_replay_options(parser)
    sub = parser.add_subparsers(dest="command")

    engine = sub.add_parser("engine", help="run the engine headless (no terminal UI)")
    _add_config_args(engine)
    add_replay_options(engine)
    engine.add_argument(
        "--duration", type=float, default=None, help="stop cleanly after this many seconds"
    )

    ui = sub.add_parser("ui", help="the terminal UI, attached to an engine running elsewhere")
    _add_config_args(ui)
    ui.add_argument(
        "--attach", required=True, metavar="URL", help="the engine's Redis (redis://host:6379/0)"
    )
    ui.add_argument("--prefix", default=None, help="the engine's key prefix (redis.key_prefix)")
    for role, what in (
        ("feed", "feeds, books and candles, publishing market data to Redis"),
        ("bots", "the bots, fed candles from Redis, sending orders to the executor"),
        ("executor", "risk, OMS and venue, applying orders from Redis"),
        ("record", "the recorder, writing the market data on Redis to parquet"),
    ):
        part = sub.add_parser(role, help=f"split role: {what}")
        _add_config_args(part)
        part.add_argument(
            "--duration", type=float, default=None, help="stop cleanly after this many seconds"
        )

    sim = sub.add_parser(
        "sim-server",
        help="run the exchange simulator: OKX on --port, Binance on port+1, Coinbase on port+2",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument(
        "--venues",
        default="okx,binance,coinbase",
        help="comma-separated venues to serve (okx always runs; default: all three)",
    )
    sim.add_argument("--no-checksum", action="store_true", help="send checksum 0, as OKX now does")
    sim.add_argument(
        "--firehose", action="store_true", help="push after every market step, as fast as it can"
    )
    sim.add_argument(
        "--steps-per-second", type=float, default=200.0, help="market steps per second"
    )
    sim.add_argument(
        "--history-hours",
        type=_history_hours,
        default=24.0,
        help="hours of candles and trades served as history at start, 0 to 96 (default 24)",
    )

    from desk.backtest.command import add_backtest_arguments, add_sweep_arguments

    add_backtest_arguments(sub.add_parser("backtest", help="backtest a strategy on candles"))
    add_sweep_arguments(sub.add_parser("sweep", help="sweep a strategy's parameters"))
    _add_train_parser(sub)
    add_replay_parser(sub)
    from desk.storage.recording.command import add_data_parser

    add_data_parser(sub)

    schema = sub.add_parser(
        "gateway-schema", help="print the JSON Schema of the gateway's WebSocket messages"
    )
    schema.add_argument(
        "--markdown", action="store_true", help="a Markdown section for the README instead"
    )

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("path")

    acl = sub.add_parser(
        "redis-acl",
        help="print ACL SETUSER lines: a least-privilege Redis user per role of this desk",
    )
    acl.add_argument("--config", "-c", default=None, help="YAML config (its redis.key_prefix)")
    acl.add_argument(
        "--aclfile", action="store_true", help="'user ...' lines for redis-server --aclfile"
    )
    acl.add_argument(
        "--role",
        action="append",
        default=None,
        help="only this role (repeatable): engine, feed, bots, executor, ui, viewer",
    )
    return parser


def _history_hours(text: str) -> float:
    """``--history-hours``: a number of hours from 0 to 96 (the simulator's bound)."""
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 <= hours <= 96:
        raise argparse.ArgumentTypeError(f"must be from 0 to 96 hours, got {text}")
    return hours


TRAIN_EPILOG = """\
Two configs, two places: the desk config goes BEFORE `train` (desk -c configs/sim.yaml train
...) and names the SQLite file to read candles from (storage.sqlite_path, used when no --csv,
--db or --sim is given); --config/--spec AFTER `train` is the training spec (YAML with
features/labels/model/train sections). The checkpoint goes to --out (default
models/lstm-SYMBOL-TIMEFRAME/); run a bot on it with strategy: lstm, params: {model: DIR}.
Exit status: 0 done, 2 bad arguments/config/data, 130 interrupted (best weights kept).

examples:
  desk train --sim 24 --json                        24 h of simulator market, JSON report
  desk -c configs/sim.yaml train --symbol BTC-USDT  the candles desk --sim recorded
  desk train --csv btc.csv --spec model.yaml --epochs 10 --out models/btc
"""


def _add_train_parser(sub: Any) -> None:
    """``desk train``: the model library's own options (desk.signals.model.command)."""
    from desk.signals.model.command import add_train_arguments  # no torch until it runs

    train = sub.add_parser(
        "train",
        help="train the LSTM-attention model and evaluate it against baselines",
        description="Train the LSTM-attention model, evaluate it on a held-out test split "
        "beside three baselines (majority, persistence, logistic), and save a checkpoint.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(train)


def _run_train(args: argparse.Namespace) -> int:
    """``desk train``; with a desk config (``desk -c FILE train``) and no data source named,
    the candles come from that config's SQLite file."""
    from desk.signals.model.command import run_train

    if args.config and not (args.csv or args.db or args.data or args.sim_hours is not None):
        args.db = load_config(args.config).storage.sqlite_path
    return run_train(args)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", default=None, help="YAML config (default: embedded defaults)"
    )
    parser.add_argument(
        "--sim", action="store_true", help="start the simulator in-process and trade against it"
    )


def _load(args: argparse.Namespace) -> DeskConfig:
    config = load_config(args.config)
    if args.sim:
        config = with_simulator(config, all_venues=True)
    if getattr(args, "replay", None):  # desk --replay PATH: the recording instead of venues
        replay, symbols, warnings = replay_setup(args.replay, speed=args.replay_speed)
        for line in warnings:
            print(f"desk: {line}", file=sys.stderr)
        config = with_replay(config, replay, symbols)
    return config


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _run_train(args)
        if args.command in ("backtest", "sweep"):
            from desk.backtest.command import run_backtest, run_sweep

            return run_backtest(args) if args.command == "backtest" else run_sweep(args)
        if args.command == "data":
            from desk.storage.recording.command import run_data

            return run_data(args, load_config(args.config).recorder.path)
        if args.command == "check-config":
            load_config(args.path)
            print(f"{args.path}: ok")
            return 0
        if args.command == "sim-server":
            return _run_sim_server(args)
        if args.command == "replay":
            from desk.sim.replay.command import run_replay

            return run_replay(args)
        if args.command == "redis-acl":
            return _print_redis_acl(args)
        if args.command == "gateway-schema":
            from desk.gateway.schema import print_schema

            return print_schema(markdown=args.markdown)
        config = _load(args)
        if config.redis.enabled or args.command == "ui":
            redis = _attach_config(config, args) if args.command == "ui" else config.redis
            problem = redis.unauthenticated_problem()
            if problem:
                raise ConfigError(problem)
        if config.gateway.enabled and args.command != "ui":
            from desk.gateway.auth import bind_problem

            problem = bind_problem(config.gateway)
            if problem:
                raise ConfigError(problem)
    except ConfigError as exc:
        print(f"desk: bad config: {exc}", file=sys.stderr)
        return 2
    except RecordingError as exc:
        print(f"desk: bad recording: {exc}", file=sys.stderr)
        return 2
    if args.command in ("engine", "feed", "bots", "executor", "record"):
        if args.command != "engine" and not config.redis.enabled:
            print(
                f"desk: {args.command} meets the other roles on Redis: set redis.enabled",
                file=sys.stderr,
            )
            return 2
        return _run_engine(config, args.duration, args.command)
    from desk.app import run_app

    if args.command == "ui":
        from desk.clients.redis import EngineNotFound

        client = _attached_client(config, args.attach, args.prefix)
        try:
            client.describe()
        except EngineNotFound as exc:
            print(f"desk: {exc}", file=sys.stderr)
            return 2
        return run_app(config, client=client)
    return run_app(config)


def _attach_config(config: DeskConfig, args: argparse.Namespace) -> Any:
    """The ``redis`` section ``desk ui --attach URL [--prefix P]`` connects with."""
    import msgspec

    return msgspec.structs.replace(
        config.redis,
        enabled=True,
        url=args.attach,
        key_prefix=args.prefix or config.redis.key_prefix,
    )


def _attached_client(config: DeskConfig, url: str, prefix: str | None) -> Any:
    """A RedisClient for ``desk ui --attach`` (the engine's secret: $DESK_COMMAND_SECRET)."""
    from desk.clients.redis import RedisClient

    return RedisClient(_attach_config(config, argparse.Namespace(attach=url, prefix=prefix)))


def _print_redis_acl(args: argparse.Namespace) -> int:
    """``desk redis-acl``: the ACL users of this config's desk, on stdout."""
    from desk.engine.redis_acl import ROLES, acl_lines

    config = load_config(args.config)
    roles = tuple(args.role or ROLES)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        print(f"desk: unknown role {unknown[0]!r} (one of {', '.join(ROLES)})", file=sys.stderr)
        return 2
    for line in acl_lines(config.redis.key_prefix, roles, aclfile=args.aclfile):
        print(line)
    return 0


def _run_engine(config: DeskConfig, duration: float | None, role: str = "engine") -> int:
    from desk.engine.roles import build_role

    _setup_logging(config.system.log_level)

    async def run() -> None:
        stop = _stop_on_signals()
        engine = build_role(config, role)
        await engine.run(duration=duration, stop=stop)
        log.info("final status: %s", engine.status_line())

    try:
        asyncio.run(run())
    except ConfigError as exc:  # refused at start (e.g. the gateway cannot listen)
        print(f"desk: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_sim_server(args: argparse.Namespace) -> int:
    from desk.sim.config import SimulatorConfig
    from desk.sim.server import VENUES, SimServer, describe_urls

    venues = [v.strip() for v in args.venues.split(",") if v.strip()]
    unknown = [v for v in venues if v not in VENUES]
    if unknown:
        print(f"desk: unknown venue {unknown[0]!r} (one of {', '.join(VENUES)})", file=sys.stderr)
        return 2
    _setup_logging("INFO")
    config = SimulatorConfig(
        enabled=True,
        host=args.host,
        port=args.port,
        seed=args.seed,
        checksum=not args.no_checksum,
        steps_per_second=args.steps_per_second,
        firehose=args.firehose,
        history_hours=args.history_hours,
    )

    async def run() -> None:
        stop = _stop_on_signals()
        server = SimServer(config, venues=venues, firehose=config.firehose)
        await server.start()
        for line in describe_urls(server):
            print(line, flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(run())
    return 0


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so both stop the process cleanly with exit code 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":
    raise SystemExit(main())
