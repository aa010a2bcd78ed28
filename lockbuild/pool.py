"""Daemon worker threads for network fetches (an interrupted run exits at once)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from lockbuild.process import settled

T = TypeVar("T")


class DaemonPool:
    """Worker threads for network fetches. Unlike ThreadPoolExecutor's, they are daemon
    threads: an interrupted run exits at once instead of waiting at exit for requests in
    flight (a stalled index would otherwise hold a Ctrl-C for a whole timeout).

    A task still queued when someone waits for it through ``wait`` runs in the waiting
    thread: what the resolver needs now does not queue behind prefetches."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[Future[Any] | None] = queue.SimpleQueue()
        # Queued tasks by their future: whoever takes one out (a worker, or a waiter
        # in ``wait``) runs it; the other finds it gone.
        self._pending: dict[Future[Any], Callable[[], Any]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            self._pending[future] = lambda: fn(*args)
            self._queue.put(future)
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="lockbuild-fetch", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def wait(self, future: Future[T]) -> T:
        """The result of a future this pool made; run here when no worker has begun it."""
        with self._lock:
            call = self._pending.pop(future, None)
        if call is not None:
            self._run(future, call)
        return settled(future)

    def _work(self) -> None:
        while (future := self._queue.get()) is not None:
            with self._lock:
                call = self._pending.pop(future, None)
            if call is not None:
                self._run(future, call)

    @staticmethod
    def _run(future: Future[Any], call: Callable[[], Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = call()
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)
        else:
            future.set_result(result)

    def shutdown(self) -> None:
        """Cancel what has not started; running fetches end on their own."""
        with self._lock:
            self._closed = True
            threads = len(self._threads)
            pending, self._pending = self._pending, {}
        for future in pending:
            future.cancel()
        for _ in range(threads):
            self._queue.put(None)
