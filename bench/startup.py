"""How long a second `make run` takes to be healthy.

Runs `make run` once on a fresh data directory (migrations, the first admin), stops it, then starts it again
`--runs` times on that same directory, each time measuring from the start of `make` to the first 200 from
`GET /v1/health`, and the CPU seconds its processes used until then (make and `manage.py serve`: migrations, the
first admin and daphne in one process). The install step is taken as done (`make -o <venv>/.installed-run`), as on
a machine where `make run` ran before. Prints the load average beside each figure: on a busy machine the wall time
is mostly waiting for a core, the CPU seconds are not.

    python bench/startup.py [--runs 5] [--venv .venv]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def tree_cpu(pid: int) -> float:
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    except psutil.NoSuchProcess:
        pass
    return total


def one_run(venv: str, data_dir: str, timeout: float = 300) -> tuple[float, float]:
    """Start `make run`, wait for /v1/health, stop it. Returns (wall seconds, CPU seconds) to healthy."""
    port = free_port()
    env = {**os.environ, "ENGRAM_DATA_DIR": data_dir, "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    argv = ["make", "--no-print-directory", "-o", f"{venv}/.installed-run", "run", f"VENV={venv}", f"PORT={port}"]
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 (make, with our Makefile)
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while not healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"make run ended with {proc.returncode} before /v1/health answered")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"/v1/health did not answer within {timeout} s")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        return wall, tree_cpu(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--venv", default=".venv", help="the venv `make run` uses (its VENV)")
    args = parser.parse_args()
    venv = str(Path(args.venv).resolve()) if Path(args.venv).exists() else args.venv
    data_dir = tempfile.mkdtemp(prefix="engram-startup-")
    wall, cpu = one_run(venv, data_dir)
    print(f"first make run (fresh data dir): {wall:.2f} s wall, {cpu:.2f} s CPU, load average {os.getloadavg()[0]:.1f}")
    walls, cpus = [], []
    for i in range(args.runs):
        load = os.getloadavg()[0]
        wall, cpu = one_run(venv, data_dir)
        walls.append(wall)
        cpus.append(cpu)
        print(f"second make run #{i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, load average {load:.1f}")
    print(
        f"second make run to healthy: median {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU (target ≤ {TARGET_S:g} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
