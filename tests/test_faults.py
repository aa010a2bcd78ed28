"""Faults and hostile content: ``lockbuild compile`` against a loopback index that stalls,
resets, fails, truncates, lies about hashes or serves crafted archives; credentials never
printed; interrupts and concurrent runs never leave a half-written or mismatched pair."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockbuild.dists.archive import read_sdist
from lockbuild.dists.metadata import parse_metadata
from lockbuild.errors import DistError
from lockbuild.index import client as index
from lockbuild.index.cache import Cache, CachedPage, sha256_hex
from lockbuild.index.page import JSON_TYPE, _page_listings, parse_html_page, parse_json_page
from lockbuild.lock.formats import read_lock
from lockbuild.lock.lockfile import write_pair
from lockbuild.lock.pair import pair_problems
from tests.fixtures import FixtureIndex, IndexServer, isolated_env, make_sdist
from tests.helpers import LOCKBUILD, compile_args, lockbuild, pins, write

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
    assert f"{server.url}beta/: failed after 2 attempts (timed out after 0.5s)" in stderr
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
        f"lockbuild: error: {server.url}beta/: failed after 4 attempts (HTTP 500)"
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
    assert f"{server.url}beta/: failed after 2 attempts (RemoteProtocolError)" in stderr


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


def test_links_from_a_remote_page_are_checked() -> None:
    digest = "a" * 64
    page = (
        f'<a href="../../files/ok-1.0.tar.gz#sha256={digest}">ok</a>'
        '<a href="file:///etc/local-1.0.tar.gz">local</a>'
        '<a href="ftp://mirror/ftp-1.0.tar.gz">ftp</a>'
        '<a href="javascript:alert(1)//js-1.0.tar.gz">js</a>'
        '<a href="http://[::1/broken-1.0.tar.gz">broken</a>'
        '<a href="../../files/short-1.0.tar.gz#sha256=abc">short hash</a>'
        '<a href="https://cdn.example/abs-1.0.tar.gz">absolute</a>'
    ).encode()
    files = parse_html_page(page, "https://host/simple/ok/")
    assert [(f.filename, f.url, f.sha256) for f in files] == [
        ("ok-1.0.tar.gz", "https://host/files/ok-1.0.tar.gz", digest),
        ("abs-1.0.tar.gz", "https://cdn.example/abs-1.0.tar.gz", None),
    ]
    # A local page may point at local files.
    local = parse_html_page(page, "file:///srv/simple/ok/")
    assert "local-1.0.tar.gz" in [f.filename for f in local]


def test_json_page_entries_with_bad_hashes_or_names_are_dropped() -> None:
    body = json.dumps(
        {
            "files": [
                {"filename": "a-1.0.tar.gz", "url": "a-1.0.tar.gz", "hashes": {"sha256": "A" * 64}},
                {"filename": "b-1.0.tar.gz", "url": "b", "hashes": {"sha256": "../../../x"}},
                {"filename": "c-1.0.tar.gz", "url": "c", "hashes": {"sha256": 12}},
                {"filename": "../d-1.0.tar.gz", "url": "d", "hashes": {}},
                {"filename": "e-1.0.tar.gz\n--index-url x", "url": "e", "hashes": {}},
                {
                    "filename": "f-1.0-py3-none-any.whl",
                    "url": "f",
                    "core-metadata": {"sha256": "../x"},
                },
            ]
        }
    ).encode()
    files = parse_json_page(body, "https://host/simple/a/")
    assert [(f.filename, f.sha256) for f in files] == [
        ("a-1.0.tar.gz", "a" * 64),
        ("f-1.0-py3-none-any.whl", None),
    ]
    assert not files[1].has_metadata  # its metadata cannot be verified: the wheel is read


def test_cache_never_turns_a_hostile_key_into_a_path(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    cache = Cache(tmp_path / "cache")
    key = "../../victim"
    assert cache.get_blob("files", key) is None
    cache.put_blob("files", key, b"keep me")
    assert cache.get_json("files", key) is None
    assert victim.read_text() == "keep me"


def test_pages_without_validators_are_kept_for_offline(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.put_page(CachedPage("https://host/simple/a/", b"<html/>", "text/html", None, None))
    page = cache.get_page("https://host/simple/a/")
    assert page is not None and page.body == b"<html/>" and not page.missing
    cache.put_page(CachedPage("https://host/simple/b/", b"", "", None, None, missing=True))
    missing = cache.get_page("https://host/simple/b/")
    assert missing is not None and missing.missing


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


# --------------------------------------------------------------------------- archives


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return gzip.compress(raw.getvalue(), 9, mtime=0)


def _pkg_info(name: str) -> tuple[tarfile.TarInfo, bytes]:
    data = f"Metadata-Version: 2.2\nName: {name}\nVersion: 1.0\n".encode()
    return tarfile.TarInfo(f"{name}-1.0/PKG-INFO"), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _pax_bomb(name: str, headers: int, size: int) -> bytes:
    """A tar.gz whose declared member sizes are tiny but whose pax headers decompress to
    ``headers * size`` bytes (each header holds one long, harmless ``comment`` record)."""
    raw = io.BytesIO()
    for number in range(headers):
        prefix = f" comment={number}="
        record_len = size
        record = f"{record_len}{prefix}".encode()
        record += b"a" * (record_len - len(record) - 1) + b"\n"
        header = tarfile.TarInfo(f"././@PaxHeader{number}")
        header.type, header.size = tarfile.XHDTYPE, len(record)
        raw.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        raw.write(record + b"\0" * (-len(record) % 512))
    info, data = _pkg_info(name)
    info.size = len(data)
    raw.write(info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512))
    raw.write(b"\0" * 1024)
    return gzip.compress(raw.getvalue(), 9, mtime=0)


CAP = 1024 * 1024  # LOCKBUILD_MAX_UNPACKED_BYTES in these tests

CRAFTED: dict[str, tuple[Callable[[], bytes], str]] = {
    "traversal": (
        lambda: _tar_gz([_pkg_info("traversal"), _file("traversal-1.0/../../evil")]),
        "archive member escapes the archive: traversal-1.0/../../evil",
    ),
    "absolute": (
        lambda: _tar_gz([_pkg_info("absolute"), _file("/tmp/evil")]),
        "archive member has an absolute path: /tmp/evil",
    ),
    "symlink": (
        lambda: _tar_gz([_pkg_info("symlink"), _link("symlink-1.0/data", "../../etc")]),
        "archive link points outside the archive: symlink-1.0/data -> ../../etc",
    ),
    "hardlink": (
        lambda: _tar_gz(
            [_pkg_info("hardlink"), _link("hardlink-1.0/x", "/etc/passwd", tarfile.LNKTYPE)]
        ),
        "archive link points outside the archive: hardlink-1.0/x -> /etc/passwd",
    ),
    "device": (
        lambda: _tar_gz([_pkg_info("device"), _link("device-1.0/dev", "", tarfile.CHRTYPE)]),
        "archive holds a special file: device-1.0/dev",
    ),
    "bomb": (
        lambda: _tar_gz([_pkg_info("bomb"), _file("bomb-1.0/zeros", b"\0" * (4 * CAP))]),
        f"archive unpacks to more than {CAP} bytes",
    ),
    "paxbomb": (
        lambda: _pax_bomb("paxbomb", 8, CAP // 2),
        f"archive unpacks to more than {CAP} bytes",
    ),
}


def _zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x20
            archive.writestr(info, target)
    return raw.getvalue()


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_sdists_are_refused(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKBUILD_MAX_UNPACKED_BYTES", str(CAP))
    make, message = CRAFTED[kind]
    data = make()
    assert len(data) < 64 * 1024  # the bombs are small on the wire
    with pytest.raises(DistError) as caught:
        read_sdist(data, f"{kind}-1.0.tar.gz")
    assert str(caught.value) == f"{kind}-1.0.tar.gz: {message}"


def test_pax_bomb_is_stopped_at_the_cap_not_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a cap on bytes decompressed, tarfile would read every pax header into
    memory although no member declares more than a few bytes."""
    monkeypatch.setenv("LOCKBUILD_MAX_UNPACKED_BYTES", str(CAP))
    data = _pax_bomb("paxbomb", 64, CAP)  # 64 MiB of headers
    start = time.monotonic()
    with pytest.raises(DistError, match="unpacks to more than"):
        read_sdist(data, "paxbomb-1.0.tar.gz")
    assert time.monotonic() - start < 1
    monkeypatch.setenv("LOCKBUILD_MAX_UNPACKED_BYTES", str(2 * CAP))
    with pytest.raises(DistError, match="holds a 1048576-byte record|unpacks to more than"):
        read_sdist(_pax_bomb("paxbomb", 1, 32 * CAP), "paxbomb-1.0.tar.gz")


def test_crafted_zip_sdists_are_refused() -> None:
    info = b"Metadata-Version: 2.2\nName: z\nVersion: 1.0\n"
    with pytest.raises(DistError, match="escapes the archive: z-1.0/../../evil"):
        read_sdist(_zip({"z-1.0/PKG-INFO": info, "z-1.0/../../evil": b""}), "z-1.0.zip")
    with pytest.raises(DistError, match="link points outside the archive: z-1.0/l -> ../.."):
        read_sdist(_zip({"z-1.0/PKG-INFO": info}, {"z-1.0/l": "../.."}), "z-1.0.zip")
    inside = _zip({"z-1.0/PKG-INFO": info}, {"z-1.0/l": "PKG-INFO"})
    assert read_sdist(inside, "z-1.0.zip").pkg_info == info


def test_valid_sdists_still_read(tmp_path: Path) -> None:
    for fmt in ("tar.gz", "zip"):
        path = make_sdist(tmp_path, "okpkg", "1.0", build_requires=["x"], fmt=fmt)
        contents = read_sdist(path.read_bytes(), path.name)
        assert contents.pkg_info is not None and b"Name: okpkg" in contents.pkg_info
        assert contents.pyproject is not None and b'"x"' in contents.pyproject


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
    import json
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


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n", "image/png", "answered with 'image/png', not an index page"),
        (b"{}", "application/json", "answered with 'application/json', not an index page"),
        (
            b'{"meta": {"api-version": "9.0"}, "files": []}',
            JSON_TYPE,
            "index API version '9.0' is not supported (lockbuild reads version 1.x)",
        ),
    ],
    ids=["png", "plain-json", "api-version-9"],
)
def test_pages_of_another_kind_or_version_are_refused(
    body: bytes, content_type: str, expected: str
) -> None:
    with pytest.raises(index.FetchError) as caught:
        _page_listings(body, content_type, "https://host/simple/p/", None, "p")
    assert expected in caught.value.message
    assert caught.value.message.startswith("https://host/simple/p/: ")


@pytest.mark.parametrize("content_type", [JSON_TYPE, "application/vnd.pypi.simple.latest+json"])
def test_pages_of_api_version_one_are_read(content_type: str) -> None:
    body = b'{"meta": {"api-version": "1.3"}, "name": "p", "files": []}'
    assert _page_listings(body, content_type, "https://host/simple/p/", None, "p") == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("Requires-Dist: foo >>= 1\n", "metadata has an invalid Requires-Dist 'foo >>= 1'"),
        ("Requires-Python: >>>3\n", "metadata has an invalid Requires-Python '>>>3'"),
        ("Requires-Dist: foo (>=1\n", "metadata has an invalid Requires-Dist 'foo (>=1'"),
    ],
)
def test_invalid_metadata_is_its_own_error(fields: str, expected: str) -> None:
    from lockbuild.errors import InvalidMetadataError

    data = f"Metadata-Version: 2.1\nName: p\nVersion: 1.0\n{fields}".encode()
    with pytest.raises(InvalidMetadataError) as caught:
        parse_metadata(data, "p-1.0-py3-none-any.whl")
    assert caught.value.message == f"p-1.0-py3-none-any.whl: {expected}"


def test_valid_metadata_still_reads() -> None:
    data = b"Metadata-Version: 2.1\nName: p\nVersion: 1.0\nRequires-Dist: foo>=1\n"
    meta = parse_metadata(data, "p-1.0-py3-none-any.whl")
    assert meta.requires_dist == ("foo>=1",)


def test_a_failed_second_rename_restores_the_first_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second target cannot be replaced (as an unwritable target would refuse):
    the first file gets its previous content back, one error line says so."""
    from lockbuild.errors import InputError

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")
    real_replace = os.replace
    calls: list[object] = []

    def second_fails(src: str, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(InputError) as caught:
        write_pair({a: "new a", b: "new b"})
    assert caught.value.message == f"{b}: cannot write: Permission denied; {a} left as before"
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_directory_as_the_second_target_is_refused_before_any_rename(tmp_path: Path) -> None:
    from lockbuild.errors import InputError

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.mkdir()
    (b / "keep").write_text("")
    with pytest.raises(InputError) as caught:
        write_pair({a: "new a", b: "new b"})
    assert caught.value.message == f"{b}: is a directory, not a file to write"
    assert a.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
