"""The ``desk`` command and the gateway: the schema for the README, and a clear refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from desk.cli import main
from desk.gateway.messages import message_schema


def test_gateway_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(message_schema()))


def test_gateway_schema_markdown_is_the_readme_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway-schema", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| `/ws/market/{symbol}` | `hello`, `market` |" in out
    assert "#### `portfolio` (Portfolio)" in out


def test_the_engine_will_not_start_a_gateway_open_to_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"sqlite_path": str(tmp_path / "desk.sqlite")},
                "gateway": {"enabled": True, "host": "0.0.0.0", "token_env": "DESK_TEST_NO_TOKEN"},
            }
        )
    )
    assert main(["engine", "--config", str(config), "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "$.gateway.host" in err and "DESK_TEST_NO_TOKEN" in err
    assert not (tmp_path / "desk.sqlite").exists()  # refused before anything started
