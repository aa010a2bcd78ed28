"""Running lockbuild and real installers in tests, isolated from the machine's configuration."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

LOCKBUILD = [sys.executable, "-m", "lockbuild"]

# The repository and the tests' data files, wherever a test module sits under tests/.
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def run(
    cmd: Sequence[str | Path],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 600,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def lockbuild(
    args: Sequence[str | Path], env: dict[str, str], cwd: Path, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the lockbuild CLI as a user would, in ``cwd``."""
    return run([*LOCKBUILD, *args], env, cwd=cwd, check=check)


def compile_args(index_url: str, cache: Path, *extra: str) -> list[str]:
    return ["compile", "--index-url", index_url, "--cache-dir", str(cache), "-q", *extra]


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every pin in a lockfile or build file."""
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")) and "==" in line:
            name, _, rest = line.partition("==")
            result[name.strip()] = rest.split()[0].strip(" \\")
    return result


def new_venv(path: Path, env: dict[str, str], *, with_pip: bool = False) -> str:
    """A fresh venv; with pip means the pip this Python's ensurepip bundles."""
    flags = [] if with_pip else ["--without-pip"]
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", *flags, str(path)], env)
    return str(path / "bin" / "python")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def resign_pair(lock: Path, build: Path) -> None:
    """Recompute the digests a lock pair records about each other after a test edited a
    file on purpose (what someone set on getting an edit past check would do)."""
    import re

    from lockbuild.lock.pair import text_digest

    lock_text, build_text = lock.read_text(), build.read_text()
    lock.write_text(
        re.sub(r"(# lockbuild-build-digest: ).*", rf"\g<1>{text_digest(build_text)}", lock_text)
    )
    build.write_text(
        re.sub(r"(# lockbuild-lock-digest: ).*", rf"\g<1>{text_digest(lock_text)}", build_text)
    )


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """``server`` answering on a thread of its own until the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
