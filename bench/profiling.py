"""Where a message's CPU goes, for bench/load.py (`--py-spy DIR`, `--counts`) and on its own.

- `Spies`: py-spy records each server process (daphne, every Celery worker) during a measured window, as raw
  collapsed stacks (`<name>-<agents>.txt`), only the thread holding the GIL at each sample (`--gil`): the Python
  CPU. Without `--gil`, py-spy's idle detection counted threads waiting on sockets, queues and sleeps as busy,
  and `--nonblocking` lost most samples of these many-threaded processes. Native work that releases the GIL
  (onnxruntime's inference, waits in psycopg and redis) is not in these samples.
- `summarize(path)`: the functions that hold the most samples of such a file, inclusive (anywhere on the stack)
  and self (the innermost frame), as shares of the process's busy samples; with the process's CPU per message
  (load.py prints it) a share is ms per message.
- `Counters`: SQL statements per message (pg_stat_statements: the stack's PostgreSQL must preload it, which
  `--counts` asks for) and Redis commands per message (`INFO commandstats`), over the window, and the CPU of each
  process apart.

    python bench/profiling.py DIR/worker0-50.txt [--top 30] [--ms-per-msg 40]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _frame_name(frame: str) -> str:
    """`func (path/module.py:123)` → `func (path/module.py)`: one entry per function, whatever the line."""
    return _LINE.sub(")", frame.strip())


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = tuple(_frame_name(f) for f in stack.split(";") if not f.startswith("process ") and f.strip())
        stacks[frames] += int(count)
    return stacks


@dataclass
class Summary:
    total: int
    inclusive: list[tuple[str, int]] = field(default_factory=list)
    own: list[tuple[str, int]] = field(default_factory=list)


def summarize(path: Path, top: int = 25) -> Summary:
    stacks = read_stacks(path)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks.items():
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
    return Summary(sum(stacks.values()), inclusive.most_common(top), own.most_common(top))


def print_summary(path: Path, top: int = 25, ms_per_msg: float | None = None) -> None:
    summary = summarize(path, top)
    print(f"{path.name}: {summary.total} busy samples")
    if not summary.total:
        return

    def line(name: str, count: int) -> str:
        share = count / summary.total
        ms = f"{share * ms_per_msg:7.2f} ms" if ms_per_msg else ""
        return f"  {100 * share:5.1f} % {ms}  {name}"

    print(" inclusive:")
    for name, count in summary.inclusive:
        print(line(name, count))
    print(" self:")
    for name, count in summary.own:
        print(line(name, count))


class Spies:
    """py-spy on each of `pids` ({name: pid}) for `seconds`, writing `<dir>/<name>-<label>.txt`."""

    def __init__(self, directory: Path, pids: dict[str, int], label: str, seconds: float) -> None:
        binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(binary).exists():
            raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {name: directory / f"{name}-{label}.txt" for name in pids}
        self.procs = [
            subprocess.Popen(  # noqa: S603 (py-spy on our own processes)
                [binary, "record", "--gil", "--format", "raw", "--duration", str(int(seconds))]
                + ["--output", str(self.files[name]), "--pid", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        ]

    def wait(self) -> dict[str, Path]:
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {name: path for name, path in self.files.items() if path.exists()}


class Counters:
    """SQL statements and Redis commands over a window (production stack started with `statements=True`)."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url, self.redis_url = database_url, redis_url

    def _redis_calls(self) -> Counter[str]:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        return Counter({name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()})

    def start(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        self.redis_before = self._redis_calls()

    def read(self) -> tuple[list[tuple[str, int, float]], Counter[str]]:
        """Statements (query, calls, total ms) and Redis calls by command, since start()."""
        import psycopg

        redis_calls = self._redis_calls()
        redis_calls.subtract(self.redis_before)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT query, calls, total_exec_time FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC"
            ).fetchall()
        return [(str(q), int(c), float(t)) for q, c, t in rows], +redis_calls


def print_counts(statements: list[tuple[str, int, float]], redis_calls: Counter[str], messages: int) -> None:
    per = max(1, messages)
    calls, commands = sum(c for _, c, _ in statements), sum(redis_calls.values())
    print(f"{'':<17}per message: {calls / per:.1f} SQL statements, {commands / per:.1f} Redis commands")
    for query, count, total_ms in statements[:25]:
        text = " ".join(query.split())[:150]
        print(f"{'':<19}{count / per:6.2f}  {total_ms / max(1, count):6.3f} ms  {text}")
    print(f"{'':<19}Redis: " + ", ".join(f"{name} {count / per:.2f}" for name, count in redis_calls.most_common(12)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--ms-per-msg", type=float, default=None, help="the process's CPU ms per message")
    args = parser.parse_args()
    for path in args.files:
        print_summary(path, args.top, args.ms_per_msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
