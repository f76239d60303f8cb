"""lib.background.Batcher: items gathered for a moment, then handled as one batch on a worker."""

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

from lib.background import Batcher, Worker


def test_a_burst_from_several_threads_is_handled_as_one_batch_after_the_delay() -> None:
    batches: list[tuple[float, list[tuple[int, int]]]] = []
    batcher: Batcher[tuple[int, int]] = Batcher(
        Worker("engram-test-burst"), lambda batch: batches.append((time.monotonic(), batch)), coalesce_seconds=1.0
    )
    start = threading.Barrier(8)
    first: list[float] = []

    def burst(thread: int) -> None:
        start.wait()
        first.append(time.monotonic())
        for n in range(50):
            batcher.submit((thread, n))

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.flush()
    assert len(batches) == 1, [len(batch) for _, batch in batches]
    handled_at, batch = batches[0]
    assert handled_at - min(first) >= 1.0  # it waited for the burst to gather
    assert sorted(batch) == [(t, n) for t in range(8) for n in range(50)]
    for t in range(8):  # each thread's items in the order it submitted them
        assert [n for thread, n in batch if thread == t] == list(range(50))
    batcher.worker.stop(timeout=5)


def test_items_submitted_while_a_batch_is_handled_are_the_next_batch_and_none_is_lost_or_doubled() -> None:
    handling = threading.Event()
    release = threading.Event()
    batches: list[list[int]] = []

    def handle(batch: list[int]) -> None:
        batches.append(batch)
        if len(batches) == 1:
            handling.set()
            assert release.wait(10)

    worker = Worker("engram-test-during")
    batcher: Batcher[int] = Batcher(worker, handle)
    batcher.submit(0)
    assert handling.wait(10)
    for n in range(1, 100):  # while the first batch is being handled
        batcher.submit(n)
    assert worker._queue.qsize() == 1  # one drain is queued for the 99 items, not one each
    release.set()
    batcher.flush()
    assert batches == [[0], list(range(1, 100))]

    # Many threads at once, a slow handler: every item handled exactly once.
    seen: Counter[int] = Counter()

    def slow(batch: list[int]) -> None:
        seen.update(batch)
        time.sleep(0.001)

    busy: Batcher[int] = Batcher(worker, slow)

    def submit_many(thread: int) -> None:
        for n in range(500):
            busy.submit(thread * 1000 + n)

    threads = [threading.Thread(target=submit_many, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    busy.flush()
    assert seen == Counter(t * 1000 + n for t in range(6) for n in range(500))
    worker.stop(timeout=5)


def test_take_hands_over_what_is_pending_and_the_queued_drain_handles_only_what_came_after() -> None:
    batches: list[list[str]] = []
    batcher: Batcher[str] = Batcher(Worker("engram-test-take"), batches.append, coalesce_seconds=0.5)
    batcher.submit("a")
    batcher.submit("b")
    assert batcher.take() == ["a", "b"]
    assert batcher.take() == []
    batcher.flush()
    assert batches == []  # the drain found nothing: `take`'s caller handled them
    batcher.submit("c")
    batcher.flush()
    assert batches == [["c"]]
    batcher.worker.stop(timeout=5)


def test_a_forked_child_starts_with_nothing_pending_and_can_submit_and_drain() -> None:
    # In a fresh interpreter (forking pytest itself would copy its threads' locks): the parent's batcher is handling
    # a batch and has an item pending (its drain queued) when it forks. The child has neither: its own submission is
    # handled there on its own, and the parent still handles its item once.
    script = textwrap.dedent(
        """
        import os, sys, threading
        from lib.background import Batcher, Worker

        started, gate = threading.Event(), threading.Event()
        handled = []

        def handle(batch):
            handled.append(batch)
            if batch == ["parent-1"]:
                started.set()
                gate.wait()

        batcher = Batcher(Worker("engram-fork-batcher"), handle, coalesce_seconds=0.1)
        batcher.submit("parent-1")
        started.wait(10)
        batcher.submit("parent-2")  # pending, its drain queued behind the blocked one
        pid = os.fork()
        if pid == 0:
            handled.clear()
            ok = batcher.take() == []
            batcher.submit("child")
            done = threading.Event()
            batcher.worker.submit(done.set)
            ok = ok and done.wait(5) and handled == [["child"]]
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        gate.set()
        batcher.flush()
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if handled == [["parent-1"], ["parent-2"]] else 4))
        """
    )
    from django.conf import settings

    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
