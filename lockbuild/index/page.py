"""Simple Repository API pages: PEP 503 HTML and PEP 691 JSON parsed into listings (links
that may not be followed skipped), and the PEP 629 version check."""

from __future__ import annotations

import functools
import json
import operator
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from packaging.version import Version

from lockbuild.errors import FetchError
from lockbuild.model import DistFile
from lockbuild.target import WheelNameFilter

if TYPE_CHECKING:
    from lockbuild.index.pagejson import Entry
from lockbuild.credentials import redact
from lockbuild.index.listing import (
    KeepWheel,
    Listing,
    _canonical,
    _hash_fragment,
    _listing,
    checked_sha256,
    make_dist_file,
    parsed_version,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@functools.cache
def _anchor_parser() -> Callable[[], _Anchors]:
    """The parser of an HTML page's <base> and anchors, made on the first HTML page read."""
    from html.parser import HTMLParser  # start-up speed: a run of JSON pages never needs it

    class AnchorParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.base: str | None = None
            self.anchors: list[tuple[dict[str, str | None], str]] = []
            self._current: dict[str, str | None] | None = None
            self._text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "base" and self.base is None:
                self.base = dict(attrs).get("href")
            elif tag == "a":
                self._current = dict(attrs)
                self._text = []

        def handle_data(self, data: str) -> None:
            if self._current is not None:
                self._text.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag == "a" and self._current is not None:
                self.anchors.append((self._current, "".join(self._text).strip()))
                self._current = None

    return AnchorParser


if TYPE_CHECKING:

    class _Anchors(Protocol):
        """What _anchor_parser's parser collects: the <base href> and each anchor's
        attributes and text."""

        base: str | None
        anchors: list[tuple[dict[str, str | None], str]]

        def feed(self, data: str) -> None: ...


def _followable(url: str, page_url: str) -> bool:
    """Only http(s) links are followed, and file links only from a local page: a remote
    index must not make lockbuild read the machine's own files."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return urlsplit(page_url).scheme == "file"
    return scheme in ("http", "https")


def html_listings(
    body: bytes, page_url: str, keep: KeepWheel | None = None, project: str | None = None
) -> list[Listing]:
    """Files on a PEP 503 HTML page (or a find-links HTML page), parsed lazily;
    ``project`` is the project the page is for (None for find-links pages)."""
    parser = _anchor_parser()()
    parser.feed(body.decode("utf-8", errors="replace"))
    try:
        base = urljoin(page_url, parser.base) if parser.base else page_url
    except ValueError:
        base = page_url
    versions: dict[str, Any] = {}
    listings: list[Listing] = []
    for attrs, _text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        filename = unquote(href.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1])
        make = functools.partial(_html_entry, attrs, base, page_url, project=project)
        item = _listing(filename, None, make, versions, keep, project)
        if item is not None:
            listings.append(item)
    return listings


# A file entry's "filename" as it appears in the page's text; see json_listings.
_JSON_FILENAME = re.compile(r'"filename"\s*:\s*"([^"]*)"')


def json_listings(
    body: bytes,
    page_url: str,
    keep: KeepWheel | None = None,
    project: str | None = None,
    records: list[JsonRecord] | None = None,
) -> list[Listing]:
    """Files on a PEP 691 JSON page, parsed lazily; with ``records``, what listcache keeps
    of each listing is appended to it (json_records of the listings, made while they are)."""
    # start-up speed: msgspec is imported once a JSON page is read (not on replay)
    from lockbuild.index import pagejson

    _check_api_version(body, page_url)
    decoded = pagejson.decode_files(body)
    if decoded is None:  # not in PEP 691's shape: the standard library says why
        return _stdlib_json_listings(body, page_url, keep, project, records)
    versions: dict[str, Any] = {}
    listings: list[Listing] = []
    origin = (page_url, project)
    # Most entries of a large page are wheels for other targets: dropped here.
    entries: Iterable[Entry] = decoded
    if isinstance(keep, _CountingKeep):
        entries = keep.select(decoded)
    elif keep is not None:
        entries = _kept_by(keep, decoded)
    for entry in entries:
        filename = entry.filename
        if filename is None:
            continue
        item = _listing(filename, entry.upload_time, None, versions, None, project)
        if item is not None:
            fields, packed = _struct_fields(entry)
            item.make = _JsonFile.of_packed(packed, origin)
            listings.append(item)
            if records is not None:
                records.append((filename, item.name, item.version_text, item.upload_time, fields))
    return listings


def _kept_by(keep: KeepWheel, entries: Iterable[Entry]) -> Iterator[Entry]:
    for entry in entries:
        filename = entry.filename
        if filename is None or not filename.endswith(".whl") or keep(filename):
            yield entry


_API_VERSION = re.compile(rb'"api-version"\s*:\s*"([^"\\]{0,40})"')


def _check_api_version(body: bytes, page_url: str) -> None:
    """PEP 629: a page whose major API version is not 1 must not be read. The version
    sits in the small ``meta`` object; one bounded search finds it without decoding."""
    # PEP 691 pages put it first or, as the public index does, last: both ends are
    # looked at before the whole page is.
    match = (
        _API_VERSION.search(body, 0, 4096)
        or _API_VERSION.search(body, max(0, len(body) - 4096))
        or _API_VERSION.search(body)
    )
    if match is None:
        return
    version = match.group(1).decode("utf-8", "replace")
    if version.split(".")[0] != "1":
        raise FetchError(
            f"{redact(page_url)}: index API version {version[:20]!r} is not supported "
            "(lockbuild reads version 1.x)"
        )


def _stdlib_json_listings(
    body: bytes,
    page_url: str,
    keep: KeepWheel | None = None,
    project: str | None = None,
    records: list[JsonRecord] | None = None,
) -> list[Listing]:
    """json_listings for a page msgspec's typed decoding refuses: entries that are not
    objects or whose filename is not a string are skipped, anything else is an error."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
        entries = data["files"]
        if not isinstance(entries, list):
            raise TypeError("files is not a list")
        meta = data.get("meta", {})
        version = meta.get("api-version") if isinstance(meta, dict) else None
    except RecursionError:  # arrays nested deeper than any page of files needs
        raise FetchError(
            f"{redact(page_url)}: invalid PEP 691 JSON page: nested too deep"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FetchError(f"{redact(page_url)}: invalid PEP 691 JSON page: {exc}") from None
    if version is not None and str(version).split(".")[0] != "1":
        # PEP 629: a major version the client does not know must not be read.
        raise FetchError(
            f"{redact(page_url)}: index API version {str(version)[:20]!r} is not supported "
            "(lockbuild reads version 1.x)"
        )
    # Most files of a popular project are wheels for other platforms. Their names are
    # found in the text by one scan, so that a dropped file costs one filter call. The
    # scan is trusted only when it found exactly one name per entry, and only to drop
    # wheels whose name has no escape in it (then the text is the decoded name).
    scanned: list[str] = _JSON_FILENAME.findall(text) if keep is not None else []
    drop = keep is not None and len(scanned) == len(entries)
    versions: dict[str, Any] = {}
    listings: list[Listing] = []
    origin = (page_url, project)
    for index, entry in enumerate(entries):
        if drop and keep is not None:
            name = scanned[index]
            if name.endswith(".whl") and "\\" not in name and not keep(name):
                continue
        if not isinstance(entry, dict):
            continue
        filename = entry.get("filename")
        if not isinstance(filename, str):
            continue
        item = _listing(filename, entry.get("upload-time"), None, versions, keep, project)
        if item is not None:
            fields = _compact_json(entry)
            item.make = _JsonFile(fields, origin)
            listings.append(item)
            if records is not None:
                records.append((filename, item.name, item.version_text, item.upload_time, fields))
    return listings


class _CountingKeep:
    """A wheel filter that counts what it drops (for an error that says why).

    A wheel filter decides on a name's last three parts (Python, ABI and platform tags),
    and the tens of thousands of wheels of a large page share a few dozen of them: each
    is decided once here, found by three searches from the end of the name."""

    def __init__(self, keep: KeepWheel) -> None:
        self.keep = keep
        self.dropped = 0
        self._decided: dict[str, bool] = {}
        # A target's own filter drops every wheel none of whose platform tags it
        # supports: ``select`` decides those by the name's last field alone.
        self._platforms = keep.platforms if isinstance(keep, WheelNameFilter) else None
        self._by_platform: dict[str, bool] = {}

    def __call__(self, filename: str) -> bool:
        last = filename.rfind("-")
        before = filename.rfind("-", 0, last) if last > 0 else -1
        start = filename.rfind("-", 0, before) if before > 0 else -1
        if start > 0:
            tail = filename[start:]
            kept = self._decided.get(tail)
            if kept is None:
                kept = self._decided[tail] = self.keep(filename)
        else:  # fewer parts than a wheel name has: the filter says what it makes of it
            kept = self.keep(filename)
        if not kept:
            self.dropped += 1
        return kept

    def select(self, entries: Iterable[Entry]) -> list[Entry]:
        """The entries this filter keeps, as calling it on each wheel's name would
        (entries that are not wheels, or have no file name, pass). A large page is tens
        of thousands of wheels, most for other platforms: with a target's own filter, a
        wheel whose last field (its platform tags) names no platform of the target's is
        dropped after one split and one lookup, not three searches and a call. (A list,
        and the drops counted in a local: this loop runs once for every wheel of every
        page read.)"""
        platforms = self._platforms
        if platforms is None:
            return [
                entry
                for entry in entries
                if entry.filename is None
                or not entry.filename.endswith(".whl")
                or self(entry.filename)
            ]
        by_platform = self._by_platform
        kept: list[Entry] = []
        keep = kept.append
        dropped = 0
        for entry in entries:
            filename = entry.filename
            if filename is None or not filename.endswith(".whl"):
                keep(entry)
                continue
            head, _, field = filename.rpartition("-")
            possible = by_platform.get(field)
            if possible is None:
                tags = field[:-4].lower().split(".")
                possible = by_platform[field] = any(tag in platforms for tag in tags)
            # The filter reads a name with fewer than four fields as malformed (kept, for
            # the full parse to reject): only a well-formed name is dropped here.
            if not possible and head.count("-") >= 2:
                dropped += 1
            elif self(filename):
                keep(entry)
        self.dropped += dropped
        return kept


def _page_listings(
    body: bytes,
    content_type: str,
    url: str,
    keep: KeepWheel | None,
    project: str,
    records: list[JsonRecord] | None = None,
) -> list[Listing]:
    """The page's listings; ``records`` as json_listings fills it (a JSON page only)."""
    kind = content_type.lower()
    if kind in _JSON_TYPES:
        return json_listings(body, url, keep, project, records)
    if kind in _HTML_TYPES:
        return html_listings(body, url, keep, project)
    if not kind:
        raise FetchError(
            f"{redact(url)}: the index answered without a Content-Type, so not with an "
            "index page (HTML or PEP 691 JSON)"
        )
    raise FetchError(
        f"{redact(url)}: the index answered with {content_type[:80]!r}, "
        "not an index page (HTML or PEP 691 JSON)"
    )


_JSON_TYPES = (JSON_TYPE, "application/vnd.pypi.simple.latest+json")


def is_json_type(content_type: str) -> bool:
    """Whether a page of this content type is read as PEP 691 JSON."""
    return content_type.lower() in _JSON_TYPES


_HTML_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.latest+html",
)


_JSON_KEYS = (
    "filename",
    "url",
    "hashes",
    "requires-python",
    "yanked",
    "core-metadata",
    "dist-info-metadata",
    "upload-time",
    "size",
)


def _compact_json(entry: dict[str, Any]) -> tuple[Any, ...]:
    """The fields of a PEP 691 file entry that are used later, as one small tuple: an
    entry is kept for every listed file, so its size adds up over a large lock."""
    return _compact([entry.get(key) for key in _JSON_KEYS])


def _compact_struct(entry: Entry) -> tuple[Any, ...]:
    """_compact_json of an entry msgspec decoded (the same tuple): each key of _JSON_KEYS
    is the attribute of that name with '_' for '-' (``hashes`` holds only the sha256)."""
    return _struct_fields(entry)[0]


_STRUCT_FIELDS = operator.attrgetter(*(key.replace("-", "_") for key in _JSON_KEYS))


def _struct_fields(entry: Entry) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """_compact_struct of an entry and _pack of that, made at once (one call and no
    intermediate tuples for each of the many files a page lists)."""
    filename, url, hashes, requires, yanked, core, dist_info, uploaded, size = _STRUCT_FIELDS(entry)
    sha = hashes.sha256 if hashes is not None else None
    if core is not None:
        dist_info = None
    if isinstance(requires, str):
        requires = sys.intern(requires)
    fields = (filename, url, sha, requires, yanked, core, dist_info, uploaded, size)
    packed_sha = _packed_sha(sha)
    cut = _url_cut(url, filename)
    if cut is not None:
        return fields, (filename, cut, packed_sha, *fields[3:], True)
    return fields, (filename, url, packed_sha, *fields[3:])


def _compact(values: list[Any]) -> tuple[Any, ...]:
    hashes = values[2]
    if isinstance(hashes, dict):
        values[2] = hashes.get("sha256")
    if values[5] is not None:
        values[6] = None
    if isinstance(values[3], str):
        values[3] = sys.intern(values[3])
    return tuple(values)


def _pack(fields: tuple[Any, ...]) -> tuple[Any, ...]:
    """_compact's fields as a listing keeps them: a sha256 in lowercase hex as its 32
    bytes, and a URL that ends with ``/`` and the file name without the name (a tenth
    field says so). A URL is most of a listing's size, and the file name is kept anyway;
    together about a hundred bytes less for each of a large lock's 100k listings."""
    filename, url, sha = fields[0], fields[1], fields[2]
    packed_sha = _packed_sha(sha)
    if packed_sha is not sha:
        fields = (*fields[:2], packed_sha, *fields[3:])
    cut = _url_cut(url, filename)
    if cut is not None:
        return (fields[0], cut, *fields[2:], True)
    return fields


def _packed_sha(sha: Any) -> Any:
    """A sha256 in lowercase hex as its 32 bytes; anything else as it is (so that it is
    read back as it was: not upper case, no spaces)."""
    if isinstance(sha, str) and len(sha) == 64:
        try:
            digest = bytes.fromhex(sha)
        except ValueError:
            return sha
        if digest.hex() == sha:
            return digest
    return sha


def _url_cut(url: Any, filename: Any) -> str | None:
    """``url`` without ``filename`` when it ends with ``/`` and that name, else None."""
    if (
        isinstance(url, str)
        and isinstance(filename, str)
        and filename
        and url.endswith(filename)
        and url[-len(filename) - 1 : -len(filename)] == "/"
    ):
        return url[: -len(filename)]
    return None


def _unpack(packed: tuple[Any, ...]) -> tuple[Any, ...]:
    """The fields _pack was given."""
    sha = packed[2]
    if len(packed) > len(_JSON_KEYS):
        url = packed[1] + packed[0]
        rest = packed[3 : len(_JSON_KEYS)]
    else:
        url = packed[1]
        rest = packed[3:]
    return (packed[0], url, sha.hex() if isinstance(sha, bytes) else sha, *rest)


class _JsonFile:
    """How a JSON page's listing becomes a DistFile: the entry's fields (_compact, kept
    packed) and the (page URL, project) pair shared by every file of the page. A listing
    is kept for every usable file of every page a run reads (over a hundred thousand on a
    large lock), so this is a two-slot object rather than a partial with its own keyword
    table."""

    __slots__ = ("origin", "packed")

    def __init__(self, fields: tuple[Any, ...], origin: tuple[str, str | None]) -> None:
        self.packed = _pack(fields)
        self.origin = origin

    @classmethod
    def of_packed(cls, packed: tuple[Any, ...], origin: tuple[str, str | None]) -> _JsonFile:
        """The file whose fields _pack made ``packed``."""
        made = cls.__new__(cls)
        made.packed = packed
        made.origin = origin
        return made

    @property
    def fields(self) -> tuple[Any, ...]:
        """The fields as _compact made them."""
        return _unpack(self.packed)

    def __call__(self, project: str | None = None) -> DistFile | None:
        page_url, page_project = self.origin
        return _json_compact_entry(self.fields, page_url, project or page_project)


def _json_compact_entry(
    fields: tuple[Any, ...], page_url: str, project: str | None = None
) -> DistFile | None:
    entry = {k: v for k, v in zip(_JSON_KEYS, fields, strict=True) if v is not None}
    if "hashes" in entry:
        entry["hashes"] = {"sha256": entry["hashes"]}
    return _json_entry(entry, page_url, project)


# A JSON page's listing as kept by listcache: file name, project name and version as
# _listing read them, upload time, and the fields _compact keeps (the page's URL and the
# project asked for are the cache key's).
JsonRecord = tuple[str, str, str, Any, tuple[Any, ...]]


def json_records(listings: Iterable[Listing]) -> list[JsonRecord] | None:
    """What ``json_listings_from_records`` needs to make ``listings`` again; None when one
    of them is not a JSON page's listing."""
    records: list[JsonRecord] = []
    for item in listings:
        make = item.make
        if not isinstance(make, _JsonFile):
            return None
        records.append((item.filename, item.name, item.version_text, item.upload_time, make.fields))
    return records


def json_listings_from_records(
    records: Iterable[JsonRecord], page_url: str, project: str
) -> list[Listing]:
    """The listings ``json_listings`` made from the page at ``page_url``, from records of
    them (names and versions were checked when they were first read; the wheels the
    filter dropped were never recorded)."""
    # Strings a record repeats (the version of every file of a release; the file name and
    # upload time, also among the fields) are kept once: each copy lasts the whole run.
    versions: dict[str, tuple[str, Version]] = {}
    listings: list[Listing] = []
    origin = (page_url, project)
    for filename, name, version_text, upload_time, fields in records:
        known = versions.get(version_text)
        if known is None:
            parsed = parsed_version(version_text)
            if parsed is False:
                raise ValueError(f"not a version: {version_text!r}")
            known = versions[version_text] = (version_text, parsed)
        if upload_time is not None and upload_time == fields[7]:
            upload_time = fields[7]
        if filename == fields[0]:
            filename = fields[0]
        listings.append(
            Listing(
                filename,
                _canonical(name),
                known[1],
                known[0],
                upload_time,
                _JsonFile(fields, origin),
            )
        )
    return listings


def _materialize(listings: Iterable[Listing]) -> list[DistFile]:
    return [dist for item in listings if (dist := item.dist()) is not None]


def parse_html_page(body: bytes, page_url: str) -> list[DistFile]:
    """Distribution files on a PEP 503 HTML page (or a find-links HTML page)."""
    return _materialize(html_listings(body, page_url))


def _html_entry(
    attrs: dict[str, str | None], base: str, page_url: str, project: str | None = None
) -> DistFile | None:
    href = attrs.get("href")
    if not href:
        return None
    absolute, sha = _hash_fragment(urljoin(base, href))
    if not _followable(absolute, page_url):
        return None
    filename = unquote(urlsplit(absolute).path.rsplit("/", 1)[-1])
    metadata: str | bool | None = None
    for attr in ("data-core-metadata", "data-dist-info-metadata"):
        if attr in attrs:
            metadata = attrs[attr] if attrs[attr] is not None else True
            break
    return make_dist_file(
        filename,
        absolute,
        sha256=sha,
        requires_python=attrs.get("data-requires-python"),
        yanked=(attrs["data-yanked"] or True) if "data-yanked" in attrs else None,
        metadata=metadata,
        project=project,
    )


def parse_json_page(body: bytes, page_url: str) -> list[DistFile]:
    """Distribution files on a PEP 691 JSON page."""
    return _materialize(json_listings(body, page_url))


def _json_entry(entry: Any, page_url: str, project: str | None = None) -> DistFile | None:
    if not isinstance(entry, dict) or "filename" not in entry or "url" not in entry:
        return None
    absolute, frag_sha = _hash_fragment(urljoin(page_url, str(entry["url"])))
    if not _followable(absolute, page_url):
        return None
    hashes = entry.get("hashes") or {}
    sha = checked_sha256(hashes.get("sha256")) if isinstance(hashes, dict) else None
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
    return make_dist_file(
        str(entry["filename"]),
        absolute,
        sha256=sha or frag_sha,
        requires_python=entry.get("requires-python"),
        yanked=entry.get("yanked"),
        metadata=metadata,
        upload_time=entry.get("upload-time"),
        project=project,
        size=entry.get("size"),
    )
