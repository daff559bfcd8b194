"""A bad config is refused before anything starts, with the key's path and the reason."""

import subprocess
import sys
from pathlib import Path

import pytest

from desk.config import ConfigError, DeskConfig, load_config, parse_config, with_simulator
from desk.core.enums import Mode

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_shipped_configs_load() -> None:
    default = load_config(CONFIGS / "default.yaml")
    sim = load_config(CONFIGS / "sim.yaml")
    assert default.exchanges.okx.ws_public_url == "wss://ws.okx.com:8443/ws/v5/public"
    assert default.simulator.enabled is False
    assert sim.simulator.enabled is True
    assert sim.system.mode is Mode.SIM
    assert sim.exchanges.venues == ("okx", "binance", "coinbase")  # as `desk --sim` runs
    assert sim.trading.symbols == ("BTC-USDT", "ETH-USDT", "SOL-USDT")
    assert "1s" in sim.trading.timeframes and "1d" in sim.trading.timeframes


def test_no_path_gives_embedded_defaults() -> None:
    assert load_config(None) == DeskConfig()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"system": {"modee": "sim"}}, "$.system.modee: unknown key"),
        ({"tradng": {}}, "$.tradng: unknown key"),
        ({"system": {"mode": "yolo"}}, "$.system.mode: Invalid enum value 'yolo'"),
        ({"system": {"status_interval": "fast"}}, "$.system.status_interval: Expected `float`"),
        ({"trading": {"symbols": ["BTC-USDT", "btc_usdt"]}}, "$.trading.symbols[1]: bad symbol"),
        ({"trading": {"timeframes": ["1m", "7x"]}}, "$.trading.timeframes[1]: bad timeframe"),
        ({"trading": {"channels": ["books", "candles"]}}, "$.trading.channels[1]: bad channel"),
        ({"trading": {"symbols": []}}, "$.trading.symbols: at least one symbol"),
        ({"exchanges": {"okx": {"ws_public_url": "http://x"}}}, "$.exchanges.okx.ws_public_url"),
        ({"exchanges": {"okx": {"ping_interval": 45}}}, "$.exchanges.okx.ping_interval: must be"),
        ({"storage": {"batch_size": 0}}, "$.storage.batch_size: Expected `int` >= 1"),
        ({"system": {"max_memory_usage": "lots"}}, "$.system.max_memory_usage: expected a size"),
        ({"redis": {"url": "http://localhost"}}, "$.redis.url: must start with redis://"),
        ({"simulator": {"port": 70000}}, "$.simulator.port: Expected `int` <= 65535"),
        ({"storage": {"path": "x"}}, "$.storage.path: unknown key"),
        ({"storage": {"close_timeout": 0}}, "$.storage.close_timeout: Expected `float` > 0.0"),
        ({"storage": {"busy_timeout": 10}}, "$.storage.busy_timeout: must be less than close"),
        ({"execution": {"venue": "okx"}}, "$.execution.venue: Invalid enum value 'okx'"),
        ({"execution": {"risk": {"foo": 1}}}, "$.execution.risk.foo: unknown key"),
        (
            {"exchanges": {"okx": {"reconnect": {"jitter": 2}}}},
            "$.exchanges.okx.reconnect.jitter: Expected `float` <= 1.0",
        ),
        (
            {"exchanges": {"okx": {"validation": {"max_clock_skew": -1}}}},
            "$.exchanges.okx.validation.max_clock_skew: Expected `float` >= 0.0",
        ),
        (
            {"exchanges": {"okx": {"validation": {"price_band": 1}}}},
            "$.exchanges.okx.validation.price_band: Expected `float` > 1.0",
        ),
        ({"candles": {"max_fill_bars": -5}}, "$.candles.max_fill_bars: Expected `int` >= 0"),
        ({"candles": {"clock": "sundial"}}, "$.candles.clock: Invalid enum value 'sundial'"),
    ],
)
def test_bad_value_is_refused_with_path_and_reason(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "bad.yaml")
    assert str(info.value).startswith("bad.yaml: ")
    assert expected in str(info.value)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("system:\n  mode: sim\n trading: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML at line \d+"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_config_is_frozen() -> None:
    config = DeskConfig()
    with pytest.raises(AttributeError):
        config.system = None  # type: ignore[misc]


def test_memory_sizes_parse_to_bytes() -> None:
    assert parse_config({"system": {"max_memory_usage": "512MB"}}).system.max_memory_bytes == (
        512 * 2**20
    )
    assert parse_config({"system": {"max_memory_usage": 1000}}).system.max_memory_bytes == 1000


def test_with_simulator_switches_mode_and_enables_the_simulator() -> None:
    config = with_simulator(load_config(CONFIGS / "default.yaml"))
    assert config.simulator.enabled and config.system.mode is Mode.SIM


BOT = {
    "bot_id": "b1",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1m",
    "size": 0.1,
    "params": {"fast": 5, "slow": 20},
}


def test_bots_in_config_are_validated_into_bot_configs() -> None:
    config = parse_config({"bots": [BOT, {**BOT, "bot_id": "b2", "mode": "paused"}]})
    assert [b.bot_id for b in config.bots] == ["b1", "b2"]
    assert config.bots[1].mode == "paused"
    assert config.bots[0].params == {"fast": 5, "slow": 20}


@pytest.mark.parametrize(
    ("bot", "expected"),
    [
        ({"strategy": "nope"}, r"\$\.bots\[0\]\.strategy: unknown strategy 'nope'"),
        ({"symbol": "XRP-USDT"}, r"\$\.bots\[0\]\.symbol: 'XRP-USDT' is not in trading\.symbols"),
        ({"timeframe": "2m"}, r"\$\.bots\[0\]\.timeframe: '2m' is not in trading\.timeframes"),
        ({"params": {"fast": 50}}, r"\$\.bots\[0\]\.strategy: .*`fast` must be shorter"),
        ({"size": 0}, r"\$\.bots\[0\]: `size` must be > 0"),
        ({"colour": "red"}, r"\$\.bots\[0\]\.colour: unknown key"),
    ],
)
def test_a_bad_bot_is_refused_with_its_path(bot: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config({"bots": [{**BOT, **bot}]})


def test_a_bot_id_defined_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\$\.bots\[1\]\.bot_id: bot 'b1' is defined twice"):
        parse_config({"bots": [BOT, BOT]})


def test_sim_runs_demo_bots_only_when_the_config_has_none() -> None:
    demo = with_simulator(DeskConfig())
    assert len(demo.bots) == 3
    assert {b.timeframe for b in demo.bots} == {"1s"}
    own = with_simulator(parse_config({"bots": [BOT]}))
    assert [b.bot_id for b in own.bots] == ["b1"]


COMPONENTS = (
    "desk.net.connection",
    "desk.feeds.manager",
    "desk.sim.server",
    "desk.storage.sqlite",
    "desk.execution.service",
)


def test_components_own_their_config_and_never_import_desk_config() -> None:
    """Components below ``desk.config`` own their config structs; only the assembler imports
    them all (a fresh interpreter, so nothing else has imported ``desk.config`` already)."""
    code = f"import sys, {', '.join(COMPONENTS)}; print('desk.config' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"gateway": {"prot": 8787}}, "$.gateway.prot: unknown key"),
        ({"gateway": {"port": 70000}}, "$.gateway.port: Expected `int` <= 65535"),
        ({"gateway": {"market_hz": 0}}, "$.gateway.market_hz: Expected `float` > 0.0"),
        ({"gateway": {"client_queue": 0}}, "$.gateway.client_queue: Expected `int` >= 1"),
        ({"gateway": {"token_env": "my token"}}, "$.gateway.token_env: must name an environment"),
        ({"gateway": {"token": "x"}}, "$.gateway.token: unknown key"),  # never in the YAML
    ],
)
def test_bad_gateway_key_is_refused_with_its_path(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "bad.yaml")
    assert expected in str(info.value)
