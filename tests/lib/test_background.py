"""lib.background: the one daemon worker every background loop runs on."""

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from lib.background import Worker


def test_it_runs_jobs_in_order_on_one_named_thread() -> None:
    worker = Worker("engram-test-order")
    seen: list[tuple[int, str]] = []
    for i in range(20):
        worker.submit(lambda i=i: seen.append((i, threading.current_thread().name)))
    worker.flush()
    assert [i for i, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"engram-test-order"}
    worker.stop(timeout=5)


def test_it_survives_a_failing_job() -> None:
    worker = Worker("engram-test-failing")
    done = threading.Event()
    worker.submit(lambda: 1 / 0)
    worker.submit(done.set)
    assert done.wait(5)
    worker.stop(timeout=5)


def test_it_lowers_its_priority_when_asked_below_the_thread_that_started_it() -> None:
    import os

    worker = Worker("engram-test-nice", nice=7)
    niceness: list[int] = []

    def started_from_a_niced_thread() -> None:  # as in a server started with `nice`: threads inherit it
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + 3)
        niceness.append(os.getpriority(os.PRIO_PROCESS, me))
        worker.submit(lambda: niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))

    starter = threading.Thread(target=started_from_a_niced_thread)
    starter.start()
    starter.join()
    worker.flush()
    assert niceness == [niceness[0], min(19, niceness[0] + 7)]
    worker.stop(timeout=5)


def test_it_runs_again_in_a_forked_child() -> None:
    # In a fresh interpreter (forking pytest itself would copy its threads' locks): start the worker, fork, and
    # have the child submit. A thread copied by fork() does not run in the child; without the at-fork reset the
    # child's job would sit in a queue nobody reads, and the parent's backlog would be run twice.
    script = textwrap.dedent(
        """
        import os, sys, threading
        from lib.background import Worker

        worker = Worker("engram-fork")
        parent = []
        worker.submit(lambda: parent.append(threading.get_native_id()))
        worker.flush()
        gate = threading.Event()
        worker.submit(gate.wait)  # the parent's worker is busy (and holds a queued job) while we fork
        worker.submit(lambda: parent.append("backlog"))
        pid = os.fork()
        if pid == 0:
            ran = threading.Event()
            seen = []
            worker.submit(lambda: (seen.append(threading.current_thread().name), ran.set()))
            os._exit(0 if ran.wait(5) and seen == ["engram-fork"] else 3)
        _, status = os.waitpid(pid, 0)
        gate.set()
        worker.flush()
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if parent[1:] == ["backlog"] else 4))
        """
    )
    from django.conf import settings

    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (result.returncode, result.stderr)


def test_no_app_code_rolls_its_own_thread() -> None:
    from django.conf import settings

    root = Path(settings.BASE_DIR)
    home = root / "lib" / "background.py"
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for app in ("accounts", "agents", "api", "ade", "config", "lib", "memory")
        for path in sorted((root / app).rglob("*.py"))
        if path != home
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "threading.Thread(" in line or "register_at_fork" in line
    ]
    assert not offenders, "run background loops on lib.background.Worker:\n" + "\n".join(offenders)
