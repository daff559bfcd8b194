"""Configuration: YAML files validated into typed, frozen structs before anything starts.

``load_config(path)`` reads a YAML file, merges it over the embedded defaults and converts it into
``DeskConfig``. Any problem (unknown key, wrong type, bad symbol, bad timeframe, bad URL) raises
``ConfigError`` naming the file, the key's path (``$.trading.timeframes[2]``) and the reason, so a
bad file is refused before a single connection is made. Secrets never live here.

Each component owns the struct of its own section (``desk.net.config``,
``desk.feeds.okx.config``, ``desk.sim.config``, ``desk.storage.config``,
``desk.execution.config``, ``desk.market.config``, ``desk.signals.bots``), built on
``desk.core.config``; this module assembles them into ``DeskConfig`` with the desk-wide sections
(system, trading, redis, ui).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from desk.core.config import FrozenConfig, Port, PositiveFloat, PositiveInt
from desk.core.enums import Mode
from desk.execution.config import ExecutionConfig
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.symbols import is_normalised
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.okx.config import OkxConfig
from desk.market.config import CandlesConfig
from desk.market.timeframes import parse_timeframe
from desk.signals.bots import BotConfig, BotMode
from desk.signals.model.live_config import ModelsConfig, demo_model_bot
from desk.signals.spread_watcher import WatchersConfig, spread_problem
from desk.sim.config import SimulatorConfig
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.venues import replay_exchanges
from desk.storage.config import StorageConfig
from desk.storage.recording.config import RecorderConfig

SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}(-[A-Z0-9]{1,12})?$")
TIMEFRAME_RE = re.compile(r"^[1-9][0-9]*[smhdw]$")
SUPPORTED_CHANNELS = ("trades", "books", "books5", "bbo-tbt", "tickers")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A configuration file was refused; the message names the file, key path and reason."""


def _parse_memory(value: str | int) -> int:
    """'2GB', '512MB', '1.5GiB' or a byte count -> bytes."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*", value, re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a size like '2GB' or '512MB', got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "B").upper().replace("I", "")
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
    return int(number * scale)


class SystemConfig(FrozenConfig, frozen=True):
    mode: Mode = Mode.SIM
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    max_memory_usage: str | int = "2GB"
    status_interval: PositiveFloat = 10.0

    def __post_init__(self) -> None:
        try:
            _parse_memory(self.max_memory_usage)
        except ValueError as exc:
            raise ValueError(f"@max_memory_usage: {exc}") from None

    @property
    def max_memory_bytes(self) -> int:
        return _parse_memory(self.max_memory_usage)


class TradingConfig(FrozenConfig, frozen=True):
    symbols: tuple[str, ...] = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
    timeframes: tuple[str, ...] = ("1s", "3s", "1m", "5m", "15m", "1h", "4h", "1d")
    channels: tuple[str, ...] = ("trades", "books", "tickers")
    # A bot's signal accuracy (bots mode): did the price follow it over this many next bars?
    bots_accuracy_bars: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 5

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("@symbols: at least one symbol is required")
        for i, symbol in enumerate(self.symbols):
            if not SYMBOL_RE.match(symbol):
                raise ValueError(
                    f"@symbols[{i}]: bad symbol {symbol!r}: expected an instrument id like "
                    "'BTC-USDT' (upper-case base and quote joined by '-')"
                )
        for i, tf in enumerate(self.timeframes):
            if not TIMEFRAME_RE.match(tf):
                raise ValueError(
                    f"@timeframes[{i}]: bad timeframe {tf!r}: expected a number followed by "
                    "s, m, h, d or w (e.g. 1s, 3s, 1m, 5m, 15m, 1h, 4h, 1d)"
                )
        for i, channel in enumerate(self.channels):
            if channel not in SUPPORTED_CHANNELS:
                raise ValueError(
                    f"@channels[{i}]: bad channel {channel!r}: expected one of "
                    f"{', '.join(SUPPORTED_CHANNELS)}"
                )
        for name, values in (("symbol", self.symbols), ("timeframe", self.timeframes)):
            if len(set(values)) != len(values):
                raise ValueError(f"@{name}s: a {name} is listed twice")


VENUES = ("okx", "binance", "coinbase")
"""Every venue desk speaks, OKX first (the primary: live execution, the default venue)."""
PRIMARY_VENUE = VENUES[0]


class ExchangesConfig(FrozenConfig, frozen=True):
    """One section per venue. OKX always runs and trades ``trading.symbols``; Binance and
    Coinbase run when ``enabled``, on their own ``symbols`` or, when that is empty, on
    ``trading.symbols`` (see :meth:`DeskConfig.venue_symbols`)."""

    okx: OkxConfig = msgspec.field(default_factory=OkxConfig)
    binance: BinanceConfig = msgspec.field(default_factory=BinanceConfig)
    coinbase: CoinbaseConfig = msgspec.field(default_factory=CoinbaseConfig)

    @property
    def venues(self) -> tuple[str, ...]:
        """The enabled venues, OKX first."""
        return tuple(v for v in VENUES if v == PRIMARY_VENUE or getattr(self, v).enabled)


class RedisConfig(FrozenConfig, frozen=True):
    """Redis: the engine's link (views, pub/sub, trade stream, commands) when ``enabled``.

    The command secret comes from the environment variable named by ``command_secret_env``
    (never from the YAML); ``lease_ttl`` is how long an attached UI keeps control without
    renewing it; ``view_interval`` is how often views are written (only those that changed).
    A Redis that is not on this machine must ask for a password (``$DESK_REDIS_PASSWORD`` or
    in the URL) unless ``allow_unauthenticated`` says that is intended (see
    :meth:`unauthenticated_problem`).
    """

    enabled: bool = False
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "desk"
    command_secret_env: str = "DESK_COMMAND_SECRET"
    require_signature: bool = True
    lease_ttl: PositiveFloat = 10.0
    heartbeat_ttl: PositiveFloat = 5.0
    view_interval: PositiveFloat = 0.1
    ack_timeout: PositiveFloat = 5.0
    command_max_age: PositiveFloat = 30.0
    allow_unauthenticated: bool = False

    def unauthenticated_problem(self, environ: Any = None) -> str:
        """Why desk must not use this Redis: off this host with no password ("" if fine).

        The password is ``$DESK_REDIS_PASSWORD`` (``environ``, default the process's) or the
        URL's own; a ``unix://`` socket or a loopback host needs none.
        """
        import ipaddress
        import os
        from urllib.parse import urlsplit

        if self.allow_unauthenticated or self.url.startswith("unix://"):
            return ""
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        env = os.environ if environ is None else environ
        if loopback or parts.password or env.get("DESK_REDIS_PASSWORD"):
            return ""
        return (
            f"$.redis.allow_unauthenticated: redis.url points at {host}, not this machine, and "
            f"no password is set ($DESK_REDIS_PASSWORD or in the URL): anyone who reaches that "
            f"Redis could read the desk and block its commands. Set a password (and the users "
            f"`desk redis-acl` prints), or set redis.allow_unauthenticated: true to accept it"
        )

    def __post_init__(self) -> None:
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"@url: must start with redis://, rediss:// or unix://, got {self.url!r}"
            )
        if not self.key_prefix or any(c in self.key_prefix for c in " *?[]"):
            raise ValueError(
                f"@key_prefix: must be non-empty with no spaces or glob characters, "
                f"got {self.key_prefix!r}"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.command_secret_env):
            raise ValueError(
                f"@command_secret_env: must name an environment variable, "
                f"got {self.command_secret_env!r}"
            )
        if self.heartbeat_ttl <= 2 * self.view_interval:
            raise ValueError(
                f"@heartbeat_ttl: must be more than twice view_interval ({self.view_interval}s), "
                f"got {self.heartbeat_ttl}"
            )
        if self.lease_ttl < 0.2:
            raise ValueError(f"@lease_ttl: must be at least 0.2 s, got {self.lease_ttl}")


class UiConfig(FrozenConfig, frozen=True):
    """The terminal UI: theme, sampling rate, ladder depth and key remapping.

    ``keys`` maps a binding id (see ``desk --help`` / the help screen) to the key(s) that fire it,
    e.g. ``{mode_health: "h", quit: "ctrl+q"}``; unknown ids are refused when the UI starts.
    """

    theme: str = "desk-dark"
    refresh_hz: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    ladder_depth: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    stale_after: PositiveFloat = 5.0
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    # the chart's timeframe at start (backfilled history shows at once); else the first configured
    timeframe: str = "1m"


class GatewayConfig(FrozenConfig, frozen=True):
    """The gateway's WebSocket routes and ``/metrics`` (``desk.gateway``; re-exported by
    ``desk.gateway.config``: it is defined here because config.py sits a floor below gateway/).

    The bearer token comes from the environment variable ``token_env`` names, never the YAML;
    without one the gateway listens on loopback only. ``market_hz``: the most
    ``/ws/market/{symbol}`` messages a client gets per second (books conflated, trades
    batched); ``status_hz``: how often the bot, portfolio and system routes look for changes;
    ``max_clients``: WebSocket clients at once (more get HTTP 503); ``client_queue``: messages
    waiting for one client before it counts as too slow and is closed (code 4008);
    ``book_depth``: levels per side unless a client asks ``?depth=N``.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 8787
    token_env: str = "DESK_GATEWAY_TOKEN"
    market_hz: Annotated[float, msgspec.Meta(gt=0, le=100)] = 10.0
    status_hz: Annotated[float, msgspec.Meta(gt=0, le=50)] = 4.0
    max_clients: PositiveInt = 200
    client_queue: PositiveInt = 64
    book_depth: Annotated[int, msgspec.Meta(ge=1, le=400)] = 20

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("@host: must name an address to listen on, e.g. 127.0.0.1")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.token_env):
            raise ValueError(
                f"@token_env: must name an environment variable, got {self.token_env!r}"
            )


class DeskConfig(FrozenConfig, frozen=True):
    system: SystemConfig = msgspec.field(default_factory=SystemConfig)
    trading: TradingConfig = msgspec.field(default_factory=TradingConfig)
    exchanges: ExchangesConfig = msgspec.field(default_factory=ExchangesConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    redis: RedisConfig = msgspec.field(default_factory=RedisConfig)
    simulator: SimulatorConfig = msgspec.field(default_factory=SimulatorConfig)
    replay: ReplayConfig = msgspec.field(default_factory=ReplayConfig)
    ui: UiConfig = msgspec.field(default_factory=UiConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    candles: CandlesConfig = msgspec.field(default_factory=CandlesConfig)
    models: ModelsConfig = msgspec.field(default_factory=ModelsConfig)
    gateway: GatewayConfig = msgspec.field(default_factory=GatewayConfig)
    recorder: RecorderConfig = msgspec.field(default_factory=RecorderConfig)
    watchers: WatchersConfig = msgspec.field(default_factory=WatchersConfig)
    bots: tuple[BotConfig, ...] = ()

    def __post_init__(self) -> None:
        _check_venues(self)
        _check_bots(self.bots, self)
        _check_cross_venue(self)
        if self.system.mode is Mode.LIVE and not self.execution.allow_live:
            raise ValueError(
                "@execution.allow_live: system.mode is live but live trading is not allowed; "
                "set execution.allow_live: true to trade real money"
            )

    def venue_symbols(self, venue: str) -> tuple[str, ...]:
        """The symbols ``venue`` trades: its own list, else ``trading.symbols`` (OKX always)."""
        if venue == PRIMARY_VENUE:
            return self.trading.symbols
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r} (one of {', '.join(VENUES)})")
        return getattr(self.exchanges, venue).symbols or self.trading.symbols

    @property
    def all_symbols(self) -> tuple[str, ...]:
        """Every symbol some enabled venue trades (``trading.symbols`` first)."""
        found = dict.fromkeys(self.trading.symbols)
        for venue in self.exchanges.venues:
            found.update(dict.fromkeys(self.venue_symbols(venue)))
        return tuple(found)


def _check_venues(config: DeskConfig) -> None:
    """An enabled venue trading ``trading.symbols`` must be able to name each of them.

    Whether the venue lists a symbol is known only once its instruments are fetched; the
    engine refuses those at start (``desk.engine.venues``).
    """
    for venue in config.exchanges.venues[1:]:
        if getattr(config.exchanges, venue).symbols:
            continue  # its own list, checked by its section
        for i, symbol in enumerate(config.trading.symbols):
            if not is_normalised(symbol):
                raise ValueError(
                    f"@exchanges.{venue}.symbols: {venue} trades trading.symbols, but "
                    f"trading.symbols[{i}] {symbol!r} is not a spot pair BASE-QUOTE; "
                    f"list {venue}'s own symbols"
                )


def _check_cross_venue(config: DeskConfig) -> None:
    """The spread watcher and arbitrage bots name only traded symbols and enabled venues."""
    venues = config.exchanges.venues
    problem = spread_problem(config.watchers.spread, config.all_symbols, venues)
    if problem:
        raise ValueError(f"@watchers.spread.{problem}")
    for i, bot in enumerate(config.bots):
        named = bot.params.get("venues") or () if bot.strategy == "arbitrage" else ()
        for venue in [v for v in named if v not in venues]:
            raise ValueError(
                f"@bots[{i}].params.venues: {venue!r} is not an enabled venue ({', '.join(venues)})"
            )


def _check_bots(bots: tuple[BotConfig, ...], config: DeskConfig) -> None:
    """Each bot must trade a configured symbol and timeframe of an enabled venue with a known,
    valid strategy."""
    from desk.signals.strategies import create_strategy  # cheap: no numba, no pandas

    trading = config.trading
    seen: set[str] = set()
    for i, bot in enumerate(bots):
        where = f"@bots[{i}]"
        if bot.bot_id in seen:
            raise ValueError(f"{where}.bot_id: bot {bot.bot_id!r} is defined twice")
        seen.add(bot.bot_id)
        if bot.venue not in config.exchanges.venues:
            raise ValueError(
                f"{where}.venue: {bot.venue!r} is not an enabled venue "
                f"({', '.join(config.exchanges.venues)})"
            )
        symbols = config.venue_symbols(bot.venue)
        if bot.symbol not in symbols:
            source = "trading.symbols" if bot.venue == PRIMARY_VENUE else f"{bot.venue}'s symbols"
            raise ValueError(
                f"{where}.symbol: {bot.symbol!r} is not in {source} ({', '.join(symbols)})"
            )
        if bot.timeframe not in trading.timeframes:
            raise ValueError(
                f"{where}.timeframe: {bot.timeframe!r} is not in trading.timeframes "
                f"({', '.join(trading.timeframes)})"
            )
        try:
            create_strategy(bot.strategy, bot.params)
        except ValueError as exc:
            raise ValueError(f"{where}.strategy: {exc}") from None


def parse_config(data: Any, source: str = "<config>") -> DeskConfig:
    """Validate an already-parsed mapping into ``DeskConfig`` or raise ``ConfigError``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"{source}: expected a mapping at the top level, got {kind}")
    try:
        return msgspec.convert(data, DeskConfig, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None


def _explain(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's 'reason - at `$.a`' into '$.a.key: reason', the way an operator reads it.

    Validators (here and in the components' config modules) prefix their reason with ``@key:``
    to name the key inside the struct that msgspec's path stops at; unknown keys are named the
    same way.
    """
    text = str(exc)
    match = re.fullmatch(r"(.*) - at `(.*)`", text, re.DOTALL)
    reason, path = (match.group(1), match.group(2)) if match else (text, "$")
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", reason)
    if unknown:
        return f"{path}.{unknown.group(1)}: unknown key"
    inner = re.match(r"@([\w\[\].]+): (.*)", reason, re.DOTALL)
    if inner:
        return f"{path}.{inner.group(1)}: {inner.group(2)}"
    return f"{path}: {reason}"


def load_config(path: str | Path | None = None) -> DeskConfig:
    """Load ``path`` (YAML) or, with no path, the embedded defaults."""
    if path is None:
        return DeskConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path))


def with_simulator(
    config: DeskConfig, enabled: bool = True, *, all_venues: bool = False
) -> DeskConfig:
    """A copy of ``config`` that runs on the in-process simulator (``desk --sim``).

    ``all_venues`` also enables Binance and Coinbase (``desk --sim`` runs every venue; the
    simulator serves all three).
    """
    simulator = msgspec.structs.replace(config.simulator, enabled=enabled)
    system = msgspec.structs.replace(config.system, mode=Mode.SIM)
    if all_venues:
        exchanges = msgspec.structs.replace(
            config.exchanges,
            binance=msgspec.structs.replace(config.exchanges.binance, enabled=True),
            coinbase=msgspec.structs.replace(config.exchanges.coinbase, enabled=True),
        )
        config = msgspec.structs.replace(config, exchanges=exchanges)
    bots = config.bots or demo_bots(config.trading)
    model_bot = demo_model_bot(config.models, config.trading.symbols, config.trading.timeframes)
    if model_bot is not None and all(b.bot_id != model_bot.bot_id for b in bots):
        bots = (*bots, model_bot)  # models.demo: the model's bot beside the others
    return msgspec.structs.replace(config, simulator=simulator, system=system, bots=bots)


def demo_bots(trading: TradingConfig) -> tuple[BotConfig, ...]:
    """The bots ``desk --sim`` runs when the config defines none: one per built-in strategy
    family on the fastest configured timeframe, so the bots and signals modes show life within
    a minute. They only ever trade against the simulator."""
    timeframe = min(trading.timeframes, key=parse_timeframe)
    symbols = trading.symbols
    specs = [
        ("ma-fast", "ma_crossover", {"fast": 5, "slow": 20}, 0.01),
        ("rsi-revert", "rsi_mean_reversion", {}, 0.01),
        ("macd-trend", "macd_trend", {}, 0.01),
    ]
    return tuple(
        BotConfig(
            bot_id=bot_id,
            strategy=strategy,
            symbol=symbols[i % len(symbols)],
            timeframe=timeframe,
            size=size,
            params=params,
            mode=BotMode.AUTO,
        )
        for i, (bot_id, strategy, params, size) in enumerate(specs)
    )


def with_replay(
    config: DeskConfig,
    replay: ReplayConfig,
    symbols: tuple[str, ...],
    venues: dict[str, tuple[str, ...]] | None = None,
) -> DeskConfig:
    """A copy of ``config`` that runs on a recording (``desk --replay PATH``): replay servers
    instead of venues (every recorded venue, ``venues`` or read from the recording), the paper
    venue, candles on the data's own time, old exchange times accepted, ``symbols`` traded
    (the recording's OKX ones), and its own SQLite file unless one is set."""
    trading = msgspec.structs.replace(config.trading, symbols=symbols)
    bots = tuple(b for b in config.bots if b.symbol in symbols) or demo_bots(trading)
    storage = config.storage
    if storage.sqlite_path == StorageConfig().sqlite_path:
        storage = msgspec.structs.replace(storage, sqlite_path="data/replay.sqlite")
    return msgspec.structs.replace(
        config,
        replay=replay,
        simulator=msgspec.structs.replace(config.simulator, enabled=False),
        recorder=msgspec.structs.replace(config.recorder, enabled=False),  # never re-record
        system=msgspec.structs.replace(config.system, mode=Mode.PAPER),
        execution=msgspec.structs.replace(config.execution, venue="paper"),
        candles=msgspec.structs.replace(config.candles, clock="data"),
        exchanges=replay_exchanges(config.exchanges, replay, venues),
        trading=trading,
        storage=storage,
        bots=bots,
    )
