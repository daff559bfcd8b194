"""``desk replay PATH`` (the replay servers alone) and the ``--replay`` options of the desk.

``desk replay`` serves every venue of the recording (OKX, and Binance and Coinbase when they
were recorded), each through its own wire protocol on its own port, and prints each one's URLs.

    desk replay data/rec --speed 10 --from 2026-12-04T10:00 --symbols BTC-USDT,ETH-USDT
    desk --replay data/rec [--replay-speed max]        the desk on a recording (paper venue)

Times are ISO 8601 (UTC when no zone is given) or integers since the epoch (s, ms, us or ns).
A path that is missing or holds no raw OKX frames is refused (exit 2) with what was expected;
unreadable parquet files are named and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal
import sys

from desk.sim.replay.config import ReplayConfig, parse_speed
from desk.sim.replay.files import RecordingError
from desk.sim.replay.timeline import recorded_symbols

__all__ = ["RecordingError", "add_replay_options", "add_replay_parser", "replay_setup"]


def parse_time(text: str) -> int:
    """ISO 8601 or an epoch number (s, ms, us, ns told apart by size) -> ns since the epoch."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        for limit, scale in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)):
            if abs(value) < limit:
                return value * scale
        return value
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RecordingError(f"bad time {text!r}: expected ISO 8601 or epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000


def _speed(text: str) -> float:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_replay_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = sub.add_parser(
        "replay", help="serve a recording through each venue's wire protocol (prints the URLs)"
    )
    replay.add_argument("path", help="the recording (its venue=okx/kind=raw/... files)")
    replay.add_argument("--from", dest="from_", metavar="TIME", help="first receive time")
    replay.add_argument("--to", metavar="TIME", help="last receive time")
    replay.add_argument(
        "--speed", type=_speed, default=1.0, help="1 = as recorded, 10 = 10x, max = no pacing"
    )
    replay.add_argument("--symbols", default="", help="comma-separated instruments (default all)")
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--port", type=int, default=8765, help="OKX's port (others: free ones)")


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """``--replay PATH`` and ``--replay-speed`` for the desk and ``desk engine``."""
    parser.add_argument(
        "--replay", metavar="PATH", default=None, help="run on a recording (paper venue)"
    )
    parser.add_argument(
        "--replay-speed", type=_speed, default=1.0, help="1, 10, ... or max (default 1)"
    )


def replay_setup(
    path: str,
    *,
    speed: float = 1.0,
    from_: str | None = None,
    to: str | None = None,
    symbols: str = "",
    host: str = "127.0.0.1",
    port: int = 0,
) -> tuple[ReplayConfig, tuple[str, ...], list[str]]:
    """The replay's config, the instruments it will serve and warnings (skipped files);
    ``RecordingError`` for a bad path, time or symbol."""
    start = parse_time(from_) if from_ else None
    end = parse_time(to) if to else None
    if start is not None and end is not None and end < start:
        raise RecordingError(f"--to ({to}) is before --from ({from_})")
    have, skipped = recorded_symbols(path, start, end)
    wanted = tuple(s.strip() for s in symbols.split(",") if s.strip())
    missing = [s for s in wanted if s not in have]
    if missing:  # maybe another venue's instruments (BTC-USD on Coinbase)
        from desk.sim.replay.venues import recorded_venues

        held = sorted(set().union(*recorded_venues(path, start, end).values()))
        missing = [s for s in missing if s not in held]
        if missing:
            raise RecordingError(
                f"{path}: {', '.join(missing)} not in the recording (it holds: "
                f"{', '.join(held) or 'nothing in that range'})"
            )
    chosen = tuple(s for s in wanted if s in have) if wanted else have
    if not chosen and wanted:
        raise RecordingError(
            f"{path}: none of {', '.join(wanted)} is an OKX instrument of the recording "
            f"(OKX holds: {', '.join(have) or 'nothing in that range'}); OKX always runs"
        )
    if not chosen:
        raise RecordingError(f"{path}: no OKX market data in the range asked")
    config = ReplayConfig(
        path=str(path),
        speed=speed,
        start_ns=start or 0,
        end_ns=end or 0,
        symbols=wanted,
        host=host,
        port=port,
    )
    return config, chosen, [f"skipped {p}: {why}" for p, why in skipped]


def run_replay(args: argparse.Namespace) -> int:
    """``desk replay``: serve every recorded venue until Ctrl-C or SIGTERM; exit 2 on a bad
    recording."""
    from desk.sim.replay.venues import VenueReplays, recorded_venues

    try:
        config, _okx_symbols, warnings = replay_setup(
            args.path,
            speed=args.speed,
            from_=args.from_,
            to=args.to,
            symbols=args.symbols,
            host=args.host,
            port=args.port,
        )
        found = recorded_venues(config.path, config.start_ns or None, config.end_ns or None)
    except RecordingError as exc:
        print(f"desk: bad recording: {exc}", file=sys.stderr)
        return 2
    for line in warnings:
        print(f"desk: {line}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    wanted = set(config.symbols)
    venues = tuple(v for v, have in found.items() if not wanted or wanted & set(have))
    if args.port and len(venues) > 1:  # one port each: the OKX one as asked, the others free
        print(f"desk: {args.port} serves OKX; the other venues get free ports", file=sys.stderr)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        replays = VenueReplays(config, venues, port_for=lambda v: config.port if v == "okx" else 0)
        try:
            urls = await replays.start()
        except RecordingError as exc:
            await replays.stop()
            print(f"desk: bad recording: {exc}", file=sys.stderr)
            return 2
        replays.finished_listeners.append(
            lambda venue, n: print(f"replay finished: {n} frames played ({venue})", flush=True)
        )
        speed = "max" if not config.speed else f"{config.speed:g}x"
        served = "; ".join(
            f"{LABELS[v]} {', '.join(s for s in found[v] if not wanted or s in wanted)}"
            for v in venues
        )
        print(f"replaying at {speed}: {served}", flush=True)
        for venue, where in urls.items():
            for name, url in where.items():
                print(f"{LABELS[venue]} {URL_NAMES[name]}: {url}", flush=True)
        try:
            await stop.wait()
        finally:
            await replays.stop()
        return 0

    return asyncio.run(run())


LABELS = {"okx": "OKX", "binance": "Binance", "coinbase": "Coinbase"}
URL_NAMES = {
    "ws_public": "public WebSocket",
    "ws_business": "business WebSocket",
    "ws": "WebSocket",
    "rest": "REST",
}
