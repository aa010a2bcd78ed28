"""Distribution files as index pages list them: file names, hashes, PEP 658/700 fields,
and the lazily parsed ``Listing`` that becomes a ``DistFile`` when looked at."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockbuild import lenient
from lockbuild.dists.filename import parse_sdist, sdist_stem, split_sdist
from lockbuild.model import DistFile

if TYPE_CHECKING:
    pass


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


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
    # A malformed one is read as uv reads it, else ignored as pip ignores it.
    return lenient.requires_python(value)[0]


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


@functools.lru_cache(maxsize=16384)
def parsed_version(text: str) -> Version | Literal[False]:
    """The Version a file name's version field is (False: none), each distinct text
    parsed once in a run: projects share most of theirs ("1.0.0", "0.2.1"...), and the
    pages of a cold lock hold three times as many per-page versions as distinct ones."""
    try:
        return Version(text)
    except InvalidVersion:
        return False


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
        version = versions[version_text] = parsed_version(version_text)
    if version is False:
        return None
    return Listing(filename, _canonical(name), version, version_text, upload_time, make)
