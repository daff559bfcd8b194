"""The optional compiled book: which implementation of the OKX book's hot loops runs.

``_book_native.c`` is a compiled twin of ``OrderBook.apply_named`` (both loops: plain, and
noting the checksum strings) and of the checksum's join + CRC. The pure Python stays the
reference and the fallback: the compiled module is used only when it was built (``setup.py``,
run by ``pip install -e .``) from the sources now on disk.

Stale builds are refused, not run: ``setup.py`` compiles the SHA-256 of ``_book_native.c`` and
of the pure modules it mirrors (``native_sources.SOURCES``) into the module as ``SOURCE_HASH``;
if the files differ now, the import logs a warning and desk runs the pure Python. After editing
any of them, rebuild: ``.venv/bin/pip install -e .`` (or ``.venv/bin/python setup.py build_ext
--inplace``). ``DESK_NATIVE=0`` in the environment forces the pure Python.

``ACTIVE`` says which runs now; ``desk.market.book.use_compiled`` switches (tests run both, the
bench prints both). This module does not import the book (the book imports it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import ModuleType

from desk.market.book_side import COMPACT_EVERY, ZERO_CEILING, bad_size, settle_top, unknown_price
from desk.market.checksum import crc32
from desk.market.native_sources import source_hash

log = logging.getLogger(__name__)


def _load() -> tuple[ModuleType | None, str]:
    """The compiled module when it can be used, else None; and why."""
    if os.environ.get("DESK_NATIVE", "1") == "0":
        return None, "DESK_NATIVE=0"
    try:
        from desk.market import _book_native as compiled
    except ImportError as exc:
        return None, f"not built ({exc})"
    expected = source_hash(Path(__file__).parent)
    if expected is not None and expected != compiled.SOURCE_HASH:
        log.warning(
            "desk.market._book_native was built from other sources than those on disk: "
            "running the pure Python book (rebuild: pip install -e .)"
        )
        return None, "stale build (sources changed since it was compiled)"
    compiled.bind(unknown_price, settle_top, bad_size, crc32, ZERO_CEILING, COMPACT_EVERY)
    return compiled, "compiled"


MODULE, REASON = _load()
"""The usable compiled module (None: not built, stale, or DESK_NATIVE=0), and why."""

ACTIVE = MODULE is not None
"""True while ``OrderBook`` runs the compiled loops: the book module switches to them at import
when ``MODULE`` is usable, and ``book.use_compiled`` switches back and forth (and sets this)."""


def describe() -> str:
    """One line for benches and logs: which implementation runs, and why."""
    return "compiled (desk.market._book_native)" if ACTIVE else f"pure Python ({REASON})"
