"""The real `desk` in a real terminal (tmux) on the simulator at full speed: what a user gets.

Prints: time from launch to the first book on screen, the messages/s the engine sustained
(from its status lines in desk.log), and the desk process's RSS over the run (psutil), with the
exit code of a `q` at the end. Figures only, never asserts. Every 10 min, and at the end as
growth per minute from minute 10 (minute 4 in a shorter run) on, RSS by kind of mapping from
/proc/<pid>/smaps (bench/smaps_groups.py: malloc's heap, anonymous, files, stacks): which one
creeps.

    .venv/bin/python bench/desk_soak.py [--seconds 600] [--size 120x45] [--steady]

``--steady`` runs the simulator at its default pace instead of the firehose. ``--external-sim``
runs it as its own process (`desk sim-server --firehose`), so the engine and UI get a core to
themselves instead of sharing one with the simulator.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from smaps_groups import growth_lines, smaps_groups

DESK = str(Path(sys.executable).parent / "desk")
PRICE_ROW = re.compile(r"\d{1,3},\d{3}\.\d")
MID_LINE = re.compile(r"bp\)")
RATE = re.compile(r"okx connected ([\d,]+) msg/s")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def write_config(workdir: Path, firehose: bool, external: dict[str, str] | None) -> Path:
    config = workdir / "soak.yaml"
    if external:
        venue = f"""exchanges:
  okx: {{ws_public_url: "{external["public"]}", ws_business_url: "{external["business"]}",
         rest_url: "{external["rest"]}"}}
simulator: {{enabled: false}}
"""
    else:
        venue = f"""simulator:
  enabled: true
  seed: 7
  firehose: {str(firehose).lower()}
  steps_per_second: {100000 if firehose else 200}
"""
    config.write_text(
        f"system: {{mode: sim, status_interval: 5}}\n"
        f"storage: {{sqlite_path: {workdir / 'soak.sqlite'}}}\n{venue}"
    )
    return config


def start_external_sim() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`desk sim-server --firehose` on a free port; returns the process and its URLs."""
    proc = subprocess.Popen(
        [DESK, "sim-server", "--port", "0", "--firehose", "--steps-per-second", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    while len(urls) < 3:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("sim-server exited before printing its URLs")
        match = re.match(r"OKX (public|business) WebSocket: (\S+)|OKX (REST): (\S+)", line)
        if match:
            key = match.group(1) or "rest"
            urls[key] = match.group(2) or match.group(4)
    return proc, urls


def desk_process(session: str) -> psutil.Process | None:
    pane_pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip() or 0)
    if not pane_pid:
        return None
    for child in psutil.Process(pane_pid).children(recursive=True):
        if "desk" in " ".join(child.cmdline()):
            return child
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--size", default="120x45")
    parser.add_argument("--steady", action="store_true")
    parser.add_argument("--external-sim", action="store_true")
    args = parser.parse_args()
    width, height = args.size.split("x")
    workdir = Path(tempfile.mkdtemp(prefix="desk-soak-"))
    sim, urls = start_external_sim() if args.external_sim else (None, None)
    config = write_config(workdir, firehose=not args.steady, external=urls)
    session = f"desk-soak-{int(time.time())}"
    exit_file = workdir / "exit.txt"
    command = f"{DESK} --config {config}; echo $? > {exit_file}"
    launched = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", width, "-y", height, command)
    try:
        first_book = wait_first_book(session, launched)
        print(f"launch to first book on screen: {first_book:.2f} s  ({args.size})")
        rss, groups = sample_rss(session, args.seconds)
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 60
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        code = exit_file.read_text().strip() if exit_file.exists() else "none (still running)"
        report(workdir, rss, args.seconds, code)
        print("\n".join(groups_growth(groups)))
    finally:
        tmux("kill-session", "-t", session)
        if sim is not None:
            sim.terminate()
            sim.wait(timeout=30)


def wait_first_book(session: str, launched: float) -> float:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if MID_LINE.search(screen) and len(PRICE_ROW.findall(screen)) >= 10:
            return time.perf_counter() - launched
        time.sleep(0.05)
    raise SystemExit("no book on screen within 120 s")


Groups = list[tuple[float, "Counter[str]"]]


def sample_rss(session: str, seconds: float) -> tuple[list[tuple[float, int]], Groups]:
    """RSS every few seconds, and its smaps breakdown every minute (printed every 10 min)."""
    samples: list[tuple[float, int]] = []
    groups: Groups = []
    started = time.monotonic()
    proc = desk_process(session)
    next_print, next_groups = 600.0, 0.0
    while proc is not None and time.monotonic() - started < seconds:
        elapsed = time.monotonic() - started
        samples.append((elapsed, proc.memory_info().rss))
        if elapsed >= next_groups:
            groups.append((elapsed, smaps_groups(proc.pid)))
            next_groups += 60.0
        if elapsed >= next_print:
            parts = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sorted(groups[-1][1].items()))
            print(
                f"  {elapsed:6.0f} s  RSS {samples[-1][1] / 2**20:.0f} MiB  ({parts})", flush=True
            )
            next_print += 600.0
        time.sleep(min(10.0, max(1.0, seconds / 60)))
    if proc is not None and proc.is_running():
        groups.append((time.monotonic() - started, smaps_groups(proc.pid)))
    return samples, groups


def groups_growth(groups: Groups, settle_s: float = 600.0) -> list[str]:
    """smaps growth from minute 10 (minute 4 if the run is shorter) to the last sample."""
    if len(groups) < 2:
        return []
    start = settle_s if groups[-1][0] >= settle_s + 300 else 240.0
    after = [g for g in groups if g[0] >= start] or groups
    return growth_lines(after[0], groups[-1]) if len(after) > 1 else []


def settled_drift(rss: list[tuple[float, int]], settle_s: float = 600.0) -> str:
    """RSS from minute 10 (or the first sample after it) to the end, as the soak goal states it."""
    after = [(t, r) for t, r in rss if t >= settle_s]
    if len(after) < 2:
        return "run shorter than 10 min: no settled figure"
    low, high = min(r for _, r in after), max(r for _, r in after)
    start, end = after[0][1], after[-1][1]
    return (
        f"from {after[0][0]:.0f} s to {after[-1][0]:.0f} s: {start / 2**20:.0f} -> "
        f"{end / 2**20:.0f} MiB ({(end - start) / start:+.1%}), band {low / 2**20:.0f}-"
        f"{high / 2**20:.0f} MiB ({(high - low) / start:.1%} of the start)"
    )


def report(workdir: Path, rss: list[tuple[float, int]], seconds: float, code: str) -> None:
    rates = [int(m.replace(",", "")) for m in RATE.findall((workdir / "desk.log").read_text())]
    if rates:
        print(
            f"engine msgs/s while the UI ran: median {statistics.median(rates):,.0f}, "
            f"max {max(rates):,} over {len(rates)} status lines"
        )
    if rss:
        first, last = rss[0][1], rss[-1][1]
        peak = max(r for _, r in rss)
        print(
            f"RSS: {first / 2**20:.0f} MiB at start, {last / 2**20:.0f} MiB after "
            f"{rss[-1][0]:.0f} s, peak {peak / 2**20:.0f} MiB"
        )
        step = max(1, len(rss) // 10)
        curve = ", ".join(f"{t:.0f}s {r / 2**20:.0f}" for t, r in rss[::step])
        print(f"RSS curve (MiB): {curve}")
        print(f"RSS settled: {settled_drift(rss)}")
    print(f"exit code after q: {code}")


if __name__ == "__main__":
    main()
