"""The index client: releases of a project from every index and find-links location,
their metadata and files, over the fetcher, the cache and a pool of workers."""

from __future__ import annotations

import functools
import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import (
    NormalizedName,
    canonicalize_name,
)
from packaging.version import InvalidVersion, Version

from lockbuild import limits
from lockbuild.errors import FetchError, LockbuildError
from lockbuild.index.cache import Cache, sha256_hex
from lockbuild.model import DistFile

if TYPE_CHECKING:
    pass
from lockbuild.credentials import redact
from lockbuild.index.fetcher import Fetcher, RemoteFile, Sources, file_url, local_path
from lockbuild.index.listcache import ListingCache
from lockbuild.index.listing import (
    KeepWheel,
    Listing,
    _for_project,
    _listing,
    _parse_time,
    make_dist_file,
)
from lockbuild.index.page import (
    JsonRecord,
    _check_api_version,
    _compact_struct,
    _CountingKeep,
    _json_compact_entry,
    _materialize,
    _page_listings,
    html_listings,
    is_json_type,
)
from lockbuild.pool import DaemonPool
from lockbuild.process import settled
from lockbuild.target import WheelNameFilter


class _ReleaseWheels:
    """A wheel filter for one release: a wheel of another version is dropped by its file
    name's version field (each distinct field parsed once), then ``keep`` decides."""

    def __init__(self, version: Version, keep: KeepWheel | None) -> None:
        self.version = version
        self.keep = keep
        self._same: dict[str, bool] = {}

    def __call__(self, filename: str) -> bool:
        parts = filename.split("-", 2)
        if len(parts) < 3:
            return True  # malformed: the full parse rejects it
        same = self._same.get(parts[1])
        if same is None:
            try:
                same = Version(parts[1]) == self.version
            except InvalidVersion:
                same = True  # the full parse decides
            self._same[parts[1]] = same
        return same and (self.keep is None or self.keep(filename))


def _named_json_listings(
    body: bytes, page_url: str, project: str, needle: str, keep: KeepWheel
) -> list[Listing] | None:
    """json_listings of only the files whose name contains ``needle`` (None: the page is
    not in PEP 691's shape, for json_listings to read or refuse)."""
    from lockbuild.index import pagejson  # start-up speed, as in page.json_listings

    _check_api_version(body, page_url)
    entries = pagejson.files_named(body, needle)
    if entries is None:
        return None
    versions: dict[str, Any] = {}
    listings: list[Listing] = []
    for entry in entries:
        filename = entry.filename
        if filename is None:
            continue
        if filename.endswith(".whl") and not keep(filename):
            continue
        item = _listing(filename, entry.upload_time, None, versions, None, project)
        if item is not None:
            item.make = functools.partial(
                _json_compact_entry, _compact_struct(entry), page_url, project=project
            )
            listings.append(item)
    return listings


def _made(dist: DistFile | None) -> DistFile | None:
    """A file already parsed (what a picked listing's ``make`` returns)."""
    return dist


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
        # Files of local sources (a find-links directory or file, a file:// index): a
        # cut-off admits them without an upload time, as pip and uv do. Remote files
        # without one are left out (pip and uv too), counted per project.
        self._local_files: set[str] = set()
        self._undated: dict[str, set[str]] = {}
        self._pool = DaemonPool(workers)
        self._lock = threading.Lock()
        # Releases a check will ask release_files for (expect_releases), and their files
        # as picked out of a page by the worker that fetched it: (page URL, the page's
        # sha256, needle, usable only) -> what _named_json_listings returned.
        self._expected: dict[NormalizedName, list[tuple[Version, bool]]] = {}
        self._picked: dict[tuple[str, str, str, bool], list[Listing] | None] = {}
        self._files: dict[str, Future[tuple[Listing, ...]]] = {}
        self._metadata: dict[str, Future[bytes]] = {}
        self._find_links: tuple[Listing, ...] | None = None
        # Pages served again byte for byte are not parsed again (listcache.py); only with
        # a wheel filter whose decisions can be named.
        self._listed: ListingCache | None = None
        if cache.enabled and (keep_wheel is None or isinstance(keep_wheel, WheelNameFilter)):
            identity = keep_wheel.identity if keep_wheel is not None else "every file"
            self._listed = ListingCache(cache, identity)

    def distrust_listings(self) -> None:
        """Parse every page from now on: the cache was found to hold something no run
        wrote (a record that its own pages contradict), so its listings are not read."""
        self._listed = None

    def close(self) -> None:
        self._pool.shutdown()
        self.fetcher.close()

    def fetch_pages(self, urls: Iterable[str]) -> dict[str, tuple[bytes, str, str] | None]:
        """Fetch (or revalidate) the pages at ``urls`` in parallel; a page that cannot be
        fetched is left out (whoever needs it later fetches it again and reports why)."""
        futures = {url: self._pool.submit(self._fetch_page, url) for url in urls}
        pages: dict[str, tuple[bytes, str, str] | None] = {}
        for url, future in futures.items():
            try:
                pages[url] = settled(future)
            except FetchError:
                continue
        return pages

    def _fetch_page(self, url: str) -> tuple[bytes, str, str] | None:
        page, digest = self.fetcher.get_page_and_digest(url)
        if page is not None and digest is not None and self._expected:
            self._pick_expected(url, page, digest)
        return page

    def expect_releases(self, releases: Iterable[tuple[str, Version, bool]]) -> None:
        """Releases (name, version, usable) that ``release_files`` will be asked for once
        the pages that ``fetch_pages`` is given are in: each page's worker picks their
        files out as soon as the page arrives, while the other pages are still coming,
        so the check that follows the fetch finds them done. A page that arrives before
        its releases are expected is read by the check itself, as without this."""
        with self._lock:
            for name, version, usable in releases:
                wanted = self._expected.setdefault(canonicalize_name(name), [])
                if (version, usable) not in wanted:
                    wanted.append((version, usable))

    def _pick_expected(self, url: str, page: tuple[bytes, str, str], digest: str) -> None:
        body, content_type, final_url = page
        if not is_json_type(content_type):
            return
        for name in self.projects_of([url]):
            with self._lock:
                wanted = list(self._expected.get(name, ()))
            for version, usable in wanted:
                needle = f"-{version}"
                check = _ReleaseWheels(version, self.keep_wheel if usable else None)
                try:
                    with self._parsing:
                        found = _named_json_listings(body, final_url, name, needle, check)
                except LockbuildError:
                    continue  # the check reads the page again and says what is wrong
                # The files the check will read (its URL, hashes) are parsed here, while
                # other pages are still coming, not after the last: for a pin without
                # hashes the first of its release is enough, for one with hashes all.
                for item in found or ():
                    if item.version == version:
                        try:
                            made = item.dist()
                        except Exception:  # noqa: BLE001 - the check meets it where it did
                            break
                        item.make = functools.partial(_made, made)
                        if usable:
                            break
                with self._lock:
                    self._picked[(url, digest, needle, check.keep is not None)] = found

    def _picked_listings(
        self, page_url: str, digest: str | None, needle: str, check: KeepWheel
    ) -> tuple[bool, list[Listing] | None]:
        """What a fetching worker picked out of the page at ``page_url`` whose body has
        the sha256 ``digest`` for ``needle`` and ``check`` (False first: nothing)."""
        if digest is None or not isinstance(check, _ReleaseWheels):
            return False, None
        key = (page_url, digest, needle, check.keep is not None)
        with self._lock:
            if key not in self._picked:
                return False, None
            return True, self._picked[key]

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching the pages of ``names`` in the background."""
        for name in names:
            self._files_future(canonicalize_name(name))

    def projects_of(self, page_urls: Iterable[str]) -> list[NormalizedName]:
        """The projects whose pages on this client's indexes are ``page_urls``."""
        names: dict[NormalizedName, None] = {}
        for url in page_urls:
            for index in self.sources.index_urls:
                if url.startswith(index) and url.endswith("/"):
                    name = url[len(index) : -1]
                    if name and "/" not in name and canonicalize_name(name) == name:
                        names[canonicalize_name(name)] = None
        return list(names)

    def when_listed(self, name: str, then: Callable[[], object]) -> None:
        """Call ``then`` (in a worker) once the page of ``name`` is read, whether that
        succeeded or not; the page starts being fetched now if it has not yet."""
        self._files_future(canonicalize_name(name)).add_done_callback(lambda _: then())

    def listings(self, name: str) -> tuple[Listing, ...]:
        """Every file of project ``name`` from all sources, parsed lazily (empty if none)."""
        return self._pool.wait(self._files_future(canonicalize_name(name)))

    def files(self, name: str) -> tuple[DistFile, ...]:
        """Every usable file of project ``name``, fully parsed."""
        return tuple(_materialize(self.listings(name)))

    def release_files(
        self, name: str, version: Version, *, usable: bool = True
    ) -> Iterator[DistFile]:
        """The files of one release (only those the target can use when ``usable``), read
        from the pages themselves, never from the listing cache: what checks a recorded
        result (replay.py), which stops once it has seen enough. Files named with the
        version as written come first, found by one substring test per file of a JSON
        page; only when the caller asks for more are the pages read again for every file
        of the release (a version written another way, such as ``1.0.0`` for ``1.0``)."""
        canonical = canonicalize_name(name)
        # Not a _CountingKeep: that decides once per tag triple, this by version too.
        check = _ReleaseWheels(version, self.keep_wheel if usable else None)
        narrowed: list[bool] = []
        seen: set[str] = set()
        for needle in (f"-{version}", None):
            if needle is None and not narrowed:
                return  # the first pass read every file already
            listed = self._iter_project(canonical, check=check, needle=needle, narrowed=narrowed)
            for item in self._accepted(canonical, listed):
                if item.version == version and item.filename not in seen:
                    seen.add(item.filename)
                    dist = item.dist()
                    if dist is not None:
                        yield dist

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

    def undated(self) -> dict[str, int]:
        """Per project, how many remote files a cut-off left out for having no upload
        time (the index gives none)."""
        with self._lock:
            return {name: len(files) for name, files in sorted(self._undated.items())}

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
                    if item.filename not in self._local_files:
                        with self._lock:
                            self._undated.setdefault(name, set()).add(item.filename)
                        continue
                elif uploaded >= self.exclude_newer:  # uv's comparison: the cut-off is out
                    with self._lock:
                        if self.first_excluded is None or uploaded < self.first_excluded:
                            self.first_excluded = uploaded
                    continue
            found.setdefault(item.filename, item)
        return tuple(found.values())

    def _iter_project(
        self,
        name: NormalizedName,
        keep: _CountingKeep | None = None,
        *,
        check: KeepWheel | None = None,
        needle: str | None = None,
        narrowed: list[bool] | None = None,
    ) -> Iterator[Listing]:
        """The listings of every source for ``name``. With ``check`` (a wheel filter of
        its own, used instead of ``keep``) the pages are read for a check: nothing is kept
        from or for the run; with ``needle`` too, only the files of a JSON page whose name
        contains it are listed (and ``narrowed`` is appended to when a page was)."""
        reading = check is None
        if check is not None:
            keep = None
        for index in self.sources.index_urls:
            page_url = f"{index}{name}/"
            page, digest = self.fetcher.get_page_and_digest(page_url)
            if page is None:
                continue
            body, content_type, final_url = page
            if self.all_files and reading:
                with self._lock:
                    self._pages.setdefault(name, []).append(
                        (zlib.compress(body, 1), content_type, final_url)
                    )
            if reading:
                listed = self._page_listings(page_url, body, content_type, final_url, keep, name)
            else:
                with self._parsing:
                    found = None
                    if needle is not None and check is not None and is_json_type(content_type):
                        picked, found = self._picked_listings(page_url, digest, needle, check)
                        if not picked:
                            found = _named_json_listings(body, final_url, name, needle, check)
                    if found is not None and narrowed is not None:
                        narrowed.append(True)
                    listed = (
                        found
                        if found is not None
                        else _page_listings(body, content_type, final_url, check, name)
                    )
            if index.startswith("file:"):
                with self._lock:
                    self._local_files.update(item.filename for item in listed)
            yield from listed
            if self.sources.first_index:
                break  # uv's first-index: the first index with a page for the project
        wheels = keep if reading else check
        for item in self.find_links_listings():
            if item.filename.endswith(".whl"):
                if wheels is None or wheels(item.filename):
                    yield item
            else:
                yield _for_project(item, name)

    def _page_listings(
        self,
        page_url: str,
        body: bytes,
        content_type: str,
        final_url: str,
        keep: _CountingKeep | None,
        name: NormalizedName,
    ) -> list[Listing]:
        """The page's listings: parsed, or as a run served the same JSON page kept them."""
        key = None
        digest = self.fetcher.page_digest(page_url)
        if self._listed is not None and digest is not None and is_json_type(content_type):
            key = self._listed.key(digest, content_type, final_url, name)
            found = self._listed.get(key, final_url, name)
            if found is not None:
                listings, dropped = found
                if keep is not None:
                    keep.dropped += dropped
                return listings
        dropped_before = keep.dropped if keep is not None else 0
        # What the listing cache keeps, made while the page is parsed.
        records: list[JsonRecord] | None = [] if key is not None else None
        # Parsing holds the GIL anyway; bounding it bounds the memory that several
        # large pages parsed at once would take, at no cost in time.
        with self._parsing:
            listings = _page_listings(body, content_type, final_url, keep, name, records)
        if key is not None and records is not None and self._listed is not None:
            dropped = keep.dropped - dropped_before if keep is not None else 0
            self._listed.put_records(key, records, dropped)
        return listings

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
            elif path.is_file():
                result = html_listings(path.read_bytes(), file_url(path))
            else:
                raise FetchError(f"find-links location does not exist: {location}")
            with self._lock:
                self._local_files.update(item.filename for item in result)
            return result
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
        return self._pool.wait(future)

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
