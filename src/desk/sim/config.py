"""The exchange simulator's settings (``simulator``)."""

from __future__ import annotations

from desk.core.config import FrozenConfig, Port, PositiveFloat


class SimulatorConfig(FrozenConfig, frozen=True):
    """The built-in exchange simulator, started in-process when ``enabled``.

    When enabled, the OKX URLs are replaced by the simulator's own loopback URLs.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Port = 0
    seed: int = 7
    checksum: bool = True
    update_interval: PositiveFloat = 0.1
    steps_per_second: PositiveFloat = 200.0
    silence_timeout: PositiveFloat = 30.0
    firehose: bool = False  # push after every market step, as fast as the CPU allows
