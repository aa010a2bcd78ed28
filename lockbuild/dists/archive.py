"""Reading distribution archives in memory, bounded: a wheel's METADATA, an sdist's
PKG-INFO and pyproject.toml, and extraction of an sdist that refuses unsafe members."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import stat
import struct
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
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    found = _metadata_by_directory(source, filename)
    if found is not None:
        return found
    try:
        with zipfile.ZipFile(source) as archive:
            candidates = [
                n for n in archive.namelist() if n.count("/") == 1 and n.endswith(_METADATA_SUFFIX)
            ]
            if len(candidates) != 1:
                raise DistError(f"{filename}: wheel has no single .dist-info/METADATA")
            info = archive.getinfo(candidates[0])
            if info.file_size > MAX_MEMBER_BYTES:
                raise DistError(f"{filename}: METADATA is implausibly large")
            return archive.read(info)
    except zipfile.BadZipFile:
        raise DistError(f"{filename}: not a valid wheel (bad zip file)") from None


_METADATA_SUFFIX = ".dist-info/METADATA"
_END = struct.Struct("<4s4H2LH")  # the end of central directory record (zipfile's)
_NAMES = struct.Struct("<HHH")  # a central directory entry's name, extra, comment lengths
_EXTRA = struct.Struct("<HH")  # an extra field record's kind and length
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # a central directory entry (zipfile's)
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # a member's local header (zipfile's)


def _metadata_by_directory(source: Any, filename: str) -> bytes | None:
    """wheel_metadata of an archive of the plain shape wheels have, read without making
    a ZipInfo for each member (zipfile's cost: a few microseconds each, and large wheels
    hold thousands): the central directory is walked for names alone. None for anything
    else (a comment, zip64, data before the archive, names that are not ASCII or hold a
    NUL, extra fields zipfile would refuse, encryption, methods other than stored and
    deflated, a member that does not unpack to its size and CRC-32): zipfile reads
    those, and says what is wrong with them as it always did."""
    if os.sep != "/":
        return None  # zipfile turns the separator into "/" in names there
    size = source.seek(0, io.SEEK_END)
    if size < 42:
        return None
    source.seek(size - 42)
    tail = source.read(42)
    if len(tail) != 42 or tail[:4] == b"PK\x06\x07" or tail[-2:] != b"\0\0":
        return None  # short, zip64 (its locator precedes the end record) or a comment
    signature, _disk, _disk_cd, _here, _total, size_cd, offset_cd, _ = _END.unpack_from(tail, 20)
    if signature != b"PK\x05\x06" or offset_cd + size_cd != size - 22:
        return None
    source.seek(offset_cd)
    directory = source.read(size_cd)
    if len(directory) != size_cd:
        return None
    found: list[tuple[int, bytes]] = []
    suffix = b".dist-info/METADATA"
    pos = 0
    while pos < size_cd:
        if size_cd - pos < 46 or not directory.startswith(b"PK\x01\x02", pos):
            return None
        if directory[pos + 6] > zipfile.MAX_EXTRACT_VERSION:
            return None
        name_len, extra_len, comment_len = _NAMES.unpack_from(directory, pos + 28)
        start = pos + 46
        end = start + name_len
        pos = end + extra_len + comment_len
        if pos > size_cd:
            return None
        name = directory[start:end]
        if not name.isascii() or b"\0" in name:
            return None
        if extra_len and not _plain_extra(directory[end : end + extra_len]):
            return None
        if name.endswith(suffix) and name.count(b"/") == 1:
            found.append((start - 46, name))
    if len(found) != 1:
        raise DistError(f"{filename}: wheel has no single .dist-info/METADATA")
    at, name = found[0]
    entry = _ENTRY.unpack_from(directory, at)
    flags, method, crc, packed_size, file_size, offset = (
        entry[5],
        entry[6],
        entry[9],
        entry[10],
        entry[11],
        entry[18],
    )
    if file_size > MAX_MEMBER_BYTES:
        raise DistError(f"{filename}: METADATA is implausibly large")
    if flags & 0x61 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None  # encrypted, patched or strongly encrypted; bzip2, lzma...
    if packed_size > MAX_MEMBER_BYTES:
        return None
    source.seek(offset)
    header = source.read(30)
    if len(header) != 30:
        return None
    local = _LOCAL.unpack(header)
    if local[0] != b"PK\x03\x04" or source.read(local[10]) != name:
        return None
    if local[11]:
        source.seek(offset + 30 + local[10] + local[11])
    packed = source.read(packed_size)
    if len(packed) != packed_size:
        return None
    if method == zipfile.ZIP_STORED:
        content = packed if packed_size == file_size else b""
        complete = packed_size == file_size
    else:
        inflate = zlib.decompressobj(-15)
        try:
            content = inflate.decompress(packed, file_size + 1)
        except zlib.error:
            return None
        complete = inflate.eof and len(content) == file_size
    if not complete or zlib.crc32(content) != crc:
        return None
    return content


def _plain_extra(extra: bytes) -> bool:
    """Whether zipfile reads these extra fields without a word: whole records, none of
    them zip64's (whose sizes and offsets would replace the entry's own)."""
    pos = 0
    while len(extra) - pos >= 4:
        kind, length = _EXTRA.unpack_from(extra, pos)
        if kind == 1 or pos + 4 + length > len(extra):
            return False
        pos += 4 + length
    return True


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
