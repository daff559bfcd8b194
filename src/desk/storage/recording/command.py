"""``desk data coverage [PATH] [--json]``: the coverage report of a recording on the terminal.

PATH defaults to the config's ``recorder.path`` (``desk -c FILE data coverage``). Exit status:
0 with a report (files skipped are listed by name), 2 when PATH holds no recording.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_data_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="recorded market data: coverage")
    what = data.add_subparsers(dest="data_command", required=True)
    coverage = what.add_parser(
        "coverage",
        help="per venue/symbol/kind/day: first/last time, rows, bytes, gaps",
        description="What a recording holds, per venue, symbol, kind and day. A corrupt or "
        "foreign parquet file is reported by name and skipped.",
    )
    coverage.add_argument(
        "path", nargs="?", default=None, help="the recording's root (default: recorder.path)"
    )
    coverage.add_argument("--json", action="store_true", help="JSON for scripts")


def run_data(args: argparse.Namespace, default_path: str) -> int:
    from desk.storage.recording.coverage import scan, to_json, to_text

    root = Path(args.path or default_path)
    try:
        report = scan(root)
    except FileNotFoundError as exc:
        print(f"desk: {exc}", file=sys.stderr)
        return 2
    print(to_json(report) if args.json else to_text(report))
    return 0
