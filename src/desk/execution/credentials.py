"""Exchange API credentials: loaded from the environment or a private file, never logged.

Environment (the default names; ``OkxExecutionConfig`` can rename them)::

    DESK_OKX_API_KEY=...  DESK_OKX_SECRET=...  DESK_OKX_PASSPHRASE=...

File (when a path is given it is used instead of the environment): ``key=value`` lines, blank
lines and ``#`` comments ignored, values optionally quoted::

    # ~/.config/desk/okx.env   (chmod 600)
    api_key=...
    secret=...
    passphrase=...

The file must be readable by its owner only (mode 0600 or 0400): a file that group or others
can read is refused with an error naming the path and its mode. ``repr``/``str`` of
``Credentials`` mask the secret and the passphrase.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import msgspec

FILE_KEYS = ("api_key", "secret", "passphrase")
DEFAULT_ENV = {
    "api_key": "DESK_OKX_API_KEY",
    "secret": "DESK_OKX_SECRET",
    "passphrase": "DESK_OKX_PASSPHRASE",
}


class CredentialsError(ValueError):
    """Credentials could not be loaded; the message says what is missing or wrong."""


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """An API key, its secret (the HMAC key) and passphrase. Never log or encode one."""

    api_key: str
    secret: str
    passphrase: str

    def __post_init__(self) -> None:
        empty = [name for name in FILE_KEYS if not getattr(self, name)]
        if empty:
            raise CredentialsError(f"credentials: {', '.join(empty)} must not be empty")

    def __repr__(self) -> str:
        key = self.api_key
        shown = f"{key[:4]}…" if len(key) > 8 else "***"
        return f"Credentials(api_key='{shown}', secret='***', passphrase='***')"

    __str__ = __repr__


def load_credentials(
    file: str | os.PathLike[str] = "",
    *,
    env: Mapping[str, str] | None = None,
    env_names: Mapping[str, str] | None = None,
) -> Credentials:
    """From ``file`` when given, else from the environment (``env`` defaults to os.environ).

    ``env_names`` maps ``api_key``/``secret``/``passphrase`` to variable names.
    """
    if file:
        return load_credentials_file(file)
    environ = os.environ if env is None else env
    names = {**DEFAULT_ENV, **(env_names or {})}
    missing = [names[k] for k in FILE_KEYS if not environ.get(names[k])]
    if missing:
        raise CredentialsError(
            f"OKX credentials missing: environment variable(s) {', '.join(missing)} not set "
            "(or give a credentials file)"
        )
    return Credentials(**{k: environ[names[k]] for k in FILE_KEYS})


def load_credentials_file(path: str | os.PathLike[str]) -> Credentials:
    """Read a ``key=value`` credentials file that only its owner can read."""
    file = Path(path)
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        raise CredentialsError(f"credentials file {file} does not exist") from None
    if mode & 0o077:
        raise CredentialsError(
            f"credentials file {file} has mode {mode:04o}: it must be readable by its owner "
            f"only (chmod 600 {file})"
        )
    values: dict[str, str] = {}
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or key not in FILE_KEYS:
            raise CredentialsError(
                f"credentials file {file}, line {number}: expected one of "
                f"{', '.join(k + '=...' for k in FILE_KEYS)}"
            )
        values[key] = value.strip().strip("'\"")
    missing = [k for k in FILE_KEYS if not values.get(k)]
    if missing:
        raise CredentialsError(f"credentials file {file} lacks {', '.join(missing)}")
    return Credentials(**values)
