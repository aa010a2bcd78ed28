"""Files replaced atomically, the one way lockbuild writes what others read: a new file is
written under a temporary name beside the old one and renamed over it, so a reader sees
the old or the new file, never a part (cache entries, built wheels, the wheelhouse, the
lock pair). For a pair: no other lockbuild run replaces files in the same directories at
the same time, and a signal cannot split the renames."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from lockbuild.errors import InputError

_DEFERRED = ("SIGINT", "SIGTERM", "SIGHUP")


def temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file (descriptor, name) in ``path``'s directory: on the same
    filesystem, so renaming it over ``path`` replaces that atomically. The directory is
    made when it does not exist yet (only then: one failed open, not a mkdir and a stat
    for every file of a directory that exists)."""
    try:
        return _created(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _created(path)


_NAMES = random.Random()
_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def _created(path: Path) -> tuple[int, str]:
    """What ``tempfile.mkstemp`` makes (a new file, mode 0600, a name no one else holds),
    without its per-call path normalisation and process-id checks."""
    for _ in range(100):
        name = f"{path.parent}{os.sep}.{path.name}.{_NAMES.getrandbits(40):010x}.tmp"
        try:
            return os.open(name, _FLAGS, 0o600), name
        except FileExistsError:
            continue  # another writer's name (a forked copy of this generator, say)
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(path.parent))


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; when the block ends it replaces ``path``
    (one rename), when the block raises it is removed and ``path`` is left as it was."""
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a part.

    No fsync: what is written this way is checked when read (a cache entry by its hash, a
    wheel by its record), so a file cut short by a power loss is made again, and
    durability is not worth a disk flush per file. The lock pair (``write_pair``) is
    flushed. Written through the descriptor the temporary file was made with: a cold
    lock writes some hundreds of cache entries, and opening each again through ``open``
    cost three more system calls per file."""
    fd, tmp = temp_beside(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked_dirs(paths: Iterable[Path]) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on each directory holding ``paths``.

    Locking the directory itself leaves no lock file behind. Where flock is unavailable
    (Windows) this only orders nothing; renames there are still atomic one by one.
    """
    try:
        import fcntl  # posix only: the ImportError below is Windows
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


def check_writable(paths: Iterable[Path]) -> None:
    """Refuse, before anything is written, a target that is a directory, lies under a
    regular file, or sits in a directory this process cannot write to."""
    for path in paths:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a file to write")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise InputError(f"{path}: {parent} is not a directory")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise InputError(f"{path}: cannot write into {parent} (permission denied)")
                break


def replace_all(moves: Sequence[tuple[str, Path]]) -> None:
    """``os.replace`` each temporary file over its target; if one fails, the targets
    already replaced get their previous content back (or are removed when they did not
    exist), so the set of files is either all new or all old."""
    backups: list[tuple[Path, str | None]] = []
    try:
        for tmp, path in moves:
            backups.append((path, _backup(path)))
            os.replace(tmp, path)
    except OSError as exc:
        failed = backups[-1][0] if backups else None
        for path, backup in reversed(backups[:-1]):
            if backup is not None:
                os.replace(backup, path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if backups and backups[-1][1] is not None:
            with contextlib.suppress(OSError):
                os.unlink(backups[-1][1])
        restored = ", ".join(str(p) for p, _ in backups[:-1])
        note = f"; {restored} left as before" if restored else ""
        raise InputError(f"{failed}: cannot write: {exc.strerror or exc}{note}") from None
    for _, backup in backups:
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def _backup(path: Path) -> str | None:
    """A hard link to ``path``'s current content (None when there is no such file)."""
    if not path.is_file():
        return None
    backup = path.with_name(f".{path.name}.{os.getpid()}.bak")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(backup)
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)  # a filesystem without hard links
    return str(backup)
