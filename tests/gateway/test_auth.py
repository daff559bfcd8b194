"""Who may use the gateway: the token comes from the environment and is checked in constant
time; without one the gateway will not listen beyond loopback."""

from __future__ import annotations

import pytest

from desk.config import ConfigError
from desk.gateway.auth import (
    GatewayRefused,
    authorized,
    bind_problem,
    is_loopback,
    load_token,
)
from desk.gateway.config import GatewayConfig

TOKEN = "s3cret-token-of-24-chars"


def test_the_token_comes_from_the_variable_the_config_names() -> None:
    config = GatewayConfig(token_env="MY_GATEWAY_TOKEN")
    assert load_token(config, {"MY_GATEWAY_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert load_token(config, {"DESK_GATEWAY_TOKEN": TOKEN}) is None
    assert load_token(config, {"MY_GATEWAY_TOKEN": ""}) is None


def test_a_short_token_is_refused_with_the_reason() -> None:
    with pytest.raises(GatewayRefused, match="at least 16"):
        load_token(GatewayConfig(), {"DESK_GATEWAY_TOKEN": "short"})
    assert issubclass(GatewayRefused, ConfigError)  # the CLI reports it as a bad config


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (None, False),
        ("", False),
        ("Bearer", False),
        (f"Bearer {TOKEN}x", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
    ],
)
def test_the_bearer_header_must_carry_the_token(header: str | None, expected: bool) -> None:
    assert authorized(header, TOKEN) is expected


def test_without_a_token_everyone_is_let_in() -> None:
    assert authorized(None, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)
    assert bind_problem(GatewayConfig(host=host), {}) == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "desk.example.com"])
def test_beyond_loopback_needs_a_token(host: str) -> None:
    problem = bind_problem(GatewayConfig(host=host), {})
    assert problem.startswith("$.gateway.host:")
    assert "DESK_GATEWAY_TOKEN" in problem
    assert bind_problem(GatewayConfig(host=host), {"DESK_GATEWAY_TOKEN": TOKEN}) == ""


def test_a_short_token_is_a_problem_anywhere() -> None:
    problem = bind_problem(GatewayConfig(), {"DESK_GATEWAY_TOKEN": "tiny"})
    assert problem.startswith("$.gateway.token_env:")
