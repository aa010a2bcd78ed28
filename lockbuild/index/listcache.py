"""Parsed listings of index pages, kept by the bytes of the page they came from.

An index that sends no cache validators serves every page again on every run, and a
popular project's PEP 691 page is megabytes of JSON, most of it wheels the target cannot
use. What a run takes from such a page (the files the wheel filter keeps, the fields of
each that are used later, and how many wheels were dropped) is kept here under a key
made of the page's sha256, its URL, the project and the filter; a later run that is
served the same bytes reads that instead of decoding and filtering the page again.
Only JSON pages are kept (HTML pages are small, and parsed as before).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

from lockbuild.index.cache import Cache, sha256_hex
from lockbuild.index.listing import Listing
from lockbuild.index.page import _JSON_KEYS as JSON_KEYS
from lockbuild.index.page import JsonRecord, json_listings_from_records, json_records

# Part of every key: a change to what is recorded, or to how pages are read, changes it.
FORMAT = "page-listings-2"
BUCKET = "page-listings"

if TYPE_CHECKING:
    import msgspec

# The fields of a record (page._JSON_KEYS): strings, booleans, integers, a metadata
# hash table or nothing. Anything else in a stored entry makes it unreadable (a miss).
_Field = str | bool | int | dict[str, str] | None
_Stored = tuple[int, list[tuple[str, str, str, str | None, list[_Field]]]]


@functools.cache
def _codec() -> tuple[msgspec.msgpack.Decoder[_Stored], msgspec.msgpack.Encoder]:
    """msgspec is imported once a page is parsed or read from here (not on replay)."""
    import msgspec  # start-up speed (~60 ms), as the docstring says

    return msgspec.msgpack.Decoder(_Stored), msgspec.msgpack.Encoder()


class ListingCache:
    """Listings of JSON pages by page digest, URL, project and wheel filter."""

    def __init__(self, cache: Cache, filter_identity: str) -> None:
        self.cache = cache
        self.filter_identity = filter_identity

    def key(self, page_digest: str, content_type: str, url: str, project: str) -> str:
        parts = (FORMAT, page_digest, content_type, url, project, self.filter_identity)
        return sha256_hex("\0".join(parts).encode())

    def get(self, key: str, url: str, project: str) -> tuple[list[Listing], int] | None:
        """The listings and the number of wheels dropped; None when not kept."""
        data = self.cache.get_keyed(BUCKET, key)
        if data is None:
            return None
        import msgspec  # start-up speed: as in _codec

        try:
            dropped, stored = _codec()[0].decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        try:
            records: list[JsonRecord] = [
                (filename, name, version, upload_time, _fields(fields))
                for filename, name, version, upload_time, fields in stored
            ]
            return json_listings_from_records(records, url, project), dropped
        except (IndexError, ValueError):  # a record that no page could have given
            return None

    def put(self, key: str, listings: list[Listing], dropped: int) -> None:
        records = json_records(listings)
        if records is not None:
            self.put_records(key, records, dropped)

    def put_records(self, key: str, records: list[JsonRecord], dropped: int) -> None:
        """put, given the json_records of the listings (as json_listings made them)."""
        self.cache.put_keyed(BUCKET, key, _codec()[1].encode((dropped, records)))


def _fields(values: list[Any]) -> tuple[Any, ...]:
    if len(values) != len(JSON_KEYS):
        raise ValueError("not a record of page._JSON_KEYS")
    if isinstance(values[3], str):  # requires-python: a few strings shared by many files
        values[3] = sys.intern(values[3])
    return tuple(values)
