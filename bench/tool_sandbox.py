"""What the custom-tool sandbox costs per call: the same tool run as a plain sandboxed process and under
bubblewrap, in one process, with the ratio of the two.

    python bench/tool_sandbox.py [--calls 50]

No database is needed: the tool is an unsaved Tool row run through agents.tools.custom.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from agents.models import Tool
    from agents.tools.custom import run_custom_tool
    from agents.tools.sandbox import sandbox_status

    source = "def add(a: int, b: int) -> int:\n    return a + b\n"
    tool = Tool(name="add", source_code=source, json_schema={"name": "add"})
    p50s = {}
    print(f"custom tool call (a + b), {args.calls} calls per mode, load average {os.getloadavg()[0]:.2f}")
    for mode in ("process", "bwrap"):
        settings.ENGRAM_TOOL_SANDBOX = mode
        assert run_custom_tool(tool, {"a": 1, "b": 2}) == "3"  # warm-up, and proof that it runs
        times = []
        for _ in range(args.calls):
            started = time.perf_counter()
            run_custom_tool(tool, {"a": 1, "b": 2})
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p50s[mode] = statistics.median(times)
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"  {mode:<8} p50 {p50s[mode]:6.1f} ms  p95 {p95:6.1f} ms  ({sandbox_status().python})")
    print(f"  bubblewrap / plain process (p50): {p50s['bwrap'] / p50s['process']:.2f}")


if __name__ == "__main__":
    main()
