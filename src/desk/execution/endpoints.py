"""What the execution service needs to reach OKX's private API: where, and with which key."""

from __future__ import annotations

from typing import Protocol


class OkxEndpoints(Protocol):
    """The OKX endpoints the venue client talks to (the ``exchanges.okx`` config section)."""

    @property
    def ws_private_url(self) -> str: ...

    @property
    def rest_url(self) -> str: ...


class ApiKey(Protocol):
    """An API key, its secret and passphrase (the simulator's demo key in sim mode)."""

    @property
    def api_key(self) -> str: ...

    @property
    def secret(self) -> str: ...

    @property
    def passphrase(self) -> str: ...
