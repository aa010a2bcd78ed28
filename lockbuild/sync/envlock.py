"""One sync at a time per environment: an exclusive flock on a file in the target env."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from lockbuild.errors import InstallError

LOCK_NAME = ".lockbuild-sync.lock"


@contextlib.contextmanager
def env_locked(prefix: str, say: Callable[[str], None]) -> Iterator[bool]:
    """Hold the environment's sync lock; a second sync waits for the first (saying so
    once) instead of interleaving installs. Yields whether it had to wait. The caller
    reads the environment again once it holds the lock."""
    try:
        import fcntl  # posix only: the ImportError below is Windows
    except ImportError:  # pragma: no cover - Windows: no advisory locks, no waiting
        yield False
        return
    path = Path(prefix) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InstallError(f"{path}: cannot open the sync lock: {exc.strerror}") from None
    waited = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"lockbuild: waiting for another lockbuild sync into {prefix} to finish")
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield waited
    finally:
        os.close(fd)  # closing releases the lock
