"""The ``desk`` command.

desk [--config PATH] [--sim]                  open the terminal desk
desk engine [--config PATH] [--sim] [--duration S]   run the engine headless
desk sim-server [--host H] [--port N] [--seed S]      run the exchange simulator
desk ui --attach redis://HOST:6379/0 [--prefix P]     a UI attached to a running engine
desk feed|bots|executor [--config PATH]       one role of a split desk (needs redis.enabled)
desk check-config PATH                        validate a config file and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from desk.config import ConfigError, DeskConfig, load_config, with_simulator

log = logging.getLogger("desk")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desk", description="A trading desk in your terminal.")
    _add_config_args(parser)
    sub = parser.add_subparsers(dest="command")

    engine = sub.add_parser("engine", help="run the engine headless (no terminal UI)")
    _add_config_args(engine)
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
    ):
        part = sub.add_parser(role, help=f"split role: {what}")
        _add_config_args(part)
        part.add_argument(
            "--duration", type=float, default=None, help="stop cleanly after this many seconds"
        )

    sim = sub.add_parser("sim-server", help="run the OKX-protocol exchange simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--no-checksum", action="store_true", help="send checksum 0, as OKX now does")
    sim.add_argument(
        "--firehose", action="store_true", help="push after every market step, as fast as it can"
    )
    sim.add_argument(
        "--steps-per-second", type=float, default=200.0, help="market steps per second"
    )

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("path")
    return parser


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
        config = with_simulator(config)
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
        if args.command == "check-config":
            load_config(args.path)
            print(f"{args.path}: ok")
            return 0
        if args.command == "sim-server":
            return _run_sim_server(args)
        config = _load(args)
    except ConfigError as exc:
        print(f"desk: bad config: {exc}", file=sys.stderr)
        return 2
    if args.command in ("engine", "feed", "bots", "executor"):
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


def _attached_client(config: DeskConfig, url: str, prefix: str | None) -> Any:
    """A RedisClient for ``desk ui --attach`` (the engine's secret: $DESK_COMMAND_SECRET)."""
    import msgspec

    from desk.clients.redis import RedisClient

    redis = msgspec.structs.replace(
        config.redis, enabled=True, url=url, key_prefix=prefix or config.redis.key_prefix
    )
    return RedisClient(redis)


def _run_engine(config: DeskConfig, duration: float | None, role: str = "engine") -> int:
    from desk.engine.roles import build_role

    _setup_logging(config.system.log_level)

    async def run() -> None:
        stop = _stop_on_signals()
        engine = build_role(config, role)
        await engine.run(duration=duration, stop=stop)
        log.info("final status: %s", engine.status_line())

    asyncio.run(run())
    return 0


def _run_sim_server(args: argparse.Namespace) -> int:
    from desk.sim.config import SimulatorConfig
    from desk.sim.okx.simulator import OkxSimulator

    _setup_logging("INFO")
    config = SimulatorConfig(
        enabled=True,
        host=args.host,
        port=args.port,
        seed=args.seed,
        checksum=not args.no_checksum,
        steps_per_second=args.steps_per_second,
        firehose=args.firehose,
    )

    async def run() -> None:
        stop = _stop_on_signals()
        simulator = OkxSimulator(config, firehose=config.firehose)
        await simulator.start()
        print(f"OKX public WebSocket: {simulator.ws_public_url}", flush=True)
        print(f"OKX business WebSocket: {simulator.ws_business_url}", flush=True)
        print(f"OKX REST: {simulator.rest_url}", flush=True)
        try:
            await stop.wait()
        finally:
            await simulator.stop()

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
