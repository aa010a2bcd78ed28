"""Daemon worker threads for network fetches (an interrupted run exits at once)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    pass


T = TypeVar("T")


class DaemonPool:
    """Worker threads for network fetches. Unlike ThreadPoolExecutor's, they are daemon
    threads: an interrupted run exits at once instead of waiting at exit for requests in
    flight (a stalled index would otherwise hold a Ctrl-C for a whole timeout)."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            self._queue.put((future, lambda: fn(*args)))
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="lockbuild-fetch", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
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
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in range(threads):
            self._queue.put(None)
