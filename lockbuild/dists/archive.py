"""Reading distribution archives in memory, bounded: a wheel's METADATA, an sdist's
PKG-INFO and pyproject.toml, and extraction of an sdist that refuses unsafe members."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lockbuild import limits
from lockbuild.errors import DistError

MAX_MEMBER_BYTES = 16 * 1024 * 1024


MAX_MEMBERS = 100_000


_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
)


def wheel_metadata(data: bytes | BinaryIO | io.RawIOBase, filename: str) -> bytes:
    """The METADATA file of a wheel held in memory (or readable through ``data``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            candidates = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise DistError(f"{filename}: wheel has no single .dist-info/METADATA")
            info = archive.getinfo(candidates[0])
            if info.file_size > MAX_MEMBER_BYTES:
                raise DistError(f"{filename}: METADATA is implausibly large")
            return archive.read(info)
    except zipfile.BadZipFile:
        raise DistError(f"{filename}: not a valid wheel (bad zip file)") from None


@dataclass(frozen=True)
class SdistContents:
    """The two files of an sdist that locking needs, read without extracting it."""

    pkg_info: bytes | None
    pyproject: bytes | None


def _check_member_name(name: str, filename: str) -> None:
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise DistError(f"{filename}: archive member has an absolute path: {name}")
    if ".." in name.replace("\\", "/").split("/"):
        raise DistError(f"{filename}: archive member escapes the archive: {name}")


def _check_link(member: tarfile.TarInfo, filename: str) -> None:
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(member.name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved.startswith(".."):
            raise DistError(
                f"{filename}: archive link points outside the archive: {member.name} -> {target}"
            )
    elif not (member.isfile() or member.isdir()):
        raise DistError(f"{filename}: archive holds a special file: {member.name}")


def _wanted(name: str) -> str | None:
    """'PKG-INFO' or 'pyproject.toml' when ``name`` is that file in the sdist's top-level
    directory; '/PKG-INFO' or '/pyproject.toml' when it is at the archive's root (an
    sdist packed without a top-level directory)."""
    parts = name.removeprefix("./").strip("/").split("/")
    if len(parts) == 2 and parts[1] in _TOP_FILES:
        return parts[1]
    if len(parts) == 1 and parts[0] in _TOP_FILES:
        return "/" + parts[0]
    return None


_TOP_FILES = ("PKG-INFO", "pyproject.toml")


def read_sdist(data: bytes, filename: str) -> SdistContents:
    """PKG-INFO and pyproject.toml of an sdist, streamed from memory; the archive is
    checked for unsafe members and for decompression bombs as it is read."""
    found: dict[str, bytes] = {}
    if filename.endswith(".zip"):
        for name, content in _iter_zip(data, filename):
            found.setdefault(name, content)
    else:
        for name, content in _iter_tar(data, filename):
            found.setdefault(name, content)
    if "/PKG-INFO" in found or "/pyproject.toml" in found:
        # No top-level directory: the project is the archive's root (as pip reads it).
        return SdistContents(found.get("/PKG-INFO"), found.get("/pyproject.toml"))
    return SdistContents(found.get("PKG-INFO"), found.get("pyproject.toml"))


class _BoundedStream(io.RawIOBase):
    """The decompressed bytes of an archive, read forward, that refuses to produce more
    than ``limit`` bytes in all: the cap is on bytes decompressed, so it also bounds what
    tarfile reads for itself (pax and long-name headers) and what it skips over. It can
    seek (what zipfile and tarfile need): backwards by reading again from the start."""

    def __init__(
        self, open_source: Callable[[], io.BufferedIOBase], limit: int, filename: str
    ) -> None:
        super().__init__()
        self._open_source = open_source
        self._source = open_source()
        self._limit = limit
        self._filename = filename
        self._pos = 0
        self._produced = 0  # every byte decompressed, counting re-reads after a rewind

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _take(self, size: int) -> bytes:
        if self._produced + size > self._limit:
            raise DistError(f"{self._filename}: archive unpacks to more than {self._limit} bytes")
        if size > MAX_MEMBER_BYTES:
            raise DistError(f"{self._filename}: archive holds a {size}-byte record")
        data = self._source.read(size)
        self._produced += len(data)
        self._pos += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()  # chunk by chunk, so still bounded
        return self._take(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek from the end of a compressed stream")
        if offset < self._pos:
            self._source = self._open_source()
            self._pos = 0
        while self._pos < offset:
            if not self._take(min(offset - self._pos, 1024 * 1024)):
                break
        return self._pos


def _decompressed(data: bytes, filename: str) -> _BoundedStream:
    """A bounded stream of the tar inside a gzip, bzip2 or xz file (or a bare tar)."""
    opener: Callable[[], io.BufferedIOBase]
    if data.startswith(b"\x1f\x8b"):
        opener = lambda: gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")  # noqa: E731
    elif data.startswith(b"BZh"):
        opener = lambda: bz2.BZ2File(io.BytesIO(data))  # noqa: E731
    elif data.startswith(b"\xfd7zXZ\x00"):
        opener = lambda: lzma.LZMAFile(io.BytesIO(data))  # noqa: E731
    else:
        opener = lambda: io.BytesIO(data)  # noqa: E731
    return _BoundedStream(opener, limits.max_unpacked_bytes(), filename)


def _checked_members(archive: tarfile.TarFile, filename: str) -> Iterator[tarfile.TarInfo]:
    """The members of an open tar, each checked (name, link, kind, the count and the
    total size) before it is handed on."""
    total = 0
    limit = limits.max_unpacked_bytes()
    for count, member in enumerate(archive, start=1):
        if count > MAX_MEMBERS:
            raise DistError(f"{filename}: archive has more than {MAX_MEMBERS} members")
        _check_member_name(member.name, filename)
        _check_link(member, filename)
        total += member.size
        if total > limit:
            raise DistError(f"{filename}: archive unpacks to more than {limit} bytes")
        yield member


def _iter_tar(data: bytes, filename: str) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(fileobj=_decompressed(data, filename), mode="r:") as archive:
            for member in _checked_members(archive, filename):
                wanted = _wanted(member.name)
                if wanted and member.isfile():
                    if member.size > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {member.name} is implausibly large")
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield wanted, handle.read()
    except _ARCHIVE_ERRORS as exc:
        raise DistError(f"{filename}: not a valid sdist archive ({exc})") from None


def _extract_tar(data: bytes, filename: str, dest: Path) -> None:
    """Unpack a tar sdist in one pass: each member is checked as read_sdist checks it,
    then written (tarfile's "data" filter too), so the archive is decompressed once.
    A bad member after good ones fails the whole call, leaving what was written in
    ``dest`` (the caller's scratch directory) unused."""
    try:
        with tarfile.open(fileobj=_decompressed(data, filename), mode="r:") as archive:
            for member in _checked_members(archive, filename):
                archive.extract(member, dest, filter="data")
    except _ARCHIVE_ERRORS as exc:
        raise DistError(f"{filename}: not a valid sdist archive ({exc})") from None


def _iter_zip(data: bytes, filename: str) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise DistError(f"{filename}: archive has more than {MAX_MEMBERS} members")
            total = 0
            limit = limits.max_unpacked_bytes()
            for info in infos:
                _check_member_name(info.filename, filename)
                total += info.file_size
                if total > limit:
                    raise DistError(f"{filename}: archive unpacks to more than {limit} bytes")
                if stat.S_ISLNK(info.external_attr >> 16):
                    with archive.open(info) as handle:
                        target = handle.read(4097).decode("utf-8", errors="replace")
                    link = tarfile.TarInfo(info.filename)
                    link.type, link.linkname = tarfile.SYMTYPE, target
                    _check_link(link, filename)
            for info in infos:
                wanted = _wanted(info.filename)
                if wanted:
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {info.filename} is implausibly large")
                    with archive.open(info) as handle:
                        content = handle.read(MAX_MEMBER_BYTES + 1)
                    if len(content) > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {info.filename} is implausibly large")
                    yield wanted, content
    except _ARCHIVE_ERRORS as exc:
        raise DistError(f"{filename}: not a valid sdist archive ({exc})") from None


def extract_archive(data: bytes, filename: str, dest: Path) -> Path:
    """Unpack an sdist safely into ``dest``; returns the project directory inside it."""
    if filename.endswith(".zip"):
        read_sdist(data, filename)  # validates every member first (the zip's directory)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(dest)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        _extract_tar(data, filename, dest)
    entries = [p for p in dest.iterdir() if p.is_dir()]
    at_root = any((dest / name).exists() for name in (*_TOP_FILES, "setup.py"))
    if len(entries) == 1 and not at_root:
        return entries[0]
    return dest
