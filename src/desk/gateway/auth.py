"""Who may use the gateway: a bearer token from the environment, compared in constant time.

The token comes from the variable ``gateway.token_env`` names (``DESK_GATEWAY_TOKEN`` by
default), never from the YAML. Without one the gateway serves anyone who can reach it, so it
then refuses to listen anywhere but loopback (:func:`bind_problem`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping

from desk.config import ConfigError
from desk.gateway.config import GatewayConfig

MIN_TOKEN_LENGTH = 16


class GatewayRefused(ConfigError):
    """The gateway will not start as configured; the message says why and what to change."""


def load_token(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token (None when the variable is unset or empty).

    Raises :class:`GatewayRefused` for a token too short to be worth checking.
    """
    env = os.environ if environ is None else environ
    token = env.get(config.token_env, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise GatewayRefused(
            f"${config.token_env} is {len(token)} characters: a gateway token needs at least "
            f"{MIN_TOKEN_LENGTH} (e.g. `python -c 'import secrets; print(secrets.token_hex(24))'`)"
        )
    return token


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname or 0.0.0.0-like wildcard: may be reachable from elsewhere


def bind_problem(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> str:
    """Why the gateway must not listen as configured ("" if it may)."""
    try:
        token = load_token(config, environ)
    except GatewayRefused as exc:
        return f"$.gateway.token_env: {exc}"
    if token is None and not is_loopback(config.host):
        return (
            f"$.gateway.host: the gateway would listen on {config.host} with no token: anyone "
            f"who reaches it could read the desk. Set ${config.token_env} (a bearer token of at "
            f"least {MIN_TOKEN_LENGTH} characters), or listen on 127.0.0.1"
        )
    return ""


def authorized(header: str | None, token: str | None) -> bool:
    """Does the ``Authorization`` header carry ``token``? Always True when no token is set."""
    if token is None:
        return True
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
