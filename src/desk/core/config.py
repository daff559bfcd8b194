"""What every component's config struct is built on: a strict frozen base and shared types.

Each package owns the config struct of its own settings (``net/config.py``,
``feeds/okx/config.py``, ``sim/config.py``, ``storage/config.py``, ``execution/config.py``);
``desk.config`` assembles them into ``DeskConfig`` and loads YAML files. No I/O here.

Validators prefix their reason with ``@key:`` to name the key inside the struct that msgspec's
error path stops at; ``desk.config`` turns that into ``$.section.key: reason``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class FrozenConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A config section: immutable, unknown keys refused, fields passed by name."""
