"""Index client: Simple Repository API pages (PEP 503 HTML, PEP 691 JSON), find-links
directories, PEP 658/714 metadata files and verified downloads."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import pathname2url, url2pathname

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from .cache import Cache, CachedPage, sha256_hex
from .errors import FetchError
from .spec import IndexOptions

if TYPE_CHECKING:
    import httpx

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
MAX_PAGE_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024
RETRIES = 4


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


def pip_config_options() -> IndexOptions:
    """Index options from pip's configuration files and PIP_* variables, as pip reads them."""
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.exceptions import ConfigurationError
    except ImportError:  # pragma: no cover
        return IndexOptions()
    config = Configuration(isolated=False)
    try:
        config.load()
    except ConfigurationError as exc:
        raise FetchError(f"pip configuration: {exc}") from None
    values: dict[str, str] = {}
    for key, value in config.items():
        section, _, option = key.partition(".")
        if section in ("global", "install", "download", ":env:"):
            values[option] = value
    opts = IndexOptions(
        index_url=values.get("index-url") or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        no_index=values.get("no-index", "").lower() in ("1", "true", "yes", "on"),
    )
    return opts


@dataclass(frozen=True)
class DistFile:
    """One distribution file listed by an index or a find-links location."""

    filename: str
    url: str
    name: NormalizedName
    version: Version
    is_wheel: bool
    tags: frozenset[Tag]
    sha256: str | None
    requires_python: SpecifierSet | None = None
    yanked: str | None = None  # the reason ("" when none was given), None if not yanked
    metadata_sha256: str | None = None
    has_metadata: bool = False
    upload_time: datetime | None = None
    build_tag: tuple[int | str, ...] = ()

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


def parse_filename(filename: str) -> tuple[NormalizedName, Version, bool, frozenset[Tag], Any]:
    """Name, version, is-wheel, tags and build tag of a distribution file name.

    Raises ValueError for names that are not wheels or sdists.
    """
    if filename.endswith(".whl"):
        try:
            name, version, build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise ValueError(str(exc)) from None
        return name, version, True, tags, tuple(build)
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except InvalidSdistFilename as exc:
            raise ValueError(str(exc)) from None
        return name, version, False, frozenset(), ()
    raise ValueError(f"not a wheel or sdist: {filename}")


def _hash_fragment(url: str) -> tuple[str, str | None]:
    """The URL without fragment, and the sha256 named in its fragment if any."""
    base, _, fragment = url.partition("#")
    match = re.search(r"sha256=([0-9a-fA-F]{64})", fragment)
    return base, match.group(1).lower() if match else None


def _metadata_attr(value: Any) -> tuple[bool, str | None]:
    """Parse a PEP 658/714 metadata attribute (HTML string or JSON value)."""
    if value is None or value is False:
        return False, None
    if value is True:
        return True, None
    if isinstance(value, dict):
        digest = value.get("sha256")
        return True, digest.lower() if isinstance(digest, str) else None
    text = str(value).strip()
    if text.lower() == "true" or text == "":
        return True, None
    match = re.match(r"sha256=([0-9a-fA-F]{64})$", text)
    return True, match.group(1).lower() if match else None


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
) -> DistFile | None:
    """A DistFile from the fields an index offers, or None for a file that is not a dist."""
    try:
        name, version, is_wheel, tags, build = parse_filename(filename)
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


def _followable(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https", "file")


def parse_html_page(body: bytes, page_url: str) -> list[DistFile]:
    """Distribution files on a PEP 503 HTML page (or a find-links HTML page)."""
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files: list[DistFile] = []
    for attrs, _text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        absolute, sha = _hash_fragment(urljoin(base, href))
        if not _followable(absolute):
            continue
        filename = unquote(urlsplit(absolute).path.rsplit("/", 1)[-1])
        metadata: str | bool | None = None
        for attr in ("data-core-metadata", "data-dist-info-metadata"):
            if attr in attrs:
                metadata = attrs[attr] if attrs[attr] is not None else True
                break
        dist = make_dist_file(
            filename,
            absolute,
            sha256=sha,
            requires_python=attrs.get("data-requires-python"),
            yanked=(attrs["data-yanked"] or True) if "data-yanked" in attrs else None,
            metadata=metadata,
        )
        if dist:
            files.append(dist)
    return files


def parse_json_page(body: bytes, page_url: str) -> list[DistFile]:
    """Distribution files on a PEP 691 JSON page."""
    try:
        data = json.loads(body)
        entries = data["files"]
        if not isinstance(entries, list):
            raise TypeError("files is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"{redact(page_url)}: invalid PEP 691 JSON page: {exc}") from None
    files: list[DistFile] = []
    for entry in entries:
        if not isinstance(entry, dict) or "filename" not in entry or "url" not in entry:
            continue
        absolute, frag_sha = _hash_fragment(urljoin(page_url, str(entry["url"])))
        if not _followable(absolute):
            continue
        hashes = entry.get("hashes") or {}
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
        dist = make_dist_file(
            str(entry["filename"]),
            absolute,
            sha256=(sha or frag_sha or "").lower() or None,
            requires_python=entry.get("requires-python"),
            yanked=entry.get("yanked"),
            metadata=metadata,
            upload_time=entry.get("upload-time"),
        )
        if dist:
            files.append(dist)
    return files


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


def _local_path(url: str) -> Path:
    return Path(url2pathname(unquote(urlsplit(url).path)))


def file_url(path: Path) -> str:
    return "file://" + pathname2url(str(path.resolve()))


class Fetcher:
    """Bytes from http(s) and file URLs, with bounded retries and page revalidation."""

    def __init__(self, cache: Cache, *, offline: bool = False, timeout: float = 30.0) -> None:
        self.cache = cache
        self.offline = offline
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self.request_count = 0

    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                verify: Any = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT") or True
                self._client = httpx.Client(
                    timeout=self.timeout,
                    follow_redirects=True,
                    verify=verify,
                    trust_env=True,
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                    headers={"User-Agent": "lockbuild"},
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get_page(self, url: str) -> tuple[bytes, str, str] | None:
        """Body, content type and final URL of an index page; None when it does not exist."""
        if url.startswith("file:"):
            path = _local_path(url)
            if path.is_dir():
                path = path / "index.html"
            try:
                if path.stat().st_size > MAX_PAGE_BYTES:
                    raise FetchError(f"{redact(url)}: page larger than {MAX_PAGE_BYTES} bytes")
                return path.read_bytes(), "text/html", url
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        cached = self.cache.get_page(url)
        if self.offline:
            if cached is None:
                raise FetchError(f"{redact(url)}: not in the cache (--offline)")
            return cached.body, cached.content_type, url
        headers = {"Accept": ACCEPT}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified
        response = self._request(url, headers, MAX_PAGE_BYTES)
        if response is None:
            return None
        status, body, resp_headers, final_url = response
        if status == 304 and cached is not None:
            return cached.body, cached.content_type, url
        content_type = resp_headers.get("content-type", "text/html").split(";")[0].strip()
        self.cache.put_page(
            CachedPage(
                url=url,
                body=body,
                content_type=content_type,
                etag=resp_headers.get("etag"),
                last_modified=resp_headers.get("last-modified"),
            )
        )
        return body, content_type, final_url

    def get_bytes(self, url: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The body at ``url``; a missing file is an error."""
        if url.startswith("file:"):
            try:
                return _local_path(url).read_bytes()
            except OSError as exc:
                raise FetchError(f"{redact(url)}: {exc.strerror or exc}") from None
        if self.offline:
            raise FetchError(f"{redact(url)}: not in the cache (--offline)")
        response = self._request(url, {}, limit)
        if response is None:
            raise FetchError(f"{redact(url)}: not found (404)")
        return response[1]

    def _request(
        self, url: str, headers: dict[str, str], limit: int
    ) -> tuple[int, bytes, Any, str] | None:
        import httpx

        delay = 0.25
        last_error = ""
        for attempt in range(RETRIES):
            if attempt:
                time.sleep(delay)
                delay *= 2
            with self._lock:
                self.request_count += 1
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
                    if response.status_code not in (200, 203, 304):
                        raise FetchError(f"{redact(url)}: HTTP {response.status_code}")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > limit:
                            raise FetchError(f"{redact(url)}: response larger than {limit} bytes")
                    return response.status_code, bytes(body), response.headers, str(response.url)
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
                continue
        raise FetchError(f"{redact(url)}: failed after {RETRIES} attempts ({last_error})")


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
    ) -> None:
        self.sources = sources
        self.cache = cache
        self.fetcher = Fetcher(cache, offline=offline)
        self.exclude_newer = exclude_newer
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers))
        self._lock = threading.Lock()
        self._files: dict[str, Future[tuple[DistFile, ...]]] = {}
        self._metadata: dict[str, Future[bytes]] = {}
        self._find_links: tuple[DistFile, ...] | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching the pages of ``names`` in the background."""
        for name in names:
            self._files_future(canonicalize_name(name))

    def files(self, name: str) -> tuple[DistFile, ...]:
        """Every usable file of project ``name``, from all sources (empty if none)."""
        return self._files_future(canonicalize_name(name)).result()

    def _files_future(self, name: NormalizedName) -> Future[tuple[DistFile, ...]]:
        with self._lock:
            future = self._files.get(name)
            if future is None:
                future = self._pool.submit(self._collect, name)
                self._files[name] = future
            return future

    def _collect(self, name: NormalizedName) -> tuple[DistFile, ...]:
        found: dict[str, DistFile] = {}
        for dist in self._iter_project(name):
            if dist.name != name:
                continue
            if self.exclude_newer is not None:
                if dist.upload_time is None:
                    raise FetchError(
                        f"{redact(dist.url)}: the index gives no upload time, "
                        "which --exclude-newer needs"
                    )
                if dist.upload_time > self.exclude_newer:
                    continue
            found.setdefault(dist.filename, dist)
        return tuple(found.values())

    def _iter_project(self, name: NormalizedName) -> Iterator[DistFile]:
        for index in self.sources.index_urls:
            page_url = f"{index}{name}/"
            page = self.fetcher.get_page(page_url)
            if page is None:
                continue
            body, content_type, final_url = page
            if content_type == JSON_TYPE:
                yield from parse_json_page(body, final_url)
            else:
                yield from parse_html_page(body, final_url)
        yield from self.find_links_files()

    def find_links_files(self) -> tuple[DistFile, ...]:
        with self._lock:
            if self._find_links is not None:
                return self._find_links
        files: list[DistFile] = []
        for location in self.sources.find_links:
            files.extend(self._read_find_links(location))
        with self._lock:
            self._find_links = tuple(files)
        return self._find_links

    def _read_find_links(self, location: str) -> list[DistFile]:
        if "://" not in location or location.startswith("file:"):
            path = _local_path(location) if location.startswith("file:") else Path(location)
            if path.is_dir():
                result = []
                for entry in sorted(path.iterdir()):
                    dist = make_dist_file(entry.name, file_url(entry))
                    if dist:
                        result.append(dist)
                return result
            if path.is_file():
                return parse_html_page(path.read_bytes(), file_url(path))
            raise FetchError(f"find-links location does not exist: {location}")
        page = self.fetcher.get_page(location)
        if page is None:
            raise FetchError(f"{redact(location)}: find-links page not found")
        return parse_html_page(page[0], page[2])

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
        if dist.metadata_sha256:
            cached = self.cache.get_blob("metadata", dist.metadata_sha256)
            if cached is not None:
                return cached
        data = self.fetcher.get_bytes(dist.url + ".metadata", limit=MAX_PAGE_BYTES)
        if dist.metadata_sha256:
            if sha256_hex(data) != dist.metadata_sha256:
                raise FetchError(
                    f"{redact(dist.url)}.metadata: sha256 does not match the index "
                    f"(expected {dist.metadata_sha256}, got {sha256_hex(data)})"
                )
            self.cache.put_blob("metadata", dist.metadata_sha256, data)
        return data

    def download(self, dist: DistFile) -> bytes:
        """The file's bytes, checked against the index's sha256 (a mismatch is fatal)."""
        if dist.sha256:
            cached = self.cache.get_blob("files", dist.sha256)
            if cached is not None:
                return cached
        data = self.fetcher.get_bytes(dist.url)
        digest = hashlib.sha256(data).hexdigest()
        if dist.sha256 and digest != dist.sha256:
            raise FetchError(
                f"{redact(dist.url)}: sha256 does not match the index "
                f"(expected {dist.sha256}, got {digest})"
            )
        if dist.sha256:
            self.cache.put_blob("files", dist.sha256, data)
        return data

    def file_hash(self, dist: DistFile) -> str:
        """The sha256 of a file, from the index or (when it names none) by downloading it."""
        return dist.sha256 or sha256_hex(self.download(dist))
