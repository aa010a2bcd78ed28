"""Hostile and broken content read in memory: links and entries of index pages that are
dropped or refused, pages of another kind or API version, crafted sdists (traversal,
links, devices, bombs, pax bombs) refused at the first bad member and within the size cap,
invalid metadata as its own error, a cache key that cannot become a path, and the pair's
two renames that either both happen or leave both files as they were. The same archives
served by a loopback index are refused by compile in tests/functional/test_faults.py."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lockbuild.dists.archive import read_sdist
from lockbuild.dists.metadata import parse_metadata
from lockbuild.errors import DistError, FetchError, InputError, InvalidMetadataError
from lockbuild.index.cache import Cache, CachedPage
from lockbuild.index.page import JSON_TYPE, _page_listings, parse_html_page, parse_json_page
from lockbuild.lock.lockfile import write_pair
from tests.fixtures import make_sdist

pytestmark = pytest.mark.unit


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


_INFO = b"Metadata-Version: 2.2\nName: z\nVersion: 1.0\n"
_TOML = b'[build-system]\nrequires = ["bhelper"]\n'


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
@pytest.mark.parametrize(
    ("members", "pkg_info", "pyproject"),
    [
        ({"z-1.0/PKG-INFO": _INFO, "z-1.0/pyproject.toml": _TOML}, _INFO, _TOML),
        ({"PKG-INFO": _INFO, "pyproject.toml": _TOML, "z/__init__.py": b""}, _INFO, _TOML),
        ({"./PKG-INFO": _INFO, "./pyproject.toml": _TOML}, _INFO, _TOML),
        ({"PKG-INFO": _INFO, "setup.py": b""}, _INFO, None),
        # the root's files are the project's, not a subdirectory's
        ({"pyproject.toml": _TOML, "sub/pyproject.toml": b"[x]\n"}, None, _TOML),
        ({"z-1.0/a/PKG-INFO": _INFO}, None, None),
    ],
    ids=["top-level-dir", "root", "dot-root", "root-setup-py", "root-over-sub", "too-deep"],
)
def test_an_sdist_is_read_from_its_top_directory_or_its_root(
    members: dict[str, bytes], pkg_info: bytes | None, pyproject: bytes | None, fmt: str
) -> None:
    if fmt == "zip":
        data = _zip(members)
    else:
        data = _tar_gz([(tarfile.TarInfo(name), body) for name, body in members.items()])
    contents = read_sdist(data, f"z-1.0.{fmt}")
    assert (contents.pkg_info, contents.pyproject) == (pkg_info, pyproject)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_an_sdist_without_a_top_directory_unpacks_at_its_root(tmp_path: Path, fmt: str) -> None:
    from lockbuild.dists.archive import extract_archive

    members = {"PKG-INFO": _INFO, "setup.py": b"", "z/__init__.py": b""}
    if fmt == "zip":
        data = _zip(members)
    else:
        data = _tar_gz([(tarfile.TarInfo(name), body) for name, body in members.items()])
    assert extract_archive(data, f"z-1.0.{fmt}", tmp_path / "out") == tmp_path / "out"


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
        (b"<html></html>", "", "answered without a Content-Type, so not with an index page"),
        (
            b'{"meta": {"api-version": "1.0"}, "name": "p", "files": '
            + b"[" * 200_000
            + b"]" * 200_000
            + b"}",
            JSON_TYPE,
            "invalid PEP 691 JSON page: nested too deep",
        ),
        (b"[" * 200_000, JSON_TYPE, "invalid PEP 691 JSON page: nested too deep"),
    ],
    ids=["png", "plain-json", "api-version-9", "no-content-type", "nested-files", "nested-page"],
)
def test_pages_of_another_kind_or_version_are_refused(
    body: bytes, content_type: str, expected: str
) -> None:
    with pytest.raises(FetchError) as caught:
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
        ("Requires-Dist: foo (>=1\n", "metadata has an invalid Requires-Dist 'foo (>=1'"),
        ("Requires-Dist: foo ~=3\n", "metadata has an invalid Requires-Dist 'foo ~=3'"),
    ],
)
def test_invalid_metadata_is_its_own_error(fields: str, expected: str) -> None:
    data = f"Metadata-Version: 2.1\nName: p\nVersion: 1.0\n{fields}".encode()
    with pytest.raises(InvalidMetadataError) as caught:
        parse_metadata(data, "p-1.0-py3-none-any.whl")
    assert caught.value.message == f"p-1.0-py3-none-any.whl: {expected}"


def test_an_invalid_requires_python_is_ignored_with_a_note_as_pip_ignores_it() -> None:
    data = b"Metadata-Version: 2.1\nName: p\nVersion: 1.0\nRequires-Python: >>>3\n"
    meta = parse_metadata(data, "p-1.0-py3-none-any.whl")
    assert meta.requires_python is None
    assert meta.notes == (
        "p-1.0-py3-none-any.whl: invalid Requires-Python '>>>3' ignored, as pip ignores an "
        "invalid Requires-Python",
    )


def test_valid_metadata_still_reads() -> None:
    data = b"Metadata-Version: 2.1\nName: p\nVersion: 1.0\nRequires-Dist: foo>=1\n"
    meta = parse_metadata(data, "p-1.0-py3-none-any.whl")
    assert meta.requires_dist == ("foo>=1",)


def test_a_failed_second_rename_restores_the_first_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second target cannot be replaced (as an unwritable target would refuse):
    the first file gets its previous content back, one error line says so."""
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
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.mkdir()
    (b / "keep").write_text("")
    with pytest.raises(InputError) as caught:
        write_pair({a: "new a", b: "new b"})
    assert caught.value.message == f"{b}: is a directory, not a file to write"
    assert a.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_sdists_are_refused_when_unpacked_too(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpacking checks each member as reading does (it no longer reads the archive
    twice): the same one-line error, and nothing outside the destination."""
    from lockbuild.dists.archive import extract_archive

    monkeypatch.setenv("LOCKBUILD_MAX_UNPACKED_BYTES", str(CAP))
    make, message = CRAFTED[kind]
    with pytest.raises(DistError) as caught:
        extract_archive(make(), f"{kind}-1.0.tar.gz", tmp_path / "out")
    assert str(caught.value) == f"{kind}-1.0.tar.gz: {message}"
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a valid sdist archive"),
        (b"\x1f\x8b\x08\x00" + b"\0" * 20, "not a valid sdist archive"),
        (_tar_gz([(tarfile.TarInfo("t-1.0/PKG-INFO"), _INFO)])[:-40], "not a valid sdist archive"),
    ],
    ids=["empty", "bad-gzip", "truncated"],
)
def test_broken_tar_sdists_unpack_to_a_one_line_error(
    data: bytes, message: str, tmp_path: Path
) -> None:
    from lockbuild.dists.archive import extract_archive

    with pytest.raises(DistError) as caught:
        extract_archive(data, "t-1.0.tar.gz", tmp_path / "out")
    assert str(caught.value).startswith(f"t-1.0.tar.gz: {message}")
    assert "\n" not in str(caught.value)


def test_a_tar_sdist_unpacks_every_member(tmp_path: Path) -> None:
    from lockbuild.dists.archive import extract_archive

    members = {
        "t-1.0/PKG-INFO": _INFO,
        "t-1.0/pyproject.toml": _TOML,
        "t-1.0/src/t/__init__.py": b"x = 1\n",
        "t-1.0/src/t/data/big.bin": bytes(range(256)) * 4096,
    }
    data = _tar_gz([(tarfile.TarInfo(name), body) for name, body in members.items()])
    project = extract_archive(data, "t-1.0.tar.gz", tmp_path / "out")
    assert project == tmp_path / "out" / "t-1.0"
    found = {
        str(p.relative_to(tmp_path / "out")): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert found == members
