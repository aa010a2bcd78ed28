"""Guards for the moment output files are replaced: no other lockbuild run replaces files
in the same directories at the same time, and a signal cannot split a pair of renames."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

_DEFERRED = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def locked_dirs(paths: Iterable[Path]) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on each directory holding ``paths``.

    Locking the directory itself leaves no lock file behind. Where flock is unavailable
    (Windows) this only orders nothing; renames there are still atomic one by one.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    dirs = sorted({str(Path(p).resolve().parent) for p in paths})
    fds: list[int] = []
    try:
        for directory in dirs:
            try:
                fd = os.open(directory, os.O_RDONLY)
            except OSError:
                continue
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass  # a filesystem without flock: carry on unlocked
        yield
    finally:
        for fd in reversed(fds):
            os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, so the block (a few renames)
    runs to completion. A held SIGINT is dropped: the work it would have cancelled is done
    by then. A held SIGTERM or SIGHUP is delivered again afterwards.

    Only the main thread can handle signals; elsewhere the block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[int, object] = {}
    try:
        for name in _DEFERRED:
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        for signum, handler in previous.items():
            restored = signal.SIG_DFL if handler is None else handler
            signal.signal(signum, restored)  # type: ignore[arg-type]
        for signum in dict.fromkeys(received):
            if signum != signal.SIGINT:
                os.kill(os.getpid(), signum)
