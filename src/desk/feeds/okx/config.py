"""OKX endpoints and the feed's keepalive/integrity/validation settings (``exchanges.okx``)."""

from __future__ import annotations

import msgspec

from desk.core.config import FrozenConfig, PositiveFloat
from desk.feeds.validation import ValidationConfig
from desk.net.config import ReconnectConfig


class OkxConfig(FrozenConfig, frozen=True):
    """OKX endpoints and the feed's keepalive/integrity settings; ``validation`` is what the
    feed refuses as bad data (clock skew, price band; see ``desk.feeds.validation``)."""

    ws_public_url: str = "wss://ws.okx.com:8443/ws/v5/public"
    ws_business_url: str = "wss://ws.okx.com:8443/ws/v5/business"
    rest_url: str = "https://www.okx.com"
    ws_private_url: str = "wss://ws.okx.com:8443/ws/v5/private"
    ping_interval: PositiveFloat = 20.0
    pong_timeout: PositiveFloat = 10.0
    watchdog_timeout: PositiveFloat = 30.0
    verify_checksum: bool = True
    connect_timeout: PositiveFloat = 10.0
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        for key in ("ws_public_url", "ws_business_url", "ws_private_url"):
            url = getattr(self, key)
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"@{key}: must start with ws:// or wss://, got {url!r}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(
                f"@rest_url: must start with http:// or https://, got {self.rest_url!r}"
            )
        if self.ping_interval >= 30:
            raise ValueError("@ping_interval: must be under 30 s (OKX closes silent connections)")
