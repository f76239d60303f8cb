"""With PROMETHEUS_MULTIPROC_DIR, one scrape sums what every process (daphne replicas, Celery workers) counted."""

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

COUNT = """
import os
from lib import metrics
print(os.getpid())
metrics.RUNS.labels("completed", "end_turn").inc({n})
metrics.WEBSOCKETS_OPEN.inc()
"""

SCRAPE = """
import sys
from lib import metrics
sys.stdout.write(metrics.exposition().decode())
"""


def run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_scrape_sums_every_process(tmp_path: Path) -> None:
    first = int(run(COUNT.format(n=2), tmp_path))
    run(COUNT.format(n=3), tmp_path)
    samples = scrape(tmp_path)
    assert samples[("engram_runs_total", (("status", "completed"), ("stop_reason", "end_turn")))] == 5
    assert samples[("engram_websockets_open", ())] == 2
    # A process marked dead (a Celery pool process that ended, config/celery.py) leaves the live gauge; its
    # counts stay in the totals.
    run(f"from lib.metrics import process_dead; process_dead({first})", tmp_path)
    samples = scrape(tmp_path)
    assert samples[("engram_websockets_open", ())] == 1
    assert samples[("engram_runs_total", (("status", "completed"), ("stop_reason", "end_turn")))] == 5


def scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(run(SCRAPE, directory))
        for s in family.samples
    }
