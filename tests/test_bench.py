"""The benchmark scripts start as scripts: run from any directory, each gets as far as its --help (an import that
needs the project on sys.path before the script puts it there fails here, not in the next session's measurement)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_") and "argparse" in p.read_text())


def test_there_are_scripts_to_check() -> None:
    assert {"step_overhead.py", "search_latency.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_script_starts_from_any_directory(script: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
