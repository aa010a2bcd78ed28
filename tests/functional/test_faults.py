"""Faults and hostile content: ``lockbuild compile`` against a loopback index that stalls,
resets, fails, truncates, lies about hashes or serves crafted archives; credentials never
printed; interrupts and concurrent runs never leave a half-written or mismatched pair."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockbuild.index.cache import sha256_hex
from lockbuild.index.page import JSON_TYPE
from lockbuild.lock.formats import read_lock
from lockbuild.lock.lockfile import write_pair
from lockbuild.lock.pair import pair_problems
from tests.fixtures import FixtureIndex, IndexServer, isolated_env, make_sdist
from tests.helpers import LOCKBUILD, compile_args, lockbuild, pins, write
from tests.unit.test_hostile_content import CAP, CRAFTED

FAST = {"LOCKBUILD_TIMEOUT": "0.5"}
SECRET = "s3cret-t0ken"


@pytest.fixture(scope="module")
def fixture_index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("faults-index"))
    idx.wheel("beta", "1.0")
    idx.sdist("sfoo", "1.0", requires_dist=["beta"], build_requires=[])
    idx.write()
    return idx


@pytest.fixture(scope="module")
def module_server(fixture_index: FixtureIndex) -> Iterator[IndexServer]:
    with IndexServer(fixture_index.root) as srv:
        yield srv


@pytest.fixture
def server(module_server: IndexServer) -> Iterator[IndexServer]:
    module_server.faults.clear()
    module_server.clear()
    yield module_server
    module_server.faults.clear()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return isolated_env(tmp_path, TMPDIR=str(_tmpdir(tmp_path)), **{**FAST, **extra})


def _tmpdir(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir(exist_ok=True)
    return path


def _compile(
    tmp_path: Path, env: dict[str, str], url: str, text: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    write(tmp_path / "requirements.in", text)
    return lockbuild(compile_args(url, tmp_path / "cache", *extra), env, tmp_path, check=False)


def _count(server: IndexServer, path: str) -> int:
    return server.paths().count(path)


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("lockbuild: error: ")
    assert not (tmp_path / "requirements.txt").exists()
    assert not (tmp_path / "requirements-build.txt").exists()
    return proc.stderr


# --------------------------------------------------------------------------- network faults


def test_stalled_page_times_out_and_is_retried(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("delay", 10, 1)
    start = time.monotonic()
    proc = _compile(tmp_path, _env(tmp_path), server.url, "beta\n")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 8  # did not wait for the stalled answer
    assert _count(server, "/simple/beta/") == 2
    assert pins(tmp_path / "requirements.txt") == {"beta": "1.0"}


def test_permanent_stall_ends_in_error_naming_url(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("delay", 3)
    proc = _compile(tmp_path, _env(tmp_path, LOCKBUILD_RETRIES="2"), server.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert f"{server.url}beta/: timed out after 0.5s waiting (tried 2 times)" in stderr
    assert _count(server, "/simple/beta/") == 2


def test_connection_reset_is_retried(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("reset", 2)
    proc = _compile(tmp_path, _env(tmp_path), server.url, "beta\n")
    assert proc.returncode == 0, proc.stderr
    assert _count(server, "/simple/beta/") == 3


def test_server_errors_are_retried_with_backoff(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("status", 503, 2)
    start = time.monotonic()
    proc = _compile(tmp_path, _env(tmp_path), server.url, "beta\n")
    assert proc.returncode == 0, proc.stderr
    assert _count(server, "/simple/beta/") == 3
    assert time.monotonic() - start >= 0.75  # 0.25 s, then 0.5 s between the attempts


def test_permanent_server_error_names_url(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("status", 500)
    proc = _compile(tmp_path, _env(tmp_path), server.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert stderr.strip() == (
        f"lockbuild: error: {server.url}beta/: server error (HTTP 500) (tried 4 times)"
    )
    assert _count(server, "/simple/beta/") == 4


def test_truncated_download_is_retried(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/files/sfoo-1.0.tar.gz"] = ("truncate", 100, 1)
    proc = _compile(tmp_path, _env(tmp_path), server.url, "sfoo\n")
    assert proc.returncode == 0, proc.stderr
    assert pins(tmp_path / "requirements.txt") == {"beta": "1.0", "sfoo": "1.0"}
    assert _count(server, "/files/sfoo-1.0.tar.gz") == 2


def test_permanently_truncated_page_is_an_error(tmp_path: Path, server: IndexServer) -> None:
    server.faults["/simple/beta/"] = ("truncate", 10)
    proc = _compile(tmp_path, _env(tmp_path, LOCKBUILD_RETRIES="2"), server.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert f"{server.url}beta/: the server closed the connection (tried 2 times)" in stderr


def test_missing_project_page_means_no_such_project(tmp_path: Path, server: IndexServer) -> None:
    proc = _compile(tmp_path, _env(tmp_path), server.url, "nosuch\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert "no distributions of nosuch found" in stderr
    assert _count(server, "/simple/nosuch/") == 1  # a 404 is an answer, not a fault


def test_unsupported_index_scheme_fails_at_once(tmp_path: Path) -> None:
    proc = _compile(tmp_path, _env(tmp_path), "ftp://127.0.0.1:9/simple/", "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert "ftp://127.0.0.1:9/simple/beta/: cannot fetch" in stderr


# --------------------------------------------------------------------------- index content


def _tampered_index(tmp_path: Path) -> FixtureIndex:
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("beta", "1.0")
    idx.sdist("sfoo", "1.0", requires_dist=["beta"], build_requires=[])
    idx.write()
    return idx


def _cache_holds(cache: Path, data: bytes) -> bool:
    return any(p.is_file() and p.read_bytes() == data for p in cache.rglob("*"))


def test_file_with_wrong_hash_is_rejected_and_not_cached(tmp_path: Path) -> None:
    idx = _tampered_index(tmp_path)
    target = idx.files_dir / "sfoo-1.0.tar.gz"
    expected = sha256_hex(target.read_bytes())
    # Same name, other content (it declares no dependency): the index's hash is stale.
    evil = make_sdist(tmp_path / "evil", "sfoo", "1.0", build_requires=[]).read_bytes()
    target.write_bytes(evil)
    with IndexServer(idx.root) as srv:
        proc = _compile(tmp_path, _env(tmp_path), srv.url, "sfoo\n")
        file_url = f"{srv.base_url}/files/sfoo-1.0.tar.gz"
    stderr = _assert_clean_failure(proc, tmp_path)
    assert (
        f"{file_url}: sha256 does not match the index (expected {expected}, got {sha256_hex(evil)})"
    ) in stderr
    assert not _cache_holds(tmp_path / "cache", evil)
    assert not list((tmp_path / "cache").rglob(sha256_hex(evil)))


def test_metadata_with_wrong_hash_is_rejected(tmp_path: Path) -> None:
    idx = _tampered_index(tmp_path)
    metadata = idx.files_dir / "beta-1.0-py3-none-any.whl.metadata"
    lie = metadata.read_bytes() + b"Requires-Dist: evil\n"
    metadata.write_bytes(lie)
    with IndexServer(idx.root) as srv:
        proc = _compile(tmp_path, _env(tmp_path), srv.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert "beta-1.0-py3-none-any.whl.metadata: sha256 does not match the index" in stderr
    assert not _cache_holds(tmp_path / "cache", lie)


def test_oversized_page_is_refused(
    tmp_path: Path, server: IndexServer, fixture_index: FixtureIndex
) -> None:
    env = _env(tmp_path, LOCKBUILD_MAX_PAGE_BYTES="200")
    proc = _compile(tmp_path, env, server.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert f"{server.url}beta/: response larger than 200 bytes" in stderr
    proc = _compile(tmp_path, env, fixture_index.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert f"{fixture_index.url}beta/: page larger than 200 bytes" in stderr


# --------------------------------------------------------------------------- offline


def test_offline_uses_only_the_cache(tmp_path: Path, server: IndexServer) -> None:
    other = f"{server.base_url}/mirror/simple/"  # every page there is a 404
    env = _env(tmp_path)
    proc = _compile(tmp_path, env, server.url, "sfoo\n", "--extra-index-url", other)
    assert proc.returncode == 0, proc.stderr
    before = (tmp_path / "requirements.txt").read_bytes()
    server.clear()
    server.faults["/"] = ("status", 500)  # the index is gone
    args = compile_args(server.url, tmp_path / "cache", "--extra-index-url", other, "--offline")
    proc = lockbuild(args, env, tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert server.requests == []
    assert (tmp_path / "requirements.txt").read_bytes() == before

    fresh = tmp_path / "fresh"
    write(fresh / "requirements.in", "beta\n")
    proc = lockbuild(
        compile_args(server.url, fresh / "cache", "--offline"), env, fresh, check=False
    )
    stderr = _assert_clean_failure(proc, fresh)
    assert f"{server.url}beta/: not in the cache (--offline)" in stderr


# --------------------------------------------------------------------------- credentials


def test_credentials_never_printed_or_written(tmp_path: Path, server: IndexServer) -> None:
    url = server.url.replace("http://", f"http://user:{SECRET}@")
    env = _env(tmp_path)
    proc = _compile(tmp_path, env, url, "sfoo\n", "-v")
    assert proc.returncode == 0, proc.stderr
    lock = (tmp_path / "requirements.txt").read_text()
    build = (tmp_path / "requirements-build.txt").read_text()
    for text in (proc.stdout, proc.stderr, lock, build):
        assert SECRET not in text
    assert "user:****@127.0.0.1" in lock
    cached = [p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached and not any(SECRET.encode() in data for data in cached)
    # The credentials were sent, for the pages and for the files they link to.
    token = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
    requests = list(zip(server.requests, server.request_headers, strict=True))
    sent = {path: headers.get("Authorization") for (_, path), headers in requests}
    assert sent["/simple/sfoo/"] == token
    assert sent["/files/sfoo-1.0.tar.gz"] == token

    server.faults["/simple/beta/"] = ("status", 500)
    proc = _compile(tmp_path / "err", {**env, "LOCKBUILD_RETRIES": "2"}, url, "beta\n")
    assert SECRET not in proc.stderr + proc.stdout
    assert "http://user:****@127.0.0.1" in proc.stderr


@pytest.mark.parametrize("output", ["requirements.txt", "pylock.toml"])
@pytest.mark.parametrize("given", ["--index-url", "PIP_INDEX_URL"])
def test_no_secret_in_any_file_written(
    tmp_path: Path, server: IndexServer, output: str, given: str
) -> None:
    """A token in the index URL, given on the command line or in pip's environment, is in
    no file under the output directory or the cache, in either lock format."""
    token = f"tok-{output}-{given}-5f0c1e"
    url = server.url.replace("http://", f"http://user:{token}@")
    env = _env(tmp_path)
    write(tmp_path / "out" / "requirements.in", "sfoo\n")
    args = ["compile", "--cache-dir", str(tmp_path / "cache"), "-q", "-o", output]
    if given == "PIP_INDEX_URL":
        env["PIP_INDEX_URL"] = url
    else:
        args += ["--index-url", url]
    proc = lockbuild(args, env, tmp_path / "out", check=False)
    assert proc.returncode == 0, proc.stderr
    assert token not in proc.stdout + proc.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {output, "requirements.in"}
    leaked = [str(p) for p in written if token.encode() in p.read_bytes()]
    assert leaked == []
    assert "user:****@127.0.0.1" in (tmp_path / "out" / output).read_text()
    # The token was sent all the same.
    basic = "Basic " + base64.b64encode(f"user:{token}".encode()).decode()
    assert any(h.get("Authorization") == basic for h in server.request_headers)


def test_credentials_come_from_netrc(tmp_path: Path, server: IndexServer) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\n  login nuser\n  password {SECRET}\n")
    netrc.chmod(0o600)
    proc = _compile(tmp_path, _env(tmp_path, NETRC=str(netrc)), server.url, "beta\n")
    assert proc.returncode == 0, proc.stderr
    token = "Basic " + base64.b64encode(f"nuser:{SECRET}".encode()).decode()
    assert all(h.get("Authorization") == token for h in server.request_headers)
    assert SECRET not in (tmp_path / "requirements.txt").read_text() + proc.stderr


# --------------------------------------------------------------------------- hostile pages


SERVED_PAGES = {
    "no-content-type": (None, b"<html><body></body></html>", "answered without a Content-Type"),
    "text-plain": (
        "text/plain",
        b"<html><body></body></html>",
        "answered with 'text/plain', not an index page",
    ),
    "nested-json": (
        JSON_TYPE,
        b'{"meta": {"api-version": "1.0"}, "name": "sfoo", "files": '
        + b"[" * 200_000
        + b"]" * 200_000
        + b"}",
        "invalid PEP 691 JSON page: nested too deep",
    ),
}


@pytest.mark.parametrize("served", list(SERVED_PAGES))
def test_a_page_that_is_not_an_index_page_is_one_line(
    tmp_path: Path, server: IndexServer, served: str
) -> None:
    content_type, body, expected = SERVED_PAGES[served]
    server.faults["/simple/sfoo/"] = ("body", content_type, body)
    proc = _compile(tmp_path, _env(tmp_path), server.url, "sfoo\n")
    said = _assert_clean_failure(proc, tmp_path)
    assert len(said.strip().splitlines()) == 1, said
    assert f"{server.url}sfoo/: " in said and expected in said, said


# --------------------------------------------------------------------------- archives


@pytest.fixture(scope="module")
def crafted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    idx = FixtureIndex(tmp_path_factory.mktemp("crafted-index"))
    for kind in ("traversal", "symlink", "bomb"):
        path = idx.dists_dir / f"{kind}-1.0.tar.gz"
        path.write_bytes(CRAFTED[kind][0]())
        idx.add(path)
    idx.write()
    with IndexServer(idx.root) as srv:
        yield srv


@pytest.mark.parametrize("kind", ["traversal", "symlink", "bomb"])
def test_compile_refuses_crafted_sdists(
    kind: str, tmp_path: Path, crafted_server: IndexServer
) -> None:
    env = _env(tmp_path, LOCKBUILD_MAX_UNPACKED_BYTES=str(CAP))
    proc = _compile(tmp_path, env, crafted_server.url, f"{kind}\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert stderr.strip() == f"lockbuild: error: {kind}-1.0.tar.gz: {CRAFTED[kind][1]}"
    assert not list(tmp_path.rglob("evil")) and not list(_tmpdir(tmp_path).iterdir())


# --------------------------------------------------------------------------- interrupts


def _leftovers(directory: Path, expected: set[str]) -> set[str]:
    return {p.name for p in directory.iterdir()} - expected


def _wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"exited before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _previous_pair(tmp_path: Path, env: dict[str, str], url: str) -> tuple[bytes, bytes]:
    proc = _compile(tmp_path, env, url, "beta\n")
    assert proc.returncode == 0, proc.stderr
    return (
        (tmp_path / "requirements.txt").read_bytes(),
        (tmp_path / "requirements-build.txt").read_bytes(),
    )


def _sigint_default() -> None:
    """In the child: SIGINT back to its default, so the child's Python turns it into
    KeyboardInterrupt even when the suite was started with SIGINT ignored (background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """In this process: SIGINT raises KeyboardInterrupt, even when the suite was started
    with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


FILES = {"requirements.in", "requirements.txt", "requirements-build.txt", "cache", "tmp"}


def test_interrupt_while_resolving_keeps_previous_files(
    tmp_path: Path, server: IndexServer
) -> None:
    env = _env(tmp_path, LOCKBUILD_TIMEOUT="30")
    before = _previous_pair(tmp_path, env, server.url)
    write(tmp_path / "requirements.in", "beta\nsfoo\n")
    server.faults["/simple/sfoo/"] = ("delay", 10)
    proc = subprocess.Popen(
        [*LOCKBUILD, *compile_args(server.url, tmp_path / "cache")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    _wait_for(lambda: "/simple/sfoo/" in server.paths(), proc, "the slow request")
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - start < 6  # not held until the stalled request ends
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert (tmp_path / "requirements.txt").read_bytes() == before[0]
    assert (tmp_path / "requirements-build.txt").read_bytes() == before[1]
    assert _leftovers(tmp_path, FILES) == set()
    assert list(_tmpdir(tmp_path).iterdir()) == []


SLOW_WRITE = """
import os, pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
real_fsync = os.fsync
def slow_fsync(fd):
    real_fsync(fd)
    marker.write_text("writing")
    time.sleep(30)
os.fsync = slow_fsync
from lockbuild.cli.main import main
main(sys.argv[2:], prog_name="lockbuild")
"""


def test_interrupt_while_writing_keeps_previous_files(tmp_path: Path, server: IndexServer) -> None:
    env = _env(tmp_path)
    before = _previous_pair(tmp_path, env, server.url)
    write(tmp_path / "requirements.in", "beta\nsfoo\n")
    marker = tmp_path / "tmp" / "marker"
    # --no-cache: the first fsync is then the one of the first new lock file.
    args = [*compile_args(server.url, tmp_path / "cache"), "--no-cache"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITE, str(marker), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    _wait_for(marker.exists, proc, "the write")
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # caught mid-write
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert (tmp_path / "requirements.txt").read_bytes() == before[0]
    assert (tmp_path / "requirements-build.txt").read_bytes() == before[1]
    assert _leftovers(tmp_path, FILES) == set()
    marker.unlink()
    assert list(_tmpdir(tmp_path).iterdir()) == []


def test_write_pair_interrupted_before_the_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigint_raises: None
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")

    def interrupt(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_pair({a: "new a", b: "new b"})
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_write_pair_finishes_the_renames_once_begun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigint_raises: None
) -> None:
    """A Ctrl-C between the two renames would leave a mismatched pair; it is held until
    both are done (and then dropped: the work it meant to stop is finished)."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")
    real_replace = os.replace
    handler = signal.getsignal(signal.SIGINT)

    def replace_then_interrupt(src: str, dst: Path) -> None:
        real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    write_pair({a: "new a", b: "new b"})
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert signal.getsignal(signal.SIGINT) is handler


# --------------------------------------------------------------------------- concurrency


def _consistent_pair(directory: Path) -> None:
    lock = read_lock(directory / "requirements.txt")
    build = read_lock(directory / "requirements-build.txt", what="build file")
    assert pair_problems(lock, build) == []


def test_concurrent_compiles_share_a_directory_and_a_cache(
    tmp_path: Path, server: IndexServer
) -> None:
    env = _env(tmp_path)
    write(tmp_path / "a.in", "beta\n")
    write(tmp_path / "b.in", "sfoo\n")
    server.faults["/simple/"] = ("delay", 0.2)  # keep both runs in flight together
    procs = [
        subprocess.Popen(
            [*LOCKBUILD, *compile_args(server.url, tmp_path / "cache", src)]
            + ["-o", "requirements.txt"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in ("a.in", "b.in", "a.in", "b.in")
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
    _consistent_pair(tmp_path)
    assert pins(tmp_path / "requirements.txt") in ({"beta": "1.0"}, {"beta": "1.0", "sfoo": "1.0"})
    assert _leftovers(tmp_path, FILES | {"a.in", "b.in"}) == set()
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    # The shared cache serves a later run intact.
    server.faults.clear()
    proc = lockbuild(
        [*compile_args(server.url, tmp_path / "cache", "b.in"), "-o", "b.txt", "--offline"],
        env,
        tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert pins(tmp_path / "b.txt") == {"beta": "1.0", "sfoo": "1.0"}


def test_trickling_response_hits_the_deadline(tmp_path: Path, server: IndexServer) -> None:
    """A server sending a few bytes now and then never trips the read timeout; the whole
    response has a deadline, and the run stops with a one-line error soon after it."""
    server.faults["/simple/beta/"] = ("trickle", 0.1)
    env = _env(tmp_path, LOCKBUILD_DEADLINE="1", LOCKBUILD_TIMEOUT="2")
    started = time.monotonic()
    proc = _compile(tmp_path, env, server.url, "beta\n")
    stderr = _assert_clean_failure(proc, tmp_path)
    assert stderr.strip() == (
        f"lockbuild: error: {server.url}beta/: response still incomplete after 1s "
        "(LOCKBUILD_DEADLINE)"
    )
    assert time.monotonic() - started < 15


# --------------------------------------------------------------------------- replay records


def _tamper_records(cache: Path, change: Callable[[dict[str, str]], None]) -> int:
    """Rewrite every recorded result in the cache, its checksum recomputed and its pair
    digests re-made to match (what a process able to write the cache could do)."""
    import re

    from lockbuild.lock.pair import text_digest

    count = 0
    for path in (cache / "resolutions").rglob("*"):
        if not path.is_file():
            continue
        wrapper = json.loads(path.read_bytes())
        result = wrapper["payload"]["result"]
        change(result)
        lock, build = result["lockfile_text"], result["build_text"]
        result["lockfile_text"] = re.sub(
            r"(# lockbuild-build-digest: ).*", rf"\g<1>{text_digest(build)}", lock
        )
        result["build_text"] = re.sub(
            r"(# lockbuild-lock-digest: ).*", rf"\g<1>{text_digest(lock)}", build
        )
        payload = wrapper["payload"]
        wrapper["check"] = sha256_hex(json.dumps(payload, sort_keys=True).encode())
        path.write_bytes(json.dumps(wrapper, sort_keys=True).encode())
        count += 1
    return count


def _in_lock(old: str, new: str) -> Callable[[dict[str, str]], None]:
    def change(result: dict[str, str]) -> None:
        assert old in result["lockfile_text"]
        result["lockfile_text"] = result["lockfile_text"].replace(old, new, 1)

    return change


TAMPERINGS = [
    (
        "direct-reference-injected",
        _in_lock("beta==1.0 \\", "beta @ http://127.0.0.1:9/beta-1.0-py3-none-any.whl \\"),
        "beta is not pinned to a version on an index",
    ),
    ("version-changed", _in_lock("beta==1.0 \\", "beta==9.9 \\"), "beta==9.9 is on none of"),
    (
        "hash-changed",
        _in_lock("--hash=sha256:", "--hash=sha256:" + "0" * 64 + " --hash=sha256:"),
        "beta==1.0: --hash sha256:" + "0" * 64 + " is no file the index serves",
    ),
    (
        "index-option-added",
        _in_lock("\n\nbeta==", "\n--extra-index-url http://127.0.0.1:9/simple/\n\nbeta=="),
        "its option lines are not this run's",
    ),
    (
        "command-changed",
        _in_lock("#    lockbuild compile", "#    lockbuild compile --pre"),
        "its command is not this run's",
    ),
]


@pytest.mark.parametrize(
    ("change", "reason"), [t[1:] for t in TAMPERINGS], ids=[t[0] for t in TAMPERINGS]
)
def test_a_tampered_replay_record_is_not_replayed(
    tmp_path: Path,
    server: IndexServer,
    change: Callable[[dict[str, str]], None],
    reason: str,
) -> None:
    env = _env(tmp_path)
    args = [a for a in compile_args(server.url, tmp_path / "cache", "--generate-hashes")]
    args.remove("-q")  # what the run says is checked
    write(tmp_path / "requirements.in", "beta\n")
    lockbuild(args, env, tmp_path)
    lockbuild(args, env, tmp_path)  # recorded with the outputs in place
    resolved = {
        n: (tmp_path / n).read_bytes() for n in ("requirements.txt", "requirements-build.txt")
    }
    assert "its result is reused" in lockbuild(args, env, tmp_path).stderr
    assert _tamper_records(tmp_path / "cache", change) >= 1
    said = lockbuild(args, env, tmp_path).stderr
    assert "its result is reused" not in said
    assert f"does not match the index pages served now ({reason}" in said, said
    assert "resolving again" in said
    for name, data in resolved.items():
        assert (tmp_path / name).read_bytes() == data


def test_a_tampered_record_and_listing_cache_are_not_replayed(
    tmp_path: Path, server: IndexServer
) -> None:
    """A record naming a release the index does not serve, beside page listings in the
    cache rewritten to list it: the record is checked against the pages themselves."""
    import msgspec

    from lockbuild.index.listcache import BUCKET

    env = _env(tmp_path)
    args = [a for a in compile_args(server.url, tmp_path / "cache") if a != "-q"]
    write(tmp_path / "requirements.in", "beta\n")
    lockbuild(args, env, tmp_path)
    lockbuild(args, env, tmp_path)  # recorded with the outputs in place
    assert "its result is reused" in lockbuild(args, env, tmp_path).stderr
    assert _tamper_records(tmp_path / "cache", _in_lock("beta==1.0", "beta==9.9")) >= 1
    rewritten = 0
    for path in (tmp_path / "cache" / BUCKET).rglob("*"):
        if not path.is_file():
            continue
        dropped, records = msgspec.msgpack.decode(path.read_bytes()[64:])
        for record in records:
            if record[1] == "beta" and record[2] == "1.0":
                record[2] = "9.9"
                record[0] = record[0].replace("1.0", "9.9")
                rewritten += 1
        payload = msgspec.msgpack.encode([dropped, records])
        path.write_bytes(sha256_hex(payload).encode() + payload)
    assert rewritten >= 1
    said = lockbuild(args, env, tmp_path).stderr
    assert "its result is reused" not in said
    assert "does not match the index pages served now (beta==9.9 is on none of" in said, said
    assert "beta==1.0" in (tmp_path / "requirements.txt").read_text()


# --------------------------------------------------------------------------- hostile pages
