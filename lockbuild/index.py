"""Index client: Simple Repository API pages (PEP 503 HTML, PEP 691 JSON), find-links
directories, PEP 658/714 metadata files and verified downloads."""

from __future__ import annotations

import base64
import errno
import functools
import hashlib
import io
import json
import os
import queue
import re
import stat
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import pathname2url, url2pathname

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from . import limits
from .cache import Cache, CachedPage, sha256_hex
from .errors import FetchError
from .filename import parse_sdist, sdist_stem, split_sdist
from .model import DistFile
from .spec import IndexOptions

if TYPE_CHECKING:
    import httpx

    from .pagejson import Entry

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def redact(url: str) -> str:
    """``url`` with any password or token replaced by ``****``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:****" if ":" in userinfo else "****"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def redact_text(text: str) -> str:
    """Every URL inside ``text`` redacted."""
    return re.sub(r"[a-z][a-z0-9+.-]*://[^\s'\"]+", lambda m: redact(m.group(0)), text)


def pip_default_index() -> str:
    """The index pip uses when none is configured, taken from pip itself."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError as exc:  # pragma: no cover - pip ships with every venv
        raise FetchError(
            "cannot find pip's default index (pip is not importable); pass --index-url"
        ) from exc
    return str(PyPI.simple_url)


# Where pip looks for its configuration depends on these (and on the PIP_* variables).
_PIP_CONFIG_ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "VIRTUAL_ENV",
)


def _stat_signature(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        # A device (PIP_CONFIG_FILE=/dev/null): its times say nothing about its content.
        return [st.st_mode, st.st_rdev]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def pip_config_options(cache: Cache | None = None) -> IndexOptions:
    """Index options from pip's configuration files and PIP_* variables, as pip reads them.

    pip's configuration code takes longer to import than a small lock takes to resolve, so
    the answer is kept in ``cache`` with the state of every file pip would read, and
    reused while none of them (nor pip, nor the environment) has changed."""
    try:
        import pip
    except ImportError:  # pragma: no cover
        return IndexOptions()
    situation = {
        "pip": pip.__version__,
        "prefix": sys.prefix,
        "platform": sys.platform,
        "env": sorted(
            (k, v) for k, v in os.environ.items() if k.startswith("PIP_") or k in _PIP_CONFIG_ENV
        ),
    }
    key = sha256_hex(json.dumps(situation, sort_keys=True).encode())
    record = cache.get_json("pip-config", key) if cache is not None else None
    if isinstance(record, dict):
        try:
            if all(_stat_signature(path) == state for path, state in record["files"]):
                kept = record["options"]
                return IndexOptions(
                    index_url=kept["index_url"],
                    extra_index_urls=tuple(kept["extra_index_urls"]),
                    find_links=tuple(kept["find_links"]),
                    no_index=bool(kept["no_index"]),
                )
        except (KeyError, TypeError, ValueError):
            pass
    opts, files = _read_pip_config()
    if cache is not None and files is not None:
        cache.put_json(
            "pip-config",
            key,
            {
                "files": [[path, _stat_signature(path)] for path in files],
                "options": {
                    "index_url": opts.index_url,
                    "extra_index_urls": list(opts.extra_index_urls),
                    "find_links": list(opts.find_links),
                    "no_index": opts.no_index,
                },
            },
        )
    return opts


def _read_pip_config() -> tuple[IndexOptions, list[str] | None]:
    """The options, and every file pip considered (None when pip cannot say)."""
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.exceptions import ConfigurationError
    except ImportError:  # pragma: no cover
        return IndexOptions(), None
    config = Configuration(isolated=False)
    try:
        config.load()
    except ConfigurationError as exc:
        raise FetchError(f"pip configuration: {exc}") from None
    files: list[str] | None
    try:
        files = sorted({path for _, paths in config.iter_config_files() for path in paths})
    except AttributeError:  # an older pip without iter_config_files
        files = None
    merged: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):  # newer pip: one dict per file, in precedence order
            merged.update(value)
        else:  # older pip: the merged key/value pairs
            merged[key] = value
    values: dict[str, str] = {}
    for section in ("global", "install", "download", ":env:"):  # later ones win
        for key, value in merged.items():
            scope, _, option = key.partition(".")
            if scope == section:
                values[option] = str(value)
    opts = IndexOptions(
        index_url=values.get("index-url") or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        no_index=values.get("no-index", "").lower() in ("1", "true", "yes", "on"),
    )
    return opts, files


def parse_filename(
    filename: str, project: str | None = None
) -> tuple[NormalizedName, Version, bool, frozenset[Tag], Any]:
    """Name, version, is-wheel, tags and build tag of a distribution file name; an sdist's
    name is read as pip does, knowing the ``project`` the page is for (filename.py).

    Raises ValueError for names that are not wheels or sdists.
    """
    if filename.endswith(".whl"):
        try:
            name, version, build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise ValueError(str(exc)) from None
        return name, version, True, tags, tuple(build)
    if sdist_stem(filename) is not None:
        name, version = parse_sdist(filename, project)
        return name, version, False, frozenset(), ()
    raise ValueError(f"not a wheel or sdist: {filename}")


def checked_sha256(value: Any) -> str | None:
    """A sha256 an index gave, lowercased; None when it gave none.

    Raises ValueError when it is not 64 hex digits: such a file can be neither verified
    nor named in the cache, so it is not offered at all.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and _SHA256.fullmatch(value):
        return value.lower()
    raise ValueError(f"malformed sha256 {value!r}")


def _hash_fragment(url: str) -> tuple[str, str | None]:
    """The URL without fragment, and the sha256 named in its fragment if any."""
    base, _, fragment = url.partition("#")
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key == "sha256":
            return base, checked_sha256(value)
    return base, None


def _metadata_attr(value: Any) -> tuple[bool, str | None]:
    """Parse a PEP 658/714 metadata attribute (HTML string or JSON value)."""
    if value is None or value is False:
        return False, None
    if value is True:
        return True, None
    # Metadata whose hash is malformed cannot be checked: the wheel (hash-checked) is
    # downloaded instead.
    try:
        if isinstance(value, dict):
            return True, checked_sha256(value.get("sha256"))
        text = str(value).strip()
        if text.lower() == "true" or text == "":
            return True, None
        key, _, digest = text.partition("=")
        return (True, checked_sha256(digest)) if key == "sha256" else (False, None)
    except ValueError:
        return False, None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _specifier(value: Any) -> SpecifierSet | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        return None  # pip ignores a malformed requires-python


def make_dist_file(
    filename: str,
    url: str,
    *,
    sha256: str | None = None,
    requires_python: Any = None,
    yanked: Any = None,
    metadata: Any = None,
    upload_time: Any = None,
    project: str | None = None,
    size: Any = None,
) -> DistFile | None:
    """A DistFile from the fields an index offers, or None for a file that is not a dist;
    ``project`` is the project whose page lists it (None: not known)."""
    if any(c in filename for c in "/\\") or not filename.isprintable():
        return None  # a name no index should give; it would also garble messages
    try:
        name, version, is_wheel, tags, build = parse_filename(filename, project)
    except ValueError:
        return None
    has_metadata, metadata_sha = _metadata_attr(metadata) if is_wheel else (False, None)
    if yanked is True:
        yanked_reason: str | None = ""
    elif yanked in (None, False):
        yanked_reason = None
    else:
        yanked_reason = str(yanked)
    return DistFile(
        filename=filename,
        url=url,
        name=name,
        version=version,
        is_wheel=is_wheel,
        tags=tags,
        sha256=sha256,
        requires_python=_specifier(requires_python),
        yanked=yanked_reason,
        metadata_sha256=metadata_sha,
        has_metadata=has_metadata,
        upload_time=_parse_time(upload_time),
        build_tag=build,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
    )


class _AnchorParser(HTMLParser):
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


def _followable(url: str, page_url: str) -> bool:
    """Only http(s) links are followed, and file links only from a local page: a remote
    index must not make lockbuild read the machine's own files."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return urlsplit(page_url).scheme == "file"
    return scheme in ("http", "https")


class Listing:
    """A file as a page lists it, with only its name and version parsed: the rest (URL,
    tags, hashes, requires-python) is parsed by ``dist()`` for the releases looked at.
    Pages of popular projects list tens of thousands of files; most are never needed.
    (A plain slotted class: tens of thousands are made per project.)"""

    __slots__ = ("filename", "make", "name", "upload_time", "version", "version_text")

    def __init__(
        self,
        filename: str,
        name: NormalizedName,
        version: Version,
        version_text: str,
        upload_time: Any,
        make: Callable[..., DistFile | None] | None,
    ) -> None:
        self.filename = filename
        self.name = name
        self.version = version
        self.version_text = version_text
        self.upload_time = upload_time
        self.make = make

    def dist(self) -> DistFile | None:
        """The parsed file; None when it is not offered (bad link, malformed hash...)."""
        if self.make is None:
            return None
        try:
            return self.make()
        except ValueError:
            return None


@functools.lru_cache(maxsize=8192)
def _canonical(name: str) -> NormalizedName:
    return canonicalize_name(name)


def quick_name_version(filename: str, project: str | None = None) -> tuple[str, str] | None:
    """Name and version strings of a wheel or sdist file name, without parsing tags."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return (parts[0], parts[1]) if len(parts) in (5, 6) else None
    return split_sdist(filename, project)


KeepWheel = Callable[[str], bool]


def _for_project(item: Listing, project: NormalizedName) -> Listing:
    """A find-links sdist (listed for every project) read again knowing the project it
    is asked for: ``pybbox-0.0.5-alpha.zip`` is pybbox's, whatever the last '-' says."""
    if item.name == project or item.make is None:
        return item
    found = split_sdist(item.filename, project)
    if found is None:
        return item
    try:
        version = Version(found[1])
    except InvalidVersion:
        return item
    make = functools.partial(item.make, project=project)
    return Listing(item.filename, project, version, found[1], item.upload_time, make)


def _listing(
    filename: str,
    upload_time: Any,
    make: Callable[[], DistFile | None] | None,
    versions: dict[str, Any],
    keep: KeepWheel | None = None,
    project: str | None = None,
) -> Listing | None:
    """The listing of one file, or None when the target can never use it or its name is
    not a distribution's. ``make`` may be None and set by the caller afterwards, so that
    nothing is built for the many files that are dropped."""
    if keep is not None and filename.endswith(".whl") and not keep(filename):
        return None  # a wheel the target can never use: not even listed
    parsed = quick_name_version(filename, project)
    if parsed is None or "/" in filename or "\\" in filename:
        return None
    name, version_text = parsed
    version = versions.get(version_text)
    if version is None:
        try:
            version = versions[version_text] = Version(version_text)
        except InvalidVersion:
            versions[version_text] = False
            return None
    if version is False:
        return None
    return Listing(filename, _canonical(name), version, version_text, upload_time, make)


def html_listings(
    body: bytes, page_url: str, keep: KeepWheel | None = None, project: str | None = None
) -> list[Listing]:
    """Files on a PEP 503 HTML page (or a find-links HTML page), parsed lazily;
    ``project`` is the project the page is for (None for find-links pages)."""
    parser = _AnchorParser()
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
    body: bytes, page_url: str, keep: KeepWheel | None = None, project: str | None = None
) -> list[Listing]:
    """Files on a PEP 691 JSON page, parsed lazily."""
    from . import pagejson  # msgspec is imported once a JSON page is read (not on replay)

    _check_api_version(body, page_url)
    entries = pagejson.decode_files(body)
    if entries is None:  # not in PEP 691's shape: the standard library says why
        return _stdlib_json_listings(body, page_url, keep, project)
    versions: dict[str, Any] = {}
    listings: list[Listing] = []
    for entry in entries:
        filename = entry.filename
        if filename is None:
            continue
        item = _listing(filename, entry.upload_time, None, versions, keep, project)
        if item is not None:
            item.make = functools.partial(
                _json_compact_entry, _compact_struct(entry), page_url, project=project
            )
            listings.append(item)
    return listings


_API_VERSION = re.compile(rb'"api-version"\s*:\s*"([^"\\]{0,40})"')


def _check_api_version(body: bytes, page_url: str) -> None:
    """PEP 629: a page whose major API version is not 1 must not be read. The version
    sits in the small ``meta`` object; one bounded search finds it without decoding."""
    match = _API_VERSION.search(body, 0, 4096) or _API_VERSION.search(body)
    if match is None:
        return
    version = match.group(1).decode("utf-8", "replace")
    if version.split(".")[0] != "1":
        raise FetchError(
            f"{redact(page_url)}: index API version {version[:20]!r} is not supported "
            "(lockbuild reads version 1.x)"
        )


def _stdlib_json_listings(
    body: bytes, page_url: str, keep: KeepWheel | None = None, project: str | None = None
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
            item.make = functools.partial(
                _json_compact_entry, _compact_json(entry), page_url, project=project
            )
            listings.append(item)
    return listings


class _CountingKeep:
    """A wheel filter that counts what it drops (for an error that says why)."""

    def __init__(self, keep: KeepWheel) -> None:
        self.keep = keep
        self.dropped = 0

    def __call__(self, filename: str) -> bool:
        if self.keep(filename):
            return True
        self.dropped += 1
        return False


def _page_listings(
    body: bytes, content_type: str, url: str, keep: KeepWheel | None, project: str
) -> list[Listing]:
    kind = content_type.lower()
    if kind in _JSON_TYPES:
        return json_listings(body, url, keep, project)
    if kind in _HTML_TYPES or not kind:
        return html_listings(body, url, keep, project)
    raise FetchError(
        f"{redact(url)}: the index answered with {content_type[:80]!r}, "
        "not an index page (HTML or PEP 691 JSON)"
    )


_JSON_TYPES = (JSON_TYPE, "application/vnd.pypi.simple.latest+json")
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
    is the attribute of that name with '_' for '-'."""
    return _compact([getattr(entry, key.replace("-", "_")) for key in _JSON_KEYS])


def _compact(values: list[Any]) -> tuple[Any, ...]:
    hashes = values[2]
    if isinstance(hashes, dict):
        values[2] = hashes.get("sha256")
    if values[5] is not None:
        values[6] = None
    if isinstance(values[3], str):
        values[3] = sys.intern(values[3])
    return tuple(values)


def _json_compact_entry(
    fields: tuple[Any, ...], page_url: str, project: str | None = None
) -> DistFile | None:
    entry = {k: v for k, v in zip(_JSON_KEYS, fields, strict=True) if v is not None}
    if "hashes" in entry:
        entry["hashes"] = {"sha256": entry["hashes"]}
    return _json_entry(entry, page_url, project)


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


@dataclass(frozen=True)
class Sources:
    """Where to look for distributions: index URLs in order, then find-links locations."""

    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]

    @classmethod
    def from_options(cls, options: IndexOptions) -> Sources:
        if options.no_index:
            indexes: tuple[str, ...] = ()
        else:
            primary = options.index_url or pip_default_index()
            indexes = (primary, *options.extra_index_urls)
        return cls(tuple(u.rstrip("/") + "/" for u in indexes), options.find_links)


def local_path(url: str) -> Path:
    """The path a ``file:`` URL names."""
    return Path(url2pathname(unquote(urlsplit(url).path)))


def file_url(path: Path) -> str:
    return "file://" + pathname2url(str(path.resolve()))


class Fetcher:
    """Bytes from http(s) and file URLs, with bounded retries and page revalidation."""

    def __init__(
        self, cache: Cache, *, offline: bool = False, timeout: float = 30.0, refresh: bool = False
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.refresh = refresh  # revalidate every page, fresh or not
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._auth = Credentials()
        self.request_count = 0
        # What this run read, so that a later identical run can check it (see replay.py):
        # each page's sha256 (None: the index has no such page), and why the run cannot be
        # replayed at all ('' while it can).
        self.pages_read: dict[str, str | None] = {}
        self.unrepeatable = ""
        self._preloaded: dict[str, tuple[bytes, str, str] | None] = {}

    def client(self) -> httpx.Client:
        with self._lock:
            if self._closed:
                raise FetchError("the index client was closed (interrupted)")
            if self._client is None:
                import httpx

                verify: Any = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT") or True
                self._client = httpx.Client(
                    timeout=self.timeout,
                    follow_redirects=True,
                    verify=verify,
                    trust_env=True,
                    auth=self._auth,
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                    headers={"User-Agent": "lockbuild"},
                    # HTTP/1.1 with a pool of kept-alive connections: httpcore's HTTP/2
                    # connection is not safe across the worker threads (seen here: a
                    # KeyError in its stream bookkeeping under concurrent requests).
                    http2=False,
                )
            return self._client

    def close(self) -> None:
        """Close connections; requests still running in other threads fail and stop retrying."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def get_page(self, url: str) -> tuple[bytes, str, str] | None:
        """Body, content type and final URL of an index page; None when it does not exist."""
        with self._lock:
            preloaded = url in self._preloaded
            page = self._preloaded.pop(url, None)
        if not preloaded:
            page = self._get_page(url)
        if url.startswith("file:"):
            self.refuse_replay(f"{url} is a local page")
        else:
            digest = None if page is None else sha256_hex(page[0])
            with self._lock:
                self.pages_read[url] = digest
        return page

    def preload(self, url: str, page: tuple[bytes, str, str] | None) -> None:
        """A page already fetched in this run: the next get_page of ``url`` returns it."""
        with self._lock:
            self._preloaded[url] = page

    def refuse_replay(self, why: str) -> None:
        with self._lock:
            self.unrepeatable = self.unrepeatable or why

    def _get_page(self, url: str) -> tuple[bytes, str, str] | None:
        limit = limits.max_page_bytes()
        if url.startswith("file:"):
            path = local_path(url)
            try:
                if path.is_dir():
                    path = path / "index.html"
                if path.stat().st_size > limit:
                    raise FetchError(f"{redact(url)}: page larger than {limit} bytes")
                return path.read_bytes(), "text/html", url
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    return None  # no project of that name can be on a local index
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        fresh = self.cache.get_page(url, body=False)
        usable = fresh is not None and (
            self.offline
            or (
                not self.refresh
                and fresh.fresh_until is not None
                and time.time() < fresh.fresh_until
            )
        )
        needs_body = usable or (fresh is not None and bool(fresh.etag or fresh.last_modified))
        cached = self.cache.with_body(fresh) if needs_body and fresh is not None else fresh
        if self.offline:
            if cached is None:
                raise FetchError(f"{redact(url)}: not in the cache (--offline)")
            return None if cached.missing else (cached.body, cached.content_type, url)
        if (
            cached is not None
            and not self.refresh
            and cached.fresh_until is not None
            and time.time() < cached.fresh_until
        ):
            # Still fresh by the index's own Cache-Control: no request, as pip and uv do.
            return None if cached.missing else (cached.body, cached.content_type, url)
        headers = {"Accept": ACCEPT}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._request(url, headers, limit)
        if response is None:
            # Remembered so that --offline knows the project is not on this index.
            self.cache.put_page(CachedPage(url, b"", "", None, None, missing=True))
            return None
        status, body, resp_headers, final_url = response
        fresh_until = _fresh_until(resp_headers.get("cache-control"))
        if status == 304 and cached is not None and not cached.missing and cached.body:
            if fresh_until is not None:
                self.cache.put_page(replace(cached, fresh_until=fresh_until))
            return cached.body, cached.content_type, url
        content_type = resp_headers.get("content-type", "text/html").split(";")[0].strip()
        self.cache.put_page(
            CachedPage(
                url=url,
                body=body,
                content_type=content_type,
                etag=resp_headers.get("etag"),
                last_modified=resp_headers.get("last-modified"),
                fresh_until=fresh_until,
            )
        )
        return body, content_type, final_url

    def get_bytes(self, url: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The body at ``url``; a missing file is an error."""
        if url.startswith("file:"):
            try:
                return local_path(url).read_bytes()
            except OSError as exc:
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        if self.offline:
            raise FetchError(f"{redact(url)}: not in the cache (--offline)")
        response = self._request(url, {}, limit)
        if response is None:
            raise FetchError(f"{redact(url)}: not found (404)")
        return response[1]

    def get_range(self, url: str, first: int | None, last: int) -> tuple[bytes, int | None]:
        """Bytes ``first``..``last`` (inclusive) of the file at ``url``, or its last ``last``
        bytes when ``first`` is None, with the file's whole size; a server that ignores
        the Range header sends the whole file, and the size is then None."""
        if self.offline:
            raise FetchError(f"{redact(url)}: not in the cache (--offline)")
        spec = f"bytes=-{last}" if first is None else f"bytes={first}-{last}"
        # identity: a range of an encoded body would be a range of other bytes
        response = self._request(
            url, {"Range": spec, "Accept-Encoding": "identity"}, MAX_FILE_BYTES
        )
        if response is None:
            raise FetchError(f"{redact(url)}: not found (404)")
        status, body, headers, _ = response
        if status != 206:
            return body, None
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        if match is None:
            raise FetchError(f"{redact(url)}: malformed Content-Range in a partial answer")
        start, end, total = (int(g) for g in match.groups())
        expected_start = max(0, total - last) if first is None else first
        if start != expected_start or end - start + 1 != len(body) or end >= total:
            raise FetchError(f"{redact(url)}: the partial answer is not the range asked for")
        return body, total

    def _request(
        self, url: str, headers: dict[str, str], limit: int
    ) -> tuple[int, bytes, Any, str] | None:
        """GET ``url``: None for 404/410; timeouts, resets, 5xx and short bodies are retried
        with backoff, a bounded number of times; anything else fails at once."""
        import httpx

        attempts = limits.retries()
        deadline = limits.deadline()
        delay = 0.25
        last_error = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(delay)
                delay *= 2
            with self._lock:
                self.request_count += 1
            started = time.monotonic()
            try:
                with self.client().stream("GET", url, headers=headers) as response:
                    if response.status_code == 404 or response.status_code == 410:
                        return None
                    if response.status_code >= 500 or response.status_code == 429:
                        last_error = f"HTTP {response.status_code}"
                        continue
                    if response.status_code in (401, 403):
                        raise FetchError(
                            f"{redact(url)}: access denied (HTTP {response.status_code})"
                        )
                    allowed = (200, 203, 304, 206) if "Range" in headers else (200, 203, 304)
                    if response.status_code not in allowed:
                        raise FetchError(f"{redact(url)}: HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError(f"{redact(url)}: response larger than {limit} bytes")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > limit:
                            raise FetchError(f"{redact(url)}: response larger than {limit} bytes")
                        if time.monotonic() - started > deadline:
                            raise FetchError(
                                f"{redact(url)}: response still incomplete after {deadline:g}s "
                                "(LOCKBUILD_DEADLINE)"
                            )
                    return response.status_code, bytes(body), response.headers, str(response.url)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise FetchError(f"{redact(url)}: cannot fetch: {redact_text(str(exc))}") from None
            except httpx.TimeoutException:
                last_error = f"timed out after {self.timeout:g}s"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            if self._closed:
                break
        raise FetchError(f"{redact(url)}: failed after {attempts} attempts ({last_error})")


class RemoteFile(io.RawIOBase):
    """A file on a server, read through HTTP range requests, for ``zipfile`` to seek
    around in: what was read is kept, and each miss fetches at least ``MIN_FETCH`` bytes,
    so reading a wheel's METADATA takes one to three requests."""

    MIN_FETCH = 64 * 1024
    MAX_REQUESTS = 12

    def __init__(self, fetcher: Fetcher, url: str, size: int, tail: bytes) -> None:
        super().__init__()
        self._fetcher = fetcher
        self._url = url
        self._size = size
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = [(size - len(tail), tail)]
        self.requests = 1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._size - self._pos)
        if count <= 0:
            return 0
        data = self._bytes(self._pos, count)
        view[:count] = data
        self._pos += count
        return count

    def _bytes(self, start: int, count: int) -> bytes:
        for span_start, chunk in self._spans:
            if span_start <= start and start + count <= span_start + len(chunk):
                return chunk[start - span_start : start - span_start + count]
        if self.requests >= self.MAX_REQUESTS:
            raise FetchError(f"{redact(self._url)}: too many range requests for one file")
        self.requests += 1
        last = min(self._size, start + max(count, self.MIN_FETCH)) - 1
        chunk, total = self._fetcher.get_range(self._url, start, last)
        if total != self._size:
            raise FetchError(f"{redact(self._url)}: the file changed between range requests")
        self._spans.append((start, chunk))
        return chunk[:count]


class Credentials:
    """HTTP basic auth as pip sends it: the credentials in the URL; else those last given
    in a URL for the same scheme, host and port (an index URL's, for its files); else the
    host's entry in the netrc file. The credentials never leave this object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str, int | None], tuple[str, str] | None] = {}

    def __call__(self, request: httpx.Request) -> httpx.Request:
        url = request.url
        key = (url.scheme, url.host, url.port)
        found: tuple[str, str] | None
        if url.username or url.password:
            found = (url.username, url.password)
            with self._lock:
                self._known[key] = found
        else:
            with self._lock:
                known = key in self._known
                found = self._known.get(key)
            if not known:
                found = netrc_credentials(url.host)
                with self._lock:
                    self._known.setdefault(key, found)
        if found is not None:
            token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
            request.headers["Authorization"] = f"Basic {token}"
        return request


def netrc_credentials(host: str) -> tuple[str, str] | None:
    """Login and password for ``host`` from $NETRC or ~/.netrc (~/_netrc), found and read
    the way pip (through requests) does; an unreadable file is ignored."""
    import netrc

    env = os.environ.get("NETRC")
    candidates = [env] if env else ["~/.netrc", "~/_netrc"]
    for candidate in candidates:
        path = os.path.expanduser(candidate)
        if not os.path.exists(path):
            continue
        try:
            entry = netrc.netrc(path).authenticators(host)
        except (netrc.NetrcParseError, OSError, UnicodeDecodeError):
            return None
        if entry is None:
            return None
        login, account, password = entry
        return (login or account or ""), (password or "")
    return None


T = TypeVar("T")


def _fresh_until(cache_control: str | None) -> float | None:
    """When a response stops being fresh by its Cache-Control (None: revalidate always)."""
    if not cache_control:
        return None
    directives = {d.strip().split("=", 1)[0].lower(): d for d in cache_control.split(",")}
    if {"no-cache", "no-store"} & set(directives):
        return None
    match = re.search(r"max-age\s*=\s*(\d+)", cache_control)
    return time.time() + int(match.group(1)) if match else None


class DaemonPool:
    """Worker threads for network fetches. Unlike ThreadPoolExecutor's, they are daemon
    threads: an interrupted run exits at once instead of waiting at exit for requests in
    flight (a stalled index would otherwise hold a Ctrl-C for a whole timeout)."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            self._queue.put((future, lambda: fn(*args)))
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="lockbuild-fetch", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Cancel what has not started; running fetches end on their own."""
        with self._lock:
            self._closed = True
            threads = len(self._threads)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in range(threads):
            self._queue.put(None)


class IndexClient:
    """All distribution files of a project across every source, and their contents."""

    def __init__(
        self,
        sources: Sources,
        cache: Cache,
        *,
        offline: bool = False,
        workers: int = 8,
        exclude_newer: datetime | None = None,
        keep_wheel: KeepWheel | None = None,
        all_files: bool = False,
        refresh: bool = False,
    ) -> None:
        """``keep_wheel`` drops wheels the target cannot use while pages are read (most of
        a popular project's files); ``all_files`` keeps the pages (compressed) so that
        ``version_files`` can still list every file of a release, for hashes."""
        self.keep_wheel = keep_wheel
        self.all_files = all_files
        self._pages: dict[str, list[tuple[bytes, str, str]]] = {}
        self._dropped: dict[str, int] = {}
        self._parsing = threading.BoundedSemaphore(1)
        self.sources = sources
        self.cache = cache
        self.fetcher = Fetcher(cache, offline=offline, timeout=limits.timeout(), refresh=refresh)
        self.exclude_newer = exclude_newer
        # The earliest upload time a file was left out for (replay of a relative cut-off
        # is valid while the cut-off has not reached it).
        self.first_excluded: datetime | None = None
        self._pool = DaemonPool(workers)
        self._lock = threading.Lock()
        self._files: dict[str, Future[tuple[Listing, ...]]] = {}
        self._metadata: dict[str, Future[bytes]] = {}
        self._find_links: tuple[Listing, ...] | None = None

    def close(self) -> None:
        self._pool.shutdown()
        self.fetcher.close()

    def fetch_pages(self, urls: Iterable[str]) -> dict[str, tuple[bytes, str, str] | None]:
        """Fetch (or revalidate) the pages at ``urls`` in parallel; a page that cannot be
        fetched is left out (whoever needs it later fetches it again and reports why)."""
        futures = {url: self._pool.submit(self.fetcher.get_page, url) for url in urls}
        pages: dict[str, tuple[bytes, str, str] | None] = {}
        for url, future in futures.items():
            try:
                pages[url] = future.result()
            except FetchError:
                continue
        return pages

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching the pages of ``names`` in the background."""
        for name in names:
            self._files_future(canonicalize_name(name))

    def listings(self, name: str) -> tuple[Listing, ...]:
        """Every file of project ``name`` from all sources, parsed lazily (empty if none)."""
        return self._files_future(canonicalize_name(name)).result()

    def files(self, name: str) -> tuple[DistFile, ...]:
        """Every usable file of project ``name``, fully parsed."""
        return tuple(_materialize(self.listings(name)))

    def _files_future(self, name: NormalizedName) -> Future[tuple[Listing, ...]]:
        with self._lock:
            future = self._files.get(name)
            if future is None:
                future = self._pool.submit(self._collect, name)
                self._files[name] = future
            return future

    def _collect(self, name: NormalizedName) -> tuple[Listing, ...]:
        keep = _CountingKeep(self.keep_wheel) if self.keep_wheel else None
        listings = self._accepted(name, self._iter_project(name, keep))
        if keep is not None:
            with self._lock:
                self._dropped[name] = keep.dropped
        return listings

    def dropped_wheels(self, name: str) -> int:
        """How many wheels of ``name`` were passed over as unusable on the target."""
        with self._lock:
            return self._dropped.get(canonicalize_name(name), 0)

    def _accepted(self, name: NormalizedName, items: Iterable[Listing]) -> tuple[Listing, ...]:
        found: dict[str, Listing] = {}
        for item in items:
            if item.name != name:
                continue
            if self.exclude_newer is not None:
                uploaded = _parse_time(item.upload_time)
                if uploaded is None:
                    raise FetchError(
                        f"{item.filename}: the index gives no upload time, "
                        "which --exclude-newer needs"
                    )
                if uploaded >= self.exclude_newer:  # uv's comparison: the cut-off is out
                    with self._lock:
                        if self.first_excluded is None or uploaded < self.first_excluded:
                            self.first_excluded = uploaded
                    continue
            found.setdefault(item.filename, item)
        return tuple(found.values())

    def _iter_project(
        self, name: NormalizedName, keep: KeepWheel | None = None
    ) -> Iterator[Listing]:
        for index in self.sources.index_urls:
            page_url = f"{index}{name}/"
            page = self.fetcher.get_page(page_url)
            if page is None:
                continue
            body, content_type, final_url = page
            if self.all_files:
                with self._lock:
                    self._pages.setdefault(name, []).append(
                        (zlib.compress(body, 1), content_type, final_url)
                    )
            # Parsing holds the GIL anyway; bounding it bounds the memory that several
            # large pages parsed at once would take, at no cost in time.
            with self._parsing:
                listings = _page_listings(body, content_type, final_url, keep, name)
            yield from listings
        for item in self.find_links_listings():
            if item.filename.endswith(".whl"):
                if keep is None or keep(item.filename):
                    yield item
            else:
                yield _for_project(item, name)

    def version_files(self, name: str, version: Version) -> tuple[DistFile, ...]:
        """Every file of one release, usable by the target or not (hashes cover them all)."""
        canonical = canonicalize_name(name)
        self.listings(canonical)
        with self._lock:
            pages = list(self._pages.get(canonical, []))

        def every() -> Iterator[Listing]:
            for body, content_type, url in pages:
                yield from _page_listings(zlib.decompress(body), content_type, url, None, canonical)
            for item in self.find_links_listings():
                yield item if item.filename.endswith(".whl") else _for_project(item, canonical)

        items = self._accepted(canonical, every())
        return tuple(_materialize(i for i in items if i.version == version))

    def find_links_listings(self) -> tuple[Listing, ...]:
        with self._lock:
            if self._find_links is not None:
                return self._find_links
        listings: list[Listing] = []
        for location in self.sources.find_links:
            listings.extend(self._read_find_links(location))
        with self._lock:
            self._find_links = tuple(listings)
        return self._find_links

    def _read_find_links(self, location: str) -> list[Listing]:
        if "://" not in location or location.startswith("file:"):
            self.fetcher.refuse_replay(f"find-links {location} is local")
            path = local_path(location) if location.startswith("file:") else Path(location)
            if path.is_dir():
                versions: dict[str, Any] = {}
                result = []
                for entry in sorted(path.iterdir()):
                    make = functools.partial(make_dist_file, entry.name, file_url(entry))
                    item = _listing(entry.name, None, make, versions)
                    if item is not None:
                        result.append(item)
                return result
            if path.is_file():
                return html_listings(path.read_bytes(), file_url(path))
            raise FetchError(f"find-links location does not exist: {location}")
        page = self.fetcher.get_page(location)
        if page is None:
            raise FetchError(f"{redact(location)}: find-links page not found")
        return html_listings(page[0], page[2])

    def metadata(self, dist: DistFile) -> bytes | None:
        """The PEP 658 metadata file of a wheel, verified; None when the index has none."""
        if not dist.has_metadata:
            return None
        with self._lock:
            future = self._metadata.get(dist.url)
            if future is None:
                future = self._pool.submit(self._fetch_metadata, dist)
                self._metadata[dist.url] = future
        return future.result()

    def prefetch_metadata(self, dist: DistFile) -> None:
        if dist.has_metadata:
            with self._lock:
                if dist.url not in self._metadata:
                    self._metadata[dist.url] = self._pool.submit(self._fetch_metadata, dist)

    def _fetch_metadata(self, dist: DistFile) -> bytes:
        if not dist.metadata_sha256:
            self.fetcher.refuse_replay(f"{redact(dist.url)}.metadata has no sha256")
        if dist.metadata_sha256:
            cached = self.cache.get_blob("metadata", dist.metadata_sha256)
            if cached is not None:
                return cached
        data = self.fetcher.get_bytes(dist.url + ".metadata", limit=limits.max_page_bytes())
        if dist.metadata_sha256:
            if sha256_hex(data) != dist.metadata_sha256:
                raise FetchError(
                    f"{redact(dist.url)}.metadata: sha256 does not match the index "
                    f"(expected {dist.metadata_sha256}, got {sha256_hex(data)})"
                )
            self.cache.put_blob("metadata", dist.metadata_sha256, data)
        return data

    def _cached_file(self, dist: DistFile) -> bytes | None:
        """The file from the cache, by its sha256; a file without one makes the run
        unrepeatable (its bytes could change under the same URL)."""
        if not dist.sha256:
            self.fetcher.refuse_replay(f"{redact(dist.url)} has no sha256")
            return None
        return self.cache.get_blob("files", dist.sha256)

    def download(self, dist: DistFile, *, keep: bool = True) -> bytes:
        """The file's bytes, checked against the index's sha256 (a mismatch is fatal);
        ``keep=False`` leaves the file out of the cache (the caller keeps what it needs)."""
        cached = self._cached_file(dist)
        if cached is not None:
            return cached
        data = self._checked(dist, self.fetcher.get_bytes(dist.url))
        if dist.sha256 and keep:
            self.cache.put_blob("files", dist.sha256, data)
        return data

    def open_remote(self, dist: DistFile) -> RemoteFile | bytes:
        """A remote file to read parts of (its METADATA) through range requests, as pip's
        fast-deps and uv do; those parts cannot be checked against the file's sha256,
        only against the archive's own CRC-32. When the server answers with the whole
        file (it ignores ranges, or the file is small), the bytes, checked."""
        cached = self._cached_file(dist)
        if cached is not None:
            return cached
        tail, total = self.fetcher.get_range(dist.url, None, 4 * RemoteFile.MIN_FETCH)
        if total is None or len(tail) >= total:
            return self._checked(dist, tail)
        return RemoteFile(self.fetcher, dist.url, total, tail)

    def _checked(self, dist: DistFile, data: bytes) -> bytes:
        digest = hashlib.sha256(data).hexdigest()
        if dist.sha256 and digest != dist.sha256:
            raise FetchError(
                f"{redact(dist.url)}: sha256 does not match the index "
                f"(expected {dist.sha256}, got {digest})"
            )
        return data

    def file_hash(self, dist: DistFile) -> str:
        """The sha256 of a file, from the index or (when it names none) by downloading it."""
        return dist.sha256 or sha256_hex(self.download(dist))
