"""Torch on one thread in the tests (and the processes they start): its worker threads spin at
every step, and on a busy 2-core machine two of them made a two-second training take minutes."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this conftest: set it directly
    sys.modules["torch"].set_num_threads(1)
