"""One fork-safe daemon worker: a thread and a queue, started on first use, stopped at exit, and started afresh
in a forked child (Celery's prefork pool, gunicorn) on its next job, with none of the parent's backlog.

Every background loop of the server runs on one of these (the event publisher, the run sweepers, the run-end
listener, the embedders, the planner statistics): a thread copied by fork() is not running in the child, so a
hand-rolled `threading.Thread` silently stops there.

`Batcher` is the one home of "gather items for a moment, then handle them as one batch" on such a worker (the
event publisher, the background embedder, the embedding groups sent to Celery)."""

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Job = Callable[[], object]
T = TypeVar("T")


class Worker:
    """Runs submitted jobs one at a time, in submission order, on its own daemon thread. A job that raises is
    logged and the worker goes on. `nice` lowers this thread's CPU priority (Linux), so the work that serves
    requests keeps the CPU."""

    def __init__(self, name: str, *, nice: int = 0, exit_timeout: float = 0.0) -> None:
        self.name = name
        self.nice = nice
        self.exit_timeout = exit_timeout  # how long the interpreter's exit waits for the job at hand
        self._at_exit = False
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        _workers.add(self)

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._thread is None or not self._thread.is_alive():
                if not self._at_exit:  # registered now, after whatever this job uses (Redis): at exit, runs first
                    atexit.register(self.stop)
                    self._at_exit = True
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name=self.name, daemon=True)
                self._thread.start()
            self._queue.put(job)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def flush(self) -> None:
        """Wait until every job submitted so far has run (tests, shutdown)."""
        self._queue.join()

    def stop(self, timeout: float | None = None) -> None:
        """End the thread after the job at hand; jobs still queued are dropped. Called at exit, waiting up to
        `exit_timeout`, so a daemon thread is not killed inside native code (onnxruntime aborts the process
        when that happens). A job that loops forever checks `stopping`."""
        timeout = self.exit_timeout if timeout is None else timeout
        with self._lock:
            self._stopping = True
            thread = self._thread
            self._queue.put(None)  # ends the thread once the job at hand returns
        if timeout and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its lock may be held by it: start from nothing.
        self._lock = threading.Lock()
        self._stopping = False
        self._queue = queue.Queue()
        self._thread = None

    def _run(self, jobs: "queue.Queue[Job | None]") -> None:
        if self.nice:
            with contextlib.suppress(OSError, AttributeError):  # Linux: a per-thread nice value
                # Lower than the thread that started it, by `nice` (a server already started with `nice` keeps
                # its other threads ahead of this one; setting the value itself would raise this one above them).
                thread = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.nice))
        while True:
            job = jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception:
                logger.exception("background job on %s failed", self.name)
            finally:
                jobs.task_done()


_workers: "weakref.WeakSet[Worker]" = weakref.WeakSet()


_child_hooks: list[Callable[[], None]] = []


def after_fork_in_child(hook: Callable[[], None]) -> None:
    """Call `hook` in every forked child (after its workers are reset): for state a child must not take over from
    its parent (work gathered but not yet sent, locks, the parent's pooled connections). The one place fork hooks
    are registered."""
    _child_hooks.append(hook)


class Batcher(Generic[T]):
    """Items submitted from any thread, handled in batches on `worker`: `handle(batch)` gets every item pending
    when its drain starts, in submission order. At most one drain is queued at a time: items submitted while a
    batch is handled wait for the next drain (a drain per item would each wait `coalesce_seconds`). A drain first
    sleeps `coalesce_seconds`, so a burst is handled as one batch (0: no added wait, the items that gathered
    while the last batch was handled are the next batch). A batch is handled whole or, if `handle` raises, logged
    by the worker and dropped. A forked child starts with nothing pending and nothing queued."""

    def __init__(self, worker: Worker, handle: Callable[[list[T]], object], *, coalesce_seconds: float = 0.0) -> None:
        self.worker = worker
        self.coalesce_seconds = coalesce_seconds
        self._handle = handle
        self._lock = threading.Lock()
        self._pending: list[T] = []
        self._scheduled = False  # a drain is queued that has not yet taken the pending items
        me = weakref.ref(self)  # the hook must not keep a batcher alive (tests make many)

        def reset() -> None:
            batcher = me()
            if batcher is not None:
                batcher._after_fork_in_child()

        after_fork_in_child(reset)

    def submit(self, item: T) -> None:
        with self._lock:
            self._pending.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self.worker.submit(self._drain)

    def take(self) -> list[T]:
        """Everything pending now, for the caller to handle in its own thread (a Celery worker that shuts down).
        A drain already queued finds what is submitted after this."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def flush(self) -> None:
        """Wait until every item submitted so far has been handled, and the worker's other jobs have run (tests)."""
        self.worker.flush()

    def _drain(self) -> None:
        if self.coalesce_seconds:
            time.sleep(self.coalesce_seconds)
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        if batch:  # empty when `take` had them
            self._handle(batch)

    def _after_fork_in_child(self) -> None:
        # The parent's drain is not queued here (its worker starts afresh), its lock may be held by a parent's
        # thread, and its items are the parent's to handle.
        self._lock = threading.Lock()
        self._pending = []
        self._scheduled = False


def _reset_in_child() -> None:
    for worker in list(_workers):
        worker._after_fork_in_child()
    for hook in _child_hooks:
        try:
            hook()
        except Exception:  # one hook's failure must not leave the others undone
            logger.exception("a fork hook failed in the child")


os.register_at_fork(after_in_child=_reset_in_child)
