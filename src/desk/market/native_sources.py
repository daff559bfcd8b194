"""Which files the compiled book (``_book_native.c``) is built from, and their digest.

Shared by ``setup.py`` (which compiles the digest into the extension as ``SOURCE_HASH``) and
``desk.market.native`` (which compares it with the files on disk at import): the C mirrors the
pure modules' loops step for step, so an edit to any of them without a rebuild would run code
that no longer matches its reference. Only the standard library here: ``setup.py`` loads this
file by path, before desk is installed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SOURCES = ("_book_native.c", "book_side.py", "book.py", "checksum.py")
"""The C and the pure modules it mirrors, all in ``desk/market``."""


def source_hash(folder: Path) -> str | None:
    """SHA-256 over the sources in ``folder``; None when the C is not there (an installed wheel:
    its compiled module was built with the .py files it ships)."""
    if not (folder / SOURCES[0]).is_file():
        return None
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()
