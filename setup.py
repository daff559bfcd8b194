"""The optional compiled book (``desk.market._book_native``); all metadata is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and desk runs the pure
Python (``desk.market.native.ACTIVE`` is then False). The digest of the sources is compiled in,
so a build older than the sources is noticed at import (``desk.market.native``).
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup

MARKET = Path(__file__).parent / "src" / "desk" / "market"


def _sources():
    """desk/market/native_sources.py, loaded by path (desk is not importable while building)."""
    spec = importlib.util.spec_from_file_location("native_sources", MARKET / "native_sources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCES = _sources()


setup(
    ext_modules=[
        Extension(
            "desk.market._book_native",
            sources=["src/desk/market/_book_native.c"],
            define_macros=[("DESK_SOURCE_HASH", f'"{SOURCES.source_hash(MARKET)}"')],
            # the .py files too: a build_ext --inplace after editing only them must recompile
            depends=[f"src/desk/market/{name}" for name in SOURCES.SOURCES[1:]],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
