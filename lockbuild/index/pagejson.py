"""The file entries of a PEP 691 JSON page, decoded by msgspec into only the fields
lockbuild reads.

A popular project's page is megabytes of JSON, most of it about files the target cannot
use; the standard library's decoder builds a dict for every entry and every hash. Here
each entry becomes a small typed struct of the fields used later (unknown keys are
skipped without building anything). A page whose entries do not have the shape PEP 691
gives them (an entry that is not an object, a field of another type, bytes that are not
JSON) is not decoded here: the caller falls back to the standard library, which reports
or skips such entries exactly as before.
"""

from __future__ import annotations

import msgspec


class Hashes(msgspec.Struct, gc=False):
    """A file's ``hashes`` object: only the sha256 is read (the others are passed over
    without building a table of them for each of a page's tens of thousands of files)."""

    sha256: str | None = None


class Entry(msgspec.Struct, gc=False):
    """One file of a PEP 691 page; a field the page leaves out is None. There is one
    field for each key of index._JSON_KEYS (its name with '_' for '-'). Not tracked by
    the garbage collector (its fields are strings, numbers and a table of strings, so it
    is never part of a cycle): a large page is tens of thousands of entries, which the
    collector would otherwise walk again and again while they are read."""

    filename: str | None = None
    url: str | None = None
    hashes: Hashes | None = None
    requires_python: str | None = msgspec.field(name="requires-python", default=None)
    yanked: bool | str | None = None
    core_metadata: bool | dict[str, str] | None = msgspec.field(name="core-metadata", default=None)
    dist_info_metadata: bool | dict[str, str] | None = msgspec.field(
        name="dist-info-metadata", default=None
    )
    upload_time: str | None = msgspec.field(name="upload-time", default=None)
    size: int | None = None


class _Page(msgspec.Struct, gc=False):
    files: list[Entry]


def decode_files(body: bytes) -> list[Entry] | None:
    """The entries of the page's ``files`` list, or None when the page is not in PEP
    691's shape (the caller then decodes it with the standard library)."""
    try:
        return _DECODER.decode(body).files
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class _Named(msgspec.Struct, gc=False):
    filename: str | None = None


class _NamedPage(msgspec.Struct, gc=False):
    files: list[_Named]


class _RawPage(msgspec.Struct, gc=False):
    files: list[msgspec.Raw]


def files_named(body: bytes, needle: str) -> list[Entry] | None:
    """decode_files' entries whose filename contains ``needle``, the others passed over
    without building their fields (None as for decode_files)."""
    try:
        names = _NAMES.decode(body).files
        hits = [i for i, item in enumerate(names) if item.filename and needle in item.filename]
        if not hits:
            return []
        raw = _RAW.decode(body).files
        if len(raw) != len(names):
            return None
        return [_ENTRY.decode(raw[i]) for i in hits]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


# Decoders are immutable; building one compiles the type's decoding plan once.
_DECODER = msgspec.json.Decoder(_Page)
_NAMES = msgspec.json.Decoder(_NamedPage)
_RAW = msgspec.json.Decoder(_RawPage)
_ENTRY = msgspec.json.Decoder(Entry)
