"""A wheel's METADATA read by walking the central directory for names
(archive._metadata_by_directory): the same bytes or the same error as zipfile gives,
for wheels of the plain shape and for every archive it leaves to zipfile."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from lockbuild.dists import archive
from lockbuild.errors import DistError

pytestmark = pytest.mark.unit

METADATA = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n" + b"A description.\n" * 50


def build(
    members: list[tuple[str, bytes]] | None = None,
    *,
    method: int = zipfile.ZIP_DEFLATED,
    comment: bytes = b"",
    zip64: bool = False,
    extra: bytes = b"",
) -> bytes:
    if members is None:
        members = [
            ("demo/__init__.py", b"x = 1\n" * 100),
            ("demo-1.0.dist-info/METADATA", METADATA),
            ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
            ("demo-1.0.dist-info/RECORD", b""),
        ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive_out:
        for name, data in members:
            info = zipfile.ZipInfo(name, (2024, 1, 2, 3, 4, 6))
            info.compress_type = method
            info.extra = extra
            with archive_out.open(info, "w", force_zip64=zip64) as member:
                member.write(data)
        archive_out.comment = comment
    return buffer.getvalue()


def patched(data: bytes, old: bytes, new: bytes, *, last: bool = False) -> bytes:
    """``data`` with one occurrence of ``old`` (the first, or the last) replaced."""
    at = data.rfind(old) if last else data.find(old)
    assert at >= 0
    return data[:at] + new + data[at + len(old) :]


def central(data: bytes, name: bytes) -> int:
    """Where the central directory entry of member ``name`` starts."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name:
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(name)


def set_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


def flags_set(data: bytes, bits: int) -> bytes:
    """The METADATA member with ``bits`` set in its local and central flags."""
    name = b"demo-1.0.dist-info/METADATA"
    at = central(data, name)
    flags = struct.unpack_from("<H", data, at + 8)[0] | bits
    data = data[: at + 8] + struct.pack("<H", flags) + data[at + 10 :]
    local = data.find(b"PK\x03\x04" + data[at + 6 : at + 8])
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.find(b"PK\x03\x04", local + 4)
    return data[: local + 6] + struct.pack("<H", flags) + data[local + 8 :]


def zip64_end() -> bytes:
    """An archive with zip64's end records (zipfile writes them past 65,535 members)."""
    limit = zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP_FILECOUNT_LIMIT = 1
    try:
        data = build()
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = limit
    assert b"PK\x06\x07" in data
    return data


def twice() -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name": the point here
        return build([("d-1.dist-info/METADATA", b"one"), ("d-1.dist-info/METADATA", b"two")])


PLAIN = build()


def bad_crc() -> bytes:
    """METADATA whose central directory entry names another CRC-32."""
    at = central(PLAIN, b"demo-1.0.dist-info/METADATA") + 16
    return PLAIN[:at] + b"\0\0\0\0" + PLAIN[at + 4 :]


UT = struct.pack("<HHB4s", 0x5455, 5, 1, b"\0\0\0\0")  # a timestamp extra field

# name -> (archive, whether the central directory walk reads it itself)
CASES: dict[str, tuple[bytes, bool]] = {
    "deflated": (PLAIN, True),
    "stored": (build(method=zipfile.ZIP_STORED), True),
    "extra fields": (build(extra=UT), True),
    "empty metadata": (build([("demo-1.0.dist-info/METADATA", b"")]), True),
    "no metadata": (build([("demo/__init__.py", b"")]), True),
    "two dist-info directories": (
        build([("a-1.dist-info/METADATA", METADATA), ("b-1.dist-info/METADATA", METADATA)]),
        True,
    ),
    "metadata nested deeper": (build([("x/demo-1.0.dist-info/METADATA", METADATA)]), True),
    "the same name twice": (twice(), True),
    "a comment": (build(comment=b"made by hand"), False),
    "zip64 local headers": (build(zip64=True), True),
    "a zip64 end record": (zip64_end(), False),
    "bzip2": (build(method=zipfile.ZIP_BZIP2), False),
    "lzma": (build(method=zipfile.ZIP_LZMA), False),
    "bytes before the archive": (b"#!/bin/sh\nexit 0\n" + PLAIN, False),
    "a name that is not ASCII": (
        build([("démo/x.py", b""), ("demo-1.0.dist-info/METADATA", METADATA)]),
        False,
    ),
    "a name with a NUL": (
        build([("demo-1.0.dist-info/METADATA_.txt", METADATA), ("demo/x.py", b"")]).replace(
            b"METADATA_.txt", b"METADATA\0.txt"
        ),
        False,
    ),
    "a corrupt extra field": (build(extra=struct.pack("<HH", 0x5455, 40) + b"\0\0"), False),
    "a zip64 extra field": (build(extra=struct.pack("<HHQ", 1, 8, 5)), False),
    "a bad CRC-32": (bad_crc(), False),
    "metadata unpacks to other bytes": (
        patched(
            build(method=zipfile.ZIP_STORED),
            METADATA[:40],
            METADATA[:39] + b"!",
        ),
        False,
    ),
    "a header name that differs": (
        patched(PLAIN, b"demo-1.0.dist-info/METADATA", b"demo-1.0.dist-info/METADATX"),
        False,
    ),
    "encrypted": (flags_set(PLAIN, 0x1), False),
    "strongly encrypted": (flags_set(PLAIN, 0x40), False),
    "a newer zip version": (
        set_byte(PLAIN, central(PLAIN, b"demo/__init__.py") + 6, 64),
        False,
    ),
    "a bad central directory magic": (
        patched(PLAIN, b"PK\x01\x02", b"PK\x01\x09", last=True),
        False,
    ),
    "cut short": (PLAIN[:-30], False),
    "cut in the middle": (PLAIN[: len(PLAIN) // 2], False),
    "not a zip": (b"just some text, long enough to have an end record" * 3, False),
    "tiny": (b"PK", False),
}


def outcome(read: Callable[[], bytes]) -> tuple[str, Any]:
    try:
        return ("ok", read())
    except Exception as exc:  # the kind and words of any failure count
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("as_stream", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_zipfile(name: str, as_stream: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    data, walked = CASES[name]

    def given() -> Any:
        return io.BytesIO(data) if as_stream else data

    found = outcome(lambda: archive.wheel_metadata(given(), "demo.whl"))
    by_walk = outcome(lambda: archive._metadata_by_directory(io.BytesIO(data), "demo.whl"))
    monkeypatch.setattr(archive, "_metadata_by_directory", lambda source, filename: None)
    expected = outcome(lambda: archive.wheel_metadata(given(), "demo.whl"))
    assert found == expected
    # The walk reads the plain shape itself (its answer or its error), and leaves
    # everything else to zipfile.
    assert (by_walk != ("ok", None)) is walked
    if walked:
        assert by_walk == expected


def test_plain_wheel_gives_its_metadata() -> None:
    assert archive.wheel_metadata(PLAIN, "demo.whl") == METADATA
    assert archive._metadata_by_directory(io.BytesIO(PLAIN), "demo.whl") == METADATA


def test_implausibly_large_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", len(METADATA) - 1)
    for reader in (archive.wheel_metadata, archive._metadata_by_directory):
        source: Any = PLAIN if reader is archive.wheel_metadata else io.BytesIO(PLAIN)
        with pytest.raises(DistError, match="METADATA is implausibly large"):
            reader(source, "demo.whl")
