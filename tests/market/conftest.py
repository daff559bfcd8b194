"""The ``book_impl`` fixture: a test that uses it runs once on the pure Python book and once on
the compiled one (``desk.market.native``), the two being the same book.

The compiled run fails, rather than skips, when the module is not usable (not built, or built
from other sources): CI builds it (``pip install -e .``), so an absent module there is a broken
build. ``DESK_NATIVE=0`` in the environment asks for the pure Python only: the compiled runs are
then skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from desk.market import native
from desk.market.book import use_compiled

IMPLEMENTATIONS = ("pure", "compiled")


def require_compiled() -> None:
    """Fail (or skip under DESK_NATIVE=0) unless the compiled book can run."""
    if os.environ.get("DESK_NATIVE", "1") == "0":
        pytest.skip("DESK_NATIVE=0: the pure Python only")
    if native.MODULE is None:
        pytest.fail(
            f"the compiled book is not usable: {native.REASON}; build it with "
            "`.venv/bin/pip install -e .` (or `python setup.py build_ext --inplace`)"
        )


@pytest.fixture(params=IMPLEMENTATIONS)
def book_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every ``OrderBook`` runs the implementation named by the parameter during the test."""
    was = native.ACTIVE
    if request.param == "compiled":
        require_compiled()
    use_compiled(request.param == "compiled")
    try:
        yield request.param
    finally:
        use_compiled(was)
