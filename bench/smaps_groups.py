"""A process's resident memory by kind of mapping, from /proc/<pid>/smaps (Linux only).

Which mapping grows tells where an RSS creep comes from: ``[heap]`` is glibc malloc's main
(brk) heap; ``anon`` the anonymous mappings (pymalloc's 1 MiB arenas, merged by the kernel when
adjacent, malloc's mmapped blocks and per-thread arenas, numpy buffers); ``stacks`` thread stacks
(8 MiB mappings, mostly untouched); ``libs`` shared objects; ``data files`` every other file
(SQLite's database, WAL and -shm, the order journal). Used by bench/desk_soak.py.
"""

from __future__ import annotations

import re
from collections import Counter

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$")
_STACK_SIZE = 8 * 2**20


def _group(size: int, name: str) -> str:
    if name == "[heap]":
        return "[heap]"
    if name.startswith("["):
        return "other"
    if not name:
        return "stacks" if size in (_STACK_SIZE, _STACK_SIZE + 4096) else "anon"
    if ".so" in name or "/bin/python" in name:
        return "libs"
    return "data files"


def smaps_groups(pid: int) -> Counter[str]:
    """Resident bytes per group (see the module docstring); empty if the process is gone."""
    groups: Counter[str] = Counter()
    current = "other"
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                header = _HEADER.match(line)
                if header:
                    start, end, _, name = header.groups()
                    current = _group(int(end, 16) - int(start, 16), name.strip())
                elif line.startswith("Rss:"):
                    groups[current] += int(line.split()[1]) * 1024
    except OSError:
        return Counter()
    return groups


def growth_lines(first: tuple[float, Counter[str]], last: tuple[float, Counter[str]]) -> list[str]:
    """Per group: MiB at ``first`` and ``last`` and the change per minute between them."""
    (t0, before), (t1, after) = first, last
    minutes = max((t1 - t0) / 60, 1e-9)
    lines = [f"smaps growth from {t0:.0f} s to {t1:.0f} s (MiB, MiB/min):"]
    for group in sorted(set(before) | set(after)):
        delta = (after[group] - before[group]) / 2**20
        lines.append(
            f"  {group:10s} {before[group] / 2**20:7.1f} -> {after[group] / 2**20:7.1f} "
            f"{delta:+6.2f} ({delta / minutes:+.3f}/min)"
        )
    return lines
