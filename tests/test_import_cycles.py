"""No import cycle between our modules, function-local imports included (scripts/import_cycles.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_cycles.py"


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60)


def test_the_tree_has_no_import_cycle_outside_the_allowed_ones():
    result = run(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no import cycles" in result.stdout


def test_a_cycle_through_a_function_local_import_is_found(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "a.py").write_text("from lib.b import f\n")
    (tmp_path / "lib" / "b.py").write_text("def f():\n    from lib import a\n\n    return a\n")
    (tmp_path / "lib" / "c.py").write_text("import lib.a\n")
    result = run(tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == "cycle: lib.a ↔ lib.b"


def test_an_allowed_import_still_counts_at_module_level(tmp_path):
    runtime = tmp_path / "agents" / "runtime"
    runtime.mkdir(parents=True)
    for package in (tmp_path / "agents", runtime):
        (package / "__init__.py").write_text("")
    (runtime / "loop.py").write_text("from agents.runtime import tasks\n")
    (runtime / "tasks.py").write_text("from agents.runtime.loop import run_execute\n")  # allowed only in a task body
    result = run(tmp_path)
    assert result.returncode == 1
    assert "agents.runtime.loop ↔ agents.runtime.tasks" in result.stdout
